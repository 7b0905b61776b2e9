"""Benchmark: access-log ingest rate and the time to compute the indicator set.

One embedded default node and SQLite (or COUPONCHAIN_DATABASE_URL) in a temp
dir, one run. A record counts as ingested once its batch is validated,
pseudonymised, stored, Merkle-hashed and anchored on chain (the service call
returns only then). The indicator figure is the full catalogue over every
stored record of one merchant (SQL aggregation), next to the domain's
pure-Python reference over the same records.

    .venv/bin/python bench/marketing.py [--batches 4] [--size 50000] [--concurrency 2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from couponchain.config import Settings
from couponchain.domain import access_logs as logs
from couponchain.domain import indicators as ind
from couponchain.domain.roles import Role
from couponchain.runtime import Runtime
from couponchain.services import marketing_views as views

console = Console()
OPERATIONS = ["view"] * 6 + ["search", "click", "share", "claim", "redeem", "purchase"]
METHODS = ["browser", "desktop", "app"]


def _batch(number: int, size: int, start: int, rng: random.Random) -> list[dict[str, object]]:
    return [{"ip": f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}",
             "account": f"u{rng.randrange(50_000)}" if rng.random() < 0.3 else "",
             "time": start + rng.randrange(7 * 86_400), "merchant": number,
             "method": rng.choice(METHODS), "operation": rng.choice(OPERATIONS)}
            for _ in range(size)]


async def run(batches: int, size: int, concurrency: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), database_url=os.environ.get(
            "COUPONCHAIN_DATABASE_URL"), report_interval=0.0)
        runtime = Runtime(settings)
        await runtime.start()
        try:
            platform = runtime.platform.caller
            merchant = await runtime.participants.create(platform, Role.MERCHANT, "Bench Shop")
            terminal = await runtime.participants.create(platform, Role.TERMINAL, "Bench Till",
                                                         merchant_id=merchant["id"])
            till = await runtime.participants.authenticate(terminal["api_key"])
            number = views.merchant_number(merchant["address"])
            rng = random.Random(7)
            start = 1_700_000_000
            payloads = [_batch(number, size, start, rng) for _ in range(batches)]
            gate = asyncio.Semaphore(concurrency)

            async def ingest(records: list[dict[str, object]]) -> None:
                async with gate:
                    await runtime.marketing.ingest(till, records, None)

            began = time.perf_counter()
            await asyncio.gather(*[ingest(p) for p in payloads])
            ingest_s = time.perf_counter() - began
            total = batches * size

            began = time.perf_counter()
            values = await views.indicators(runtime.db, number, start, start + 7 * 86_400)
            sql_s = time.perf_counter() - began
            parsed = [r for p in payloads for r in logs.parse_batch(p, runtime.marketing.key)]
            began = time.perf_counter()
            reference = ind.compute(parsed, start, start + 7 * 86_400, merchant=number)
            ref_s = time.perf_counter() - began
            assert values == reference, "SQL indicators differ from the domain reference"
        finally:
            await runtime.stop()
    table = Table(title=f"marketing: {total:,} records in {batches} batches of {size:,}")
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_row("ingest (validate, store, anchor)", f"{total / ingest_s:,.0f} records/s")
    table.add_row("indicator set, SQL", f"{sql_s:.2f} s")
    table.add_row("indicator set, Python reference", f"{ref_s:.2f} s")
    console.print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=4)
    parser.add_argument("--size", type=int, default=50_000)
    parser.add_argument("--concurrency", type=int, default=2)
    args = parser.parse_args()
    asyncio.run(run(args.batches, args.size, args.concurrency))


if __name__ == "__main__":
    main()
