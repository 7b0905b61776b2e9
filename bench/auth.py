"""Benchmark: what checking a credential costs per request (issue 20, finding 2).

Every request reads its credential from the database (one indexed point read,
`CredentialStore.check`), so a revocation is seen at the very next request in
every process. This measures that read against the in-memory lookup it
replaced (hash the key, look it up in a dict), on SQLite and, when
COUPONCHAIN_DATABASE_URL names one, on PostgreSQL:

- one check at a time (`--checks` of them): the latency a request pays;
- `--concurrency` checks at once, as many requests in flight would: checks/s.

No chain is needed: the database is migrated and filled with `--keys` keys.

    .venv/bin/python bench/auth.py [--checks 5000] [--concurrency 64] [--keys 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

from harness import pct
from rich.console import Console
from rich.table import Table
from sqlalchemy import text

from couponchain.services.credentials import CredentialStore, new_credential
from couponchain.store.db import Database, migrate
from couponchain.store.models import Participant

console = Console(file=sys.stdout)


async def _fill(db: Database, keys: int) -> list[str]:
    tokens = []
    async with db.transaction() as s:
        for n in range(keys):
            pid = uuid.uuid4().hex
            s.add(Participant(id=pid, role=1, name=f"p{n}", address=f"0x{n:040x}",
                              encrypted_key=b"-"))
            await s.flush()
            row, token = new_credential(pid, "api_key", "bench")
            s.add(row)
            tokens.append(token)
    return tokens


async def measure(url: str, checks: int, concurrency: int, keys: int) -> dict[str, float]:
    migrate(url)
    db = Database(url)
    try:
        store = CredentialStore(db)
        tokens = await _fill(db, keys)
        for token in tokens:  # warm: connections open, last use written
            await store.check(token)
        await store.stop()
        latencies = []
        for n in range(checks):
            token = tokens[n % len(tokens)]
            start = time.perf_counter()
            await store.check(token)
            latencies.append((time.perf_counter() - start) * 1e6)

        async def worker(offset: int) -> None:
            for n in range(checks // concurrency):
                await store.check(tokens[(offset + n) % len(tokens)])

        start = time.perf_counter()
        await asyncio.gather(*(worker(w) for w in range(concurrency)))
        rate = (checks // concurrency) * concurrency / (time.perf_counter() - start)
        await store.stop()
        trips = []  # the floor: one query through the same pool that does nothing
        for _ in range(min(checks, 2000)):
            start = time.perf_counter()
            async with db.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            trips.append((time.perf_counter() - start) * 1e6)
    finally:
        await db.close()
    return {"p50": pct(latencies, 0.5), "p99": pct(latencies, 0.99), "rate": rate,
            "trip": pct(trips, 0.5)}


def baseline(checks: int, keys: int) -> dict[str, float]:
    """The replaced path: hash the key, find its caller in a dict."""
    cache = {hashlib.sha256(f"cc_{n}_{'x' * 43}".encode()).hexdigest(): n for n in range(keys)}
    tokens = [f"cc_{n}_{'x' * 43}" for n in range(keys)]
    latencies = []
    for n in range(checks):
        start = time.perf_counter()
        cache.get(hashlib.sha256(tokens[n % keys].encode()).hexdigest())
        latencies.append((time.perf_counter() - start) * 1e6)
    return {"p50": pct(latencies, 0.5), "p99": pct(latencies, 0.99),
            "rate": 1e6 / (sum(latencies) / len(latencies))}


async def main(args: argparse.Namespace) -> None:
    table = Table("credential check", "p50 µs", "p99 µs", f"checks/s ({args.concurrency} at once)",
                  "SELECT 1 via the pool, p50 µs")
    old = baseline(args.checks, args.keys)
    figures = {"auth_cache_p50_us": f"{old['p50']:.1f}"}
    table.add_row("in-memory cache (before)", f"{old['p50']:.1f}", f"{old['p99']:.1f}",
                  f"{old['rate']:,.0f} (one at a time)", "")
    with tempfile.TemporaryDirectory() as tmp:
        targets = [("SQLite", f"sqlite+aiosqlite:///{Path(tmp) / 'auth.db'}")]
        if os.environ.get("COUPONCHAIN_DATABASE_URL"):
            targets.append(("PostgreSQL", os.environ["COUPONCHAIN_DATABASE_URL"]))
        for name, url in targets:
            got = await measure(url, args.checks, args.concurrency, args.keys)
            table.add_row(f"database read, {name}", f"{got['p50']:.1f}", f"{got['p99']:.1f}",
                          f"{got['rate']:,.0f}", f"{got['trip']:.0f}")
            tag = name.lower()
            figures.update({f"auth_{tag}_p50_us": f"{got['p50']:.1f}",
                            f"auth_{tag}_p99_us": f"{got['p99']:.1f}",
                            f"auth_{tag}_checks_per_s": f"{got['rate']:.0f}"})
    console.print(table)
    print(" ".join(f"{k}={v}" for k, v in figures.items()), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checks", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--keys", type=int, default=1000)
    asyncio.run(main(parser.parse_args()))
