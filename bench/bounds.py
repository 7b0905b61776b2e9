"""Benchmark: hostile request bodies against a real platform, and what the bounds cost.

One `couponchain up` process (embedded node, throwaway data directory). A load
generator in another process sends `--hostile` bodies without a key (100,000 nested
brackets, a million unclosed ones, objects nested 50,000 deep, a body over the
route's limit, a duplicate key) to `POST /v1/merchants` and `POST /v1/access-logs`
(the oversized one to the first only),
interleaved with real writes (consumer creations by the platform). It reports the
answer time of each kind, and whether the process that served the first request
still served the last. Then, in this process, the parse of a 50,000-record access-log
batch: orjson alone (what the route did before) against `api.bounds.parse_json`
(orjson, the depth and element walk, and the duplicate-key check).

    .venv/bin/python bench/bounds.py [--hostile 300] [--writes 100]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import httpx
import orjson
from harness import Platform, load_from_another_process, pct
from rich.console import Console
from rich.table import Table

console = Console(file=sys.stdout)
ADMIN = "bounds-bench-admin-key"
BODIES = {
    "100,000 nested [": b"[" * 100_000 + b"]" * 100_000,
    "1,000,000 unclosed [": b"[" * 1_000_000,
    "objects 50,000 deep": b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    "300 KiB string": b'{"name": "' + b"x" * 300 * 1024 + b'"}',
    "duplicate key": b'{"name": "a", "name": "b"}',
}


async def _load(url: str, hostile: int, writes: int) -> dict[str, list[float]]:
    """Hostile bodies and real writes interleaved; seconds per answer by kind."""
    times: dict[str, list[float]] = defaultdict(list)
    kinds = list(BODIES)
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        for i in range(max(hostile, writes)):
            if i < hostile:
                kind = kinds[i % len(kinds)]
                # A 300 KiB body is within the access-log route's own limit (32 MiB).
                route = "/v1/access-logs" if i % 2 and "KiB" not in kind else "/v1/merchants"
                started = time.perf_counter()
                answer = await client.post(route, content=BODIES[kind],
                                           headers={"content-type": "application/json"})
                times[kind].append(time.perf_counter() - started)
                if answer.status_code not in (413, 422):
                    times["unexpected " + str(answer.status_code)].append(0.0)
            if i < writes:
                started = time.perf_counter()
                answer = await client.post("/v1/consumers", json={"name": f"c{i}"},
                                           headers={"authorization": f"Bearer {ADMIN}"})
                times["real write (consumer)"].append(time.perf_counter() - started)
                if answer.status_code != 201:
                    times["unexpected " + str(answer.status_code)].append(0.0)
    return dict(times)


def _parse_cost() -> tuple[float, float]:
    from couponchain.api.bounds import MAX_BYTES, parse_json

    records = [{"ip": f"10.0.{i % 256}.{i % 200}", "account": f"acct-{i}",
                "time": 1_700_000_000 + i, "merchant": 123_456_789, "method": "app",
                "operation": "view"} for i in range(50_000)]
    body = orjson.dumps({"records": records})
    assert len(body) < MAX_BYTES
    plain, bounded = [], []
    for _ in range(7):
        started = time.perf_counter()
        orjson.loads(body)
        plain.append(time.perf_counter() - started)
        started = time.perf_counter()
        parse_json(body, 500_000)
        bounded.append(time.perf_counter() - started)
    return statistics.median(plain), statistics.median(bounded)


async def main(hostile: int, writes: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        data.mkdir()
        platform = Platform(data, ADMIN)
        with console.status("starting the platform"):
            await platform.start()
        try:
            assert platform.proc is not None
            pid = platform.proc.pid
            with console.status(f"{hostile} hostile bodies and {writes} writes"):
                times, _rss = await load_from_another_process(platform, _load, platform.url,
                                                              hostile, writes)
            health = httpx.get(f"{platform.url}/v1/health", timeout=30).json()
            alive = platform.proc.poll() is None and platform.proc.pid == pid
        finally:
            platform.stop()
    table = Table("request", "sent", "p50 ms", "p99 ms")
    for kind, seconds in times.items():
        table.add_row(kind, str(len(seconds)), f"{pct(seconds, 0.5) * 1000:.1f}",
                      f"{pct(seconds, 0.99) * 1000:.1f}")
    console.print(table)
    console.print(f"same process served every request: {alive}; "
                  f"platform restarts in /v1/health: {health.get('platform_restarts', 0)}")
    plain, bounded = _parse_cost()
    console.print(f"50,000-record access-log batch: orjson alone {plain * 1000:.0f} ms, "
                  f"bounded parse {bounded * 1000:.0f} ms (+{(bounded - plain) * 1000:.0f} ms)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hostile", type=int, default=300)
    parser.add_argument("--writes", type=int, default=100)
    options = parser.parse_args()
    asyncio.run(main(options.hostile, options.writes))
