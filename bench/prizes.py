"""Benchmark: prize scan→claim latency at 200 concurrent terminals, and claims per second.

One embedded default node in a temp dir, one run. Each terminal scans on a
cadence (`--interval` seconds between customers, each terminal starting at a
random phase; 0 = back to back, which measures the most the service takes):
the consumer's phone shows a fresh rotating code, the terminal scans it
(`PrizeService.scan`: every condition checked, the scan stored) and confirms
the claim (`PrizeService.claim`: answered once the prize-claim row is
committed). The latency is from the scan request to the claim's answer. The
claims then go on chain in the background; the run waits until every one is
recorded on chain and indexed and reports that lag as well. The codes are
signed in-process with the platform's code key, as the code endpoint does,
minus drawing the QR image.

    .venv/bin/python bench/prizes.py [--terminals 200] [--claims-per-terminal 10]
                                     [--interval 1.0]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import time

from harness import embedded_runtime, participant, pct
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from sqlalchemy import select

from couponchain.domain.roles import Role
from couponchain.services.prizes import CampaignRequest
from couponchain.store.models import PrizeAward, PrizeClaim

console = Console(file=sys.stdout)


async def main(args: argparse.Namespace) -> None:
    claims = args.terminals * args.claims_per_terminal
    async with embedded_runtime(distribute_interval=0) as runtime:
        platform = runtime.platform.caller
        with console.status(f"a merchant, {args.terminals} terminals, {claims:,} awards"):
            merchant = await participant(runtime, platform, Role.MERCHANT, "Bench Arcade")
            terminals = await asyncio.gather(*[
                participant(runtime, merchant, Role.TERMINAL, f"Gate {i}")
                for i in range(args.terminals)])
            consumers = await asyncio.gather(*[
                participant(runtime, platform, Role.CONSUMER, f"Player {i}")
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

        acknowledged: dict[int, float] = {}
        scan_latencies: list[float] = []
        lags: list[float] = []

        async def loop_lag() -> None:
            """How late the event loop wakes a 5 ms sleeper: time nobody else got."""
            while True:
                t0 = time.perf_counter()
                await asyncio.sleep(0.005)
                lags.append(time.perf_counter() - t0 - 0.005)

        async def terminal_loop(t: int, progress: Progress, task: object) -> None:
            mine = award_ids[t::args.terminals]
            due = time.perf_counter() + random.uniform(0, args.interval)
            for award_id in mine:
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
                due += args.interval
                # The phone's code, with the winner's claim signature: issued as
                # GET /v1/prize-awards/{id}/code does, without drawing its QR image
                # (the phone shows it, not the till).
                award = PrizeAward(id=award_id, campaign_id=campaign["id"],
                                   consumer=owner[award_id].address)
                code = await runtime.prizes.signed_code(award, merchant.address,
                                                        owner[award_id].id, int(time.time()))
                t0 = time.perf_counter()
                try:
                    scan = await runtime.prizes.scan(terminals[t], code)
                    scan_latencies.append(time.perf_counter() - t0)
                    claim = await runtime.prizes.claim(terminals[t], scan["scan_id"])
                except Exception as exc:  # counted, not hidden
                    failures.append(f"{type(exc).__name__}: {exc}")
                    continue
                latencies.append(time.perf_counter() - t0)
                acknowledged[claim["id"]] = time.perf_counter()
                progress.advance(task)  # type: ignore[arg-type]

        with Progress(console=console, transient=True) as progress:
            task = progress.add_task(f"{args.terminals} terminals scanning and claiming",
                                     total=claims)
            started = time.perf_counter()
            watcher = asyncio.create_task(loop_lag())
            await asyncio.gather(*[terminal_loop(t, progress, task)
                                   for t in range(args.terminals)])
            elapsed = time.perf_counter() - started
            watcher.cancel()
        with console.status("waiting until every claim is on chain and indexed"):
            await runtime.prizes.recorder.settled(acknowledged, timeout=600)
            async with runtime.db.session() as s:
                rows = (await s.execute(select(PrizeClaim.id, PrizeClaim.status,
                                               PrizeClaim.block_number))).all()
            await runtime.indexer.wait_for(max(r.block_number or 0 for r in rows))
            recorded_by = time.perf_counter()
        stats = await runtime.prizes.stats(merchant, campaign["id"])

    rate = len(latencies) / elapsed
    table = Table(title=f"prize scan→claim, {os.cpu_count()} cores, embedded "
                        f"{runtime.settings.node_kind} "
                        f"(load avg {os.getloadavg()[0]:.1f} at the end)")
    table.add_column("measure")
    table.add_column("value", justify="right")
    offered = (f"one per {args.interval:g} s each ({args.terminals / args.interval:,.0f}/s)"
               if args.interval else "back to back")
    table.add_row("concurrent terminals", f"{args.terminals}, scanning {offered}")
    table.add_row("claims acknowledged (prize-claim row committed)", f"{len(latencies):,}")
    table.add_row("claims recorded on chain and indexed",
                  f"{sum(r.status == 'recorded' for r in rows):,} "
                  f"({sum(r.status == 'refused' for r in rows)} refused)")
    table.add_row("failed scans or claims", f"{len(failures)}")
    table.add_row("scan→claim latency p50 / p99",
                  f"{pct(latencies, 0.5) * 1000:.0f} / {pct(latencies, 0.99) * 1000:.0f} ms")
    table.add_row("  mean", f"{statistics.mean(latencies) * 1000:.0f} ms")
    table.add_row("  of which the scan, p50 / p99",
                  f"{pct(scan_latencies, 0.5) * 1000:.0f} / "
                  f"{pct(scan_latencies, 0.99) * 1000:.0f} ms")
    table.add_row("event loop lag p50 / p99 / max",
                  f"{pct(lags, 0.5) * 1000:.1f} / {pct(lags, 0.99) * 1000:.1f} / "
                  f"{max(lags) * 1000:.0f} ms")
    table.add_row("claims per second", f"{rate:,.0f}")
    table.add_row("last claim on chain and indexed, after the last answer",
                  f"{recorded_by - max(acknowledged.values()):.1f} s")
    console.print(table)
    if failures:
        console.print(f"first failure: {failures[0]}")
    console.print(f"campaign stats say {stats['claimed']} claimed")
    print(f"terminals={args.terminals} claims={len(latencies)} failures={len(failures)} "
          f"p50_ms={pct(latencies, 0.5) * 1000:.1f} p99_ms={pct(latencies, 0.99) * 1000:.1f} "
          f"claims_per_s={rate:.0f} interval_s={args.interval}", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--terminals", type=int, default=200)
    parser.add_argument("--claims-per-terminal", type=int, default=10)
    parser.add_argument("--consumers", type=int, default=200)
    parser.add_argument("--interval", type=float, default=1.0,
                        help="seconds between one terminal's scans (0: back to back)")
    asyncio.run(main(parser.parse_args()))
