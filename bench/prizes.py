"""Benchmark: prize scan→claim latency at 200 concurrent terminals, and claims per second.

One embedded default node in a temp dir, one run. Each terminal loops: the
consumer's phone shows a fresh rotating code (fetched before the clock starts
for that claim), the terminal scans it (`PrizeService.scan`: every condition
checked, the scan stored) and confirms the claim (`PrizeService.claim`: the
prize-claim row, then the chain, then the read model). The latency is from
the scan request to the claim's answer. The codes are signed in-process with
the platform's code key, as the code endpoint does, minus drawing the QR image.

    .venv/bin/python bench/prizes.py [--terminals 200] [--claims-per-terminal 10]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from couponchain.config import Settings
from couponchain.domain import prize_codes
from couponchain.domain.roles import Role
from couponchain.runtime import Runtime
from couponchain.services.participants import Caller
from couponchain.services.prizes import CampaignRequest

console = Console(file=sys.stdout)


async def _participant(runtime: Runtime, creator: Caller, role: Role, name: str) -> Caller:
    created = await runtime.participants.create(creator, role, name)
    return await runtime.participants.authenticate(created["api_key"])


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


async def main(args: argparse.Namespace) -> None:
    claims = args.terminals * args.claims_per_terminal
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), master_secret="benchmark-master-secret",
                            distribute_interval=0)
        runtime = Runtime(settings)
        with console.status("starting the embedded node and deploying"):
            await runtime.start()
        try:
            platform = runtime.platform.caller
            with console.status(f"a merchant, {args.terminals} terminals, {claims:,} awards"):
                merchant = await _participant(runtime, platform, Role.MERCHANT, "Bench Arcade")
                terminals = await asyncio.gather(*[
                    _participant(runtime, merchant, Role.TERMINAL, f"Gate {i}")
                    for i in range(args.terminals)])
                consumers = await asyncio.gather(*[
                    _participant(runtime, platform, Role.CONSUMER, f"Player {i}")
                    for i in range(args.consumers)])
                campaign = await runtime.prizes.create_campaign(merchant, CampaignRequest(
                    title="Bench prizes", prizes=[("Plush toy", claims), ("Keyring", claims)],
                    terminals=[], all_terminals=True, starts=None,
                    ends=int(time.time()) + 86_400, per_consumer_limit=claims), None)
                awarded = await runtime.prizes.award(
                    merchant, campaign["id"],
                    [(consumers[i % len(consumers)].id, i % 2) for i in range(claims)], None)
                award_ids = [a["id"] for a in awarded["awards"]]
            by_address = {c.address: c for c in consumers}
            owner = {a: consumers[i % len(consumers)] for i, a in enumerate(award_ids)}
            assert len(by_address) == len(consumers)
            latencies: list[float] = []
            failures: list[str] = []

            async def terminal_loop(t: int, progress: Progress, task: object) -> None:
                mine = award_ids[t::args.terminals]
                for award_id in mine:
                    # The phone's code: signed as GET /v1/prize-awards/{id}/code does,
                    # without drawing its QR image (the phone shows it, not the till).
                    code = prize_codes.issue_code(award_id, owner[award_id].address,
                                                  int(time.time()), 20,
                                                  runtime.prizes.code_signer.key)
                    t0 = time.perf_counter()
                    try:
                        scan = await runtime.prizes.scan(terminals[t], code)
                        await runtime.prizes.claim(terminals[t], scan["scan_id"])
                    except Exception as exc:  # counted, not hidden
                        failures.append(f"{type(exc).__name__}: {exc}")
                        continue
                    latencies.append(time.perf_counter() - t0)
                    progress.advance(task)  # type: ignore[arg-type]

            with Progress(console=console, transient=True) as progress:
                task = progress.add_task(f"{args.terminals} terminals scanning and claiming",
                                         total=claims)
                started = time.perf_counter()
                await asyncio.gather(*[terminal_loop(t, progress, task)
                                       for t in range(args.terminals)])
                elapsed = time.perf_counter() - started
            stats = await runtime.prizes.stats(merchant, campaign["id"])
        finally:
            await runtime.stop()

    rate = len(latencies) / elapsed
    table = Table(title=f"prize scan→claim, {os.cpu_count()} cores, embedded "
                        f"{settings.node_kind} (load avg {os.getloadavg()[0]:.1f} at the end)")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("concurrent terminals", f"{args.terminals}")
    table.add_row("claims recorded (SQL row, on chain, indexed)", f"{len(latencies):,}")
    table.add_row("failed scans or claims", f"{len(failures)}")
    table.add_row("scan→claim latency p50 / p99",
                  f"{_pct(latencies, 0.5) * 1000:.0f} / {_pct(latencies, 0.99) * 1000:.0f} ms")
    table.add_row("  mean", f"{statistics.mean(latencies) * 1000:.0f} ms")
    table.add_row("claims per second", f"{rate:,.0f}")
    console.print(table)
    if failures:
        console.print(f"first failure: {failures[0]}")
    console.print(f"campaign stats say {stats['claimed']} claimed")
    print(f"terminals={args.terminals} claims={len(latencies)} failures={len(failures)} "
          f"p50_ms={_pct(latencies, 0.5) * 1000:.1f} p99_ms={_pct(latencies, 0.99) * 1000:.1f} "
          f"claims_per_s={rate:.0f}", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--terminals", type=int, default=200)
    parser.add_argument("--claims-per-terminal", type=int, default=10)
    parser.add_argument("--consumers", type=int, default=200)
    asyncio.run(main(parser.parse_args()))
