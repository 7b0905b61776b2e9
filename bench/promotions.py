"""Benchmark: promotion write-offs per second (group-committed) and the cost of opening rounds.

One embedded default node in a temp dir, one run. A write-off counts only once
it is journaled, on chain and indexed into SQL (`PromotionService.write_off`
waits for the indexer before it returns). Each write-off carries its own
holder-signed consent, checked by the service and again by the contract.
Consents are signed before the clock starts (a phone signs them, not the
platform's hot path).

Opening a round records one struct whatever its total, so a round of ten
million coupons must cost the same gas as a round of ten.

    .venv/bin/python bench/promotions.py [--write-offs 4000] [--terminals 4]
        [--in-flight 1000] [--consumers 50]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time

from harness import embedded_runtime, participant
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from couponchain.domain.evaluation import FormulaParams
from couponchain.domain.roles import Role
from couponchain.domain.splits import Shares
from couponchain.runtime import Runtime
from couponchain.services import promotion_views as views
from couponchain.services.participants import Caller
from couponchain.services.promotions import RoundRequest

console = Console(file=sys.stdout)
SHARES = Shares(platform=1_000, issuer=2_000, redeemer=2_000, holder=3_000, earlier=2_000)
ORDER_AMOUNT = 1_000_000


def _round(total: int, window: int = 86_400) -> RoundRequest:
    """A round whose formula gives exactly `total` (one coupon per registered consumer)."""
    return RoundRequest(turnover=[], consumers=total,
                        formula=FormulaParams(base_per_merchant=0, turnover_per_coupon=1,
                                              per_consumer=1, max_total=2**64 - 1),
                        incentive_bps=500, shares=SHARES, rollback_window=window,
                        consent_lifetime=300)


async def open_round_cost(runtime: Runtime, total: int) -> tuple[int, float]:
    """(gas used, seconds) of opening one round of `total` coupons."""
    t0 = time.perf_counter()
    opened = await runtime.promotions.open_round(runtime.platform.caller, _round(total), None)
    elapsed = time.perf_counter() - t0
    receipt = await runtime.rpc.call("eth_getTransactionReceipt", opened["tx_hash"])
    return int(receipt["gasUsed"], 16), elapsed


async def write_offs(runtime: Runtime, terminals: list[Caller], codes: list[str],
                     in_flight: int, label: str) -> tuple[float, int]:
    """Every code written off concurrently: (write-offs/s, transactions used)."""
    gate = asyncio.Semaphore(in_flight)
    done = 0
    started = time.perf_counter()
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task(label, total=len(codes))

        async def one(i: int, code: str) -> str:
            nonlocal done
            async with gate:
                result = await runtime.promotions.write_off(
                    terminals[i % len(terminals)], code, ORDER_AMOUNT, None)
            done += 1
            if done % 100 == 0:
                progress.update(task, completed=done)
            return str(result["tx_hash"])

        hashes = await asyncio.gather(*(one(i, c) for i, c in enumerate(codes)))
    return len(codes) / (time.perf_counter() - started), len(set(hashes))


async def main(args: argparse.Namespace) -> None:
    async with embedded_runtime(distribute_interval=0) as runtime:
        platform = runtime.platform.caller
        total = args.write_offs + args.warmup
        with console.status("participants, a round, grants and consents"):
            merchant = await participant(runtime, platform, Role.MERCHANT, "Bench Noodles")
            terminals = [await participant(runtime, merchant, Role.TERMINAL, f"Till {i}")
                         for i in range(args.terminals)]
            consumers = await asyncio.gather(*[
                participant(runtime, platform, Role.CONSUMER, f"Diner {i}")
                for i in range(args.consumers)])
            await runtime.payouts.top_up(platform, merchant.id, 10**15, None)
            await runtime.promotions.caps.set_cap(merchant, merchant.id, 10**15, None)
            opened = await runtime.promotions.open_round(platform, _round(total), None)
            await runtime.promotions.allocate(platform, opened["id"],
                                              [(merchant.id, total)], None)
            per = -(-total // len(consumers))
            grants = [(c.id, per) for c in consumers]
            granted: list[tuple[Caller, int]] = []
            for start in range(0, len(grants), 40):  # at most 10,000 coupons a request
                chunk = grants[start:start + 40]
                done = await runtime.promotions.grant(merchant, opened["id"], chunk, None)
                by_address = {c.address: c for c in consumers}
                granted += [(by_address[r["consumer"]], i) for r in done["ranges"]
                            for i in range(r["first_id"], r["last_id"] + 1)]
            granted = granted[:total]
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("holders sign consents", total=len(granted))
            codes = []
            for holder, coupon_id in granted:
                codes.append((await runtime.promotions.consent(
                    holder, coupon_id, 280, merchant="any", max_order_amount=ORDER_AMOUNT))
                    ["code"])
                progress.advance(task)
        await write_offs(runtime, terminals, codes[:args.warmup], args.in_flight,
                         "warm-up write-offs")
        rate, txs = await write_offs(runtime, terminals, codes[args.warmup:], args.in_flight,
                                     f"{args.write_offs:,} concurrent write-offs")
        counted = (await views.round_detail(runtime.db, opened["id"]))["written_off"]
        assert counted == total, counted  # every write-off is in the read model
        console.print(f"gateway: {dict(runtime.gateway.stats)}")
        costs = {n: await open_round_cost(runtime, n) for n in (10, 10_000_000, 10**12)}

    load = os.getloadavg()[0]
    table = Table(title=f"promotion coupons, {os.cpu_count()} cores, embedded "
                        f"{runtime.settings.node_kind} (load avg {load:.1f} at the end)")
    table.add_column("measure")
    table.add_column("size", justify="right")
    table.add_column("result", justify="right")
    table.add_row(f"write-offs with consent, {args.terminals} terminals, group commit "
                  f"({args.in_flight:,} in flight); journaled, on chain, indexed",
                  f"{args.write_offs:,}", f"{rate:,.0f} write-offs/s")
    table.add_row("  transactions the write-offs shared", "", f"{txs:,}")
    for n, (gas, seconds) in costs.items():
        table.add_row(f"open a round of {n:,} coupons", "", f"{gas:,} gas, {seconds * 1000:.0f} ms")
    console.print(table)
    print(f"write_offs_per_s={rate:.0f} write_off_txs={txs} " + " ".join(
        f"open_round_{n}_gas={gas}" for n, (gas, _) in costs.items()), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write-offs", type=int, default=4000)
    parser.add_argument("--terminals", type=int, default=4)
    parser.add_argument("--consumers", type=int, default=50)
    parser.add_argument("--in-flight", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=200)
    asyncio.run(main(parser.parse_args()))
