"""Supervision: kill -9 the platform process of a running `couponchain up` and time
how long until a write is answered again, restarted by the supervisor alone.

One `couponchain up` (the supervisor and its platform process, with the embedded
node unless COUPONCHAIN_RPC_URL is set) on a throwaway data directory. Each
round: one consumer created (a write through the gateway, answered once it is on
chain and indexed), then `kill -9` of the platform process, then the same write
retried every 50 ms, as a client would, until it is answered 201. The figure is
the time from the kill to that answer; `/v1/health` must then count the
restart, name its cause (SIGKILL), and the killed platform's node must be gone.

    .venv/bin/python bench/supervision.py [--kills 10] [--gap 35]

`--gap` is how long the platform serves between two kills: 30 s or more keeps
every restart immediate; below it, kills in a row are a crash loop and the
supervisor waits 0.5 s, 1 s, 2 s, ... before each restart (see docs/operations.md).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from harness import Platform, pct
from rich.console import Console
from rich.table import Table

console = Console(file=sys.stdout)
ADMIN = "supervision-bench-admin-key"


async def _write(client: httpx.AsyncClient, key: str) -> bool:
    """One consumer creation with an Idempotency-Key: True once answered 201."""
    try:
        reply = await client.post("/v1/consumers", json={"name": key[:12]},
                                  headers={"Idempotency-Key": key})
    except httpx.TransportError:
        return False
    return reply.status_code == 201


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        data.mkdir()
        platform = Platform(data, ADMIN)
        await platform.start()
        outages: list[float] = []
        orphans = 0
        try:
            async with httpx.AsyncClient(base_url=platform.url, timeout=30, headers={
                    "authorization": f"Bearer {ADMIN}"}) as client:
                for kill in range(1, args.kills + 1):
                    await asyncio.sleep(args.gap)
                    assert await _write(client, uuid.uuid4().hex), "the platform is not serving"
                    node = platform.node_pid()
                    os.kill(platform.platform_pid(), signal.SIGKILL)
                    killed = time.perf_counter()
                    key = uuid.uuid4().hex
                    while not await _write(client, key):
                        await asyncio.sleep(0.05)
                    outages.append(time.perf_counter() - killed)
                    health = (await client.get("/v1/health")).json()
                    assert (health["platform_restarts"], health["last_restart_cause"]) == (
                        kill, "SIGKILL"), health
                    if node is not None and Path(f"/proc/{node}").exists():
                        orphans += 1
                    console.print(f"kill {kill}: a write answered again after "
                                  f"{outages[-1]:.2f} s (the platform's own count: "
                                  f"{health['last_outage_seconds']} s to serving)")
        finally:
            platform.stop()
    table = Table(title=f"supervision, {os.cpu_count()} cores, "
                        f"{'external' if os.environ.get('COUPONCHAIN_RPC_URL') else 'embedded'}"
                        " node")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("kill -9 of the platform process", f"{args.kills}")
    table.add_row("kill to a write answered again, median / p90 / max",
                  f"{pct(outages, 0.5):.2f} / {pct(outages, 0.9):.2f} / {max(outages):.2f} s")
    table.add_row("nodes left running by a killed platform", f"{orphans}")
    console.print(table)
    print(f"kills={args.kills} outage_median_s={pct(outages, 0.5):.2f} "
          f"outage_max_s={max(outages):.2f} orphans={orphans}", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--gap", type=float, default=35.0,
                        help="seconds the platform serves between two kills")
    asyncio.run(main(parser.parse_args()))
