"""Benchmark: indexer catch-up over a pre-filled chain, in events per second.

One embedded default node in a temp dir, one run. The chain is filled first
through the bulk paths, straight through the gateway (the running platform's
own indexer is stopped meanwhile, so the filling does not index): edition
sales in `record_sales` transactions of `--sales-per-tx` (one `CouponSold`
each, a coupon row, a history row and the edition's counter in the read
models), promotion grants of one coupon each in `grant` transactions of 256
(one `Granted` each, a coupon row, a path row and the counters), and credit
token mints (one `Transfer` each, stored as a chain event, no read model).

Then a new `Indexer` catches up from block 0 into a fresh, migrated SQLite
database in the temp dir: every
log read with `eth_getLogs` ranges, its blocks' hashes and timestamps fetched,
decoded, stored as a chain event and applied to the read models. The figure
is the number of events stored divided by the seconds from the first step to
the step that reaches the head; the filling, the node start and the
migrations are not in it. The read models are checked against the chain's
counts afterwards. A step the node drops a connection in is retried, as the
indexer's own loop does, and counted in the table.

Two more figures say what bounds it: the read models rebuilt from the stored
events of the last database (`Indexer.rebuild`, what a rewind does: no node),
and the node's `eth_getLogs` alone over the same blocks, about 5,000 logs a
request, one after another, parsed and nothing else.

    .venv/bin/python bench/indexer.py [--sales 150000] [--grants 30000]
        [--mints 30000] [--sales-per-tx 500] [--runs 2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time

from harness import embedded_runtime, participant
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from sqlalchemy import func, select

from couponchain.chain.gateway import Call, OpResult
from couponchain.domain.evaluation import FormulaParams
from couponchain.domain.roles import Role
from couponchain.domain.splits import Shares
from couponchain.errors import ChainUnavailable
from couponchain.indexer.indexer import Indexer
from couponchain.runtime import Runtime
from couponchain.services.promotions import RoundRequest
from couponchain.store.db import Database, migrate
from couponchain.store.models import (
    ChainEvent,
    CouponHistory,
    CouponRecord,
    EditionRecord,
    PromotionCoupon,
    PromotionPath,
    PromotionRound,
)

console = Console(file=sys.stdout)
GRANTS_PER_TX = 256
MINTS_PER_TX = 400
#: Transactions sent at once: enough to keep the node busy, few enough for its pool.
IN_FLIGHT = 8


def _address(i: int) -> str:
    return "0x" + (0xB0000000 + i).to_bytes(20, "big").hex()


async def _send_all(runtime: Runtime, label: str, total: int,
                    calls: list[tuple[object, Call, int]]) -> int:
    """Submit `(signer, call, events)` through the gateway, IN_FLIGHT at a time."""
    gate = asyncio.Semaphore(IN_FLIGHT)
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task(label, total=total)

        async def one(signer: object, call: Call, events: int) -> OpResult:
            async with gate:
                done = await runtime.gateway.submit(signer, call)  # type: ignore[arg-type]
            progress.advance(task, events)
            return done

        results = await asyncio.gather(*(one(*c) for c in calls))
    return max(r.block_number for r in results)


async def fill(runtime: Runtime, args: argparse.Namespace) -> int:
    """Fill the chain; returns the last block with filled events."""
    platform = runtime.platform.caller
    with console.status("a merchant, consumers, an edition and a promotion round"):
        merchant = await participant(runtime, platform, Role.MERCHANT, "Bench Books")
        consumers = await asyncio.gather(*[
            participant(runtime, platform, Role.CONSUMER, f"Reader {i}") for i in range(16)])
        now = int(time.time())
        edition = await runtime.editions.create(merchant, {
            "brand": "Bench Books", "title": "Indexer benchmark edition",
            "terms": "One book per coupon. Benchmark edition.", "prefix": "IDX",
            "cap": max(1, args.sales), "price": 300, "valid_from": now - 3600,
            "valid_until": now + 30 * 86400}, None)
        round_id = None
        if args.grants:
            shares = Shares(platform=1_000, issuer=2_000, redeemer=2_000, holder=3_000,
                            earlier=2_000)
            opened = await runtime.promotions.open_round(platform, RoundRequest(
                turnover=[], consumers=args.grants,
                formula=FormulaParams(base_per_merchant=0, turnover_per_coupon=1,
                                      per_consumer=1, max_total=2**64 - 1),
                incentive_bps=500, shares=shares, rollback_window=86_400,
                consent_lifetime=300), None)
            round_id = int(opened["id"])
            await runtime.promotions.allocate(platform, round_id, [(merchant.id, args.grants)],
                                              None)
        merchant_key = await runtime.participants.signer(merchant.id)
        platform_key = await runtime.participants.signer(platform.id)
    await runtime.indexer.stop()  # the fill is indexed only by the measured indexer
    calls: list[tuple[object, Call, int]] = []
    edition_id, per_tx = int(edition["id"]), args.sales_per_tx
    for first in range(0, args.sales, per_tx):
        n = min(per_tx, args.sales - first)
        calls.append((merchant_key, Call(
            "editions", "record_sales",
            fixed=(edition_id, [_address(first + i) for i in range(n)], [300] * n, [1] * n,
                   [(first + i).to_bytes(32, "big") for i in range(n)]),
            kind=f"record {n} sales"), n))
    for first in range(0, args.grants, GRANTS_PER_TX):
        n = min(GRANTS_PER_TX, args.grants - first)
        people = [consumers[(first + i) % len(consumers)].address for i in range(n)]
        calls.append((merchant_key, Call("promotions", "grant",
                                         fixed=(round_id, people, [1] * n), kind="grant"), n))
    for first in range(0, args.mints, MINTS_PER_TX):
        n = min(MINTS_PER_TX, args.mints - first)
        calls.append((platform_key, Call(
            "token", "mint_batch", fixed=([_address(first + i) for i in range(n)], [1] * n),
            kind="mint"), n))
    total = args.sales + args.grants + args.mints
    return await _send_all(runtime, f"filling the chain with {total:,} events", total, calls)


async def catch_up(runtime: Runtime, url: str,
                   head: int) -> tuple[int, float, dict[str, int], int]:
    """Index blocks 0..head into the empty database at `url`:
    (events, seconds, read-model counts, steps retried after the node did not answer)."""
    migrate(url)
    db = Database(url)
    indexer = Indexer(db, runtime.rpc, lambda: runtime.gateway.by_address)
    retried = 0
    try:
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task(f"indexing blocks 0..{head:,} into a fresh database",
                                     total=head + 1)
            started = time.perf_counter()
            while True:
                try:
                    if await indexer.step():
                        break
                except ChainUnavailable:  # as the indexer's own loop does: try again
                    retried += 1
                    if retried > 10:
                        raise
                progress.update(task, completed=indexer.indexed + 1)
            seconds = time.perf_counter() - started
        async with db.session() as s:
            counts = {name: int((await s.execute(query)).scalar_one()) for name, query in {
                "events": select(func.count()).select_from(ChainEvent),
                "coupons": select(func.count()).select_from(CouponRecord),
                "history": select(func.count()).select_from(CouponHistory),
                "sold": select(func.coalesce(func.sum(EditionRecord.sold), 0)),
                "promotion coupons": select(func.count()).select_from(PromotionCoupon),
                "promotion paths": select(func.count()).select_from(PromotionPath),
                "granted": select(func.coalesce(func.sum(PromotionRound.granted), 0)),
            }.items()}
    finally:
        await db.close()
    return counts["events"], seconds, counts, retried


async def node_logs_rate(runtime: Runtime, head: int, per_request: int) -> tuple[int, float]:
    """The node alone: every log of blocks 0..head with eth_getLogs, `per_request`
    blocks at a time, one request after the other, parsed and nothing else."""
    addresses = list(runtime.gateway.by_address)
    count, started = 0, time.perf_counter()
    for first in range(0, head + 1, per_request):
        count += len(await runtime.rpc.call("eth_getLogs", {
            "fromBlock": hex(first), "toBlock": hex(min(head, first + per_request - 1)),
            "address": addresses}))
    return count, time.perf_counter() - started


async def rebuild(runtime: Runtime, url: str) -> float:
    """Seconds to rebuild the read models of a caught-up database from its stored
    events (`Indexer.rebuild`, what a rewind does), in one transaction."""
    db = Database(url)
    indexer = Indexer(db, runtime.rpc, lambda: runtime.gateway.by_address)
    try:
        with console.status("rebuilding the read models from the stored events"):
            started = time.perf_counter()
            await db.write(indexer.rebuild)
            return time.perf_counter() - started
    finally:
        await db.close()


async def main(args: argparse.Namespace) -> None:
    async with embedded_runtime(distribute_interval=0, report_interval=0) as runtime:
        settings = runtime.settings
        t0 = time.perf_counter()
        last = await fill(runtime, args)
        fill_seconds = time.perf_counter() - t0
        head = int(await runtime.rpc.call("eth_blockNumber"), 16)
        assert head >= last, (head, last)
        runs: list[tuple[int, float, dict[str, int], int]] = []
        for n in range(args.runs):
            url = f"sqlite+aiosqlite:///{runtime.settings.data_dir / f'catch-up-{n}.db'}"
            runs.append(await catch_up(runtime, url, head))
        rebuilt = await rebuild(runtime, url)
        blocks_per_request = max(1, round((head + 1) * 5000 / max(1, runs[-1][0])))
        with console.status("the node's eth_getLogs alone over the same blocks"):
            bare = [await node_logs_rate(runtime, head, blocks_per_request)
                    for _ in range(2)]

    events, _, counts, _ = runs[-1]
    expected = {"coupons": args.sales, "history": args.sales, "sold": args.sales,
                "promotion coupons": args.grants, "promotion paths": args.grants,
                "granted": args.grants}
    wrong = {k: (counts[k], v) for k, v in expected.items() if counts[k] != v}
    assert not wrong, f"read models differ from the chain (found, expected): {wrong}"
    assert events >= args.sales + args.grants + args.mints, events
    rates = [n / s for n, s, _, _ in runs]
    load = os.getloadavg()[0]
    table = Table(title=f"indexer catch-up, {os.cpu_count()} cores, embedded "
                        f"{settings.node_kind}, SQLite (load avg {load:.1f} at the end)")
    table.add_column("measure")
    table.add_column("size", justify="right")
    table.add_column("result", justify="right")
    table.add_row("filling the chain through the gateway (not indexed)",
                  f"{args.sales + args.grants + args.mints:,} events, {head:,} blocks",
                  f"{fill_seconds:.1f} s")
    for n, (count, seconds, _, retried) in enumerate(runs, 1):
        table.add_row(f"catch-up from block 0 into a fresh database, run {n}"
                      + (f" ({retried} steps retried: the node dropped a connection)"
                         if retried else ""),
                      f"{count:,} events", f"{seconds:.1f} s, {count / seconds:,.0f} events/s")
    table.add_row("  read models", "", ", ".join(f"{k} {v:,}" for k, v in counts.items()))
    table.add_row("read models rebuilt from the stored events (Indexer.rebuild: a rewind)",
                  f"{events:,} events", f"{rebuilt:.1f} s, {events / rebuilt:,.0f} events/s")
    for n, (count, seconds) in enumerate(bare, 1):
        table.add_row(f"the node's eth_getLogs alone, about 5,000 logs a request, run {n}",
                      f"{count:,} logs", f"{seconds:.1f} s, {count / seconds:,.0f} logs/s")
    console.print(table)
    print(f"indexer_events_per_s={statistics.median(rates):.0f} "
          f"indexer_events_per_s_best={max(rates):.0f} events={events} "
          f"rebuild_events_per_s={events / rebuilt:.0f} "
          f"node_logs_per_s={max(c / t for c, t in bare):.0f} "
          f"fill_seconds={fill_seconds:.1f}", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sales", type=int, default=150_000, help="edition sales (CouponSold)")
    parser.add_argument("--grants", type=int, default=30_000,
                        help="promotion grants of one coupon (Granted)")
    parser.add_argument("--mints", type=int, default=30_000, help="token mints (Transfer)")
    parser.add_argument("--sales-per-tx", type=int, default=500)
    parser.add_argument("--runs", type=int, default=2,
                        help="catch-ups over the same chain, each into a fresh database")
    asyncio.run(main(parser.parse_args()))
