"""Benchmark: referral purchases per second, and gas per purchase at 10 and 100,000 holders.

Two parts, one command:

1. Gas (titanoboa, in-process EVM, the real contracts): batch 1 of a product
   is bought by H distinct registered consumers (one unit each), batch 2 opens
   with a rebate, and one buyer buys through a promotion link. The rebate is
   shared among all H earlier holders through the per-unit accumulator, so the
   purchase's gas must not depend on H. Measured for each H given.
2. Throughput (the platform on the embedded node): consumers buy batch 2
   through their promoters' links concurrently via `ReferralService.purchase`
   (paid in credit, rebates accounted, journaled, on chain, indexed).

    .venv/bin/python bench/referrals.py [--holders 10 100000] [--purchases 400]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

import boa
from eth_account import Account
from eth_utils import keccak
from harness import embedded_runtime, participant
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from couponchain.domain import links
from couponchain.domain.roles import Role

CONTRACTS = Path(__file__).resolve().parents[1] / "src" / "couponchain" / "contracts"
ZERO = "0x" + "00" * 20
console = Console(file=sys.stdout)


def purchase_gas(holders: int) -> int:
    """Gas of one linked batch-2 purchase after `holders` distinct batch-1 holders."""
    boa.interpret.set_search_paths([str(CONTRACTS)])
    with boa.env.anchor():
        platform = boa.env.generate_address("platform")
        originator = boa.env.generate_address("originator")
        with boa.env.prank(platform):
            registry = boa.load(str(CONTRACTS / "registry.vy"))
            token = boa.load(str(CONTRACTS / "token.vy"), registry.address)
            referrals = boa.load(str(CONTRACTS / "referrals.vy"), registry.address,
                                 token.address, 3_000, 500, 5_000)
        promoter = Account.from_key(keccak(text="bench promoter"))
        buyer = Account.from_key(keccak(text="bench buyer"))
        accounts = [promoter.address, buyer.address] + [
            "0x" + (0xB0B0 << 140 | i).to_bytes(20, "big").hex() for i in range(holders - 1)]
        with boa.env.prank(platform):
            registry.register_batch([originator], [Role.MERCHANT], [ZERO])
            for start in range(0, len(accounts), 1024):
                chunk = accounts[start:start + 1024]
                registry.register_batch(chunk, [Role.CONSUMER] * len(chunk), [ZERO] * len(chunk))
                token.mint_batch(chunk, [10**9] * len(chunk))
        with boa.env.prank(originator):
            product = referrals.register_product("Bench song", keccak(text="song"), 10**6,
                                                 holders)
        batch_one = [a for a in accounts if a != buyer.address]
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task(f"batch 1 bought by {holders:,} holders", total=holders)
            for n, account in enumerate(batch_one):
                with boa.env.prank(account):
                    token.approve(referrals.address, 2**256 - 1)
                    referrals.purchase(product, 1, 1, 10**6, ZERO, 0, b"")
                if n % 500 == 0:
                    progress.update(task, completed=n)
        with boa.env.prank(originator):
            referrals.open_batch(product, 2 * 10**6, 100, 1_000, 2_000)
        expiry = boa.env.timestamp + 3_600
        link = links.Link(product=product, promoter=promoter.address, expiry=expiry)
        signature = links.sign_link(link, boa.env.evm.patch.chain_id, referrals.address,
                                    promoter.key)
        with boa.env.prank(buyer.address):
            token.approve(referrals.address, 2**256 - 1)
            referrals.purchase(product, 1, 2, 2 * 10**6, promoter.address, expiry, signature)
            # The second linked purchase: all its slots are warm like the first's.
            referrals.purchase(product, 1, 2, 2 * 10**6, promoter.address, expiry, signature)
        return int(referrals._computation.get_gas_used())


async def purchases_per_second(buyers: int, purchases: int) -> tuple[float, int]:
    """(purchases/s, purchases) through the service, concurrently, through links."""
    async with embedded_runtime(distribute_interval=0) as runtime:
        platform = runtime.platform.caller
        with console.status(f"an originator, {buyers} buyers with credit, batch 1"):
            originator = await participant(runtime, platform, Role.MERCHANT, "Bench Label")
            consumers = await asyncio.gather(*[
                participant(runtime, platform, Role.CONSUMER, f"Fan {i}")
                for i in range(buyers)])
            for c in consumers:
                await runtime.payouts.top_up(platform, c.id, 10**12, None)
            product = await runtime.referrals.register(
                originator, "Bench song", "A song for the benchmark.", 10**6, buyers, None)
            first = await runtime.referrals.current_terms(product["id"])
            await asyncio.gather(*[runtime.referrals.purchase(c, product["id"], 1, None, None,
                                                              **first)
                                   for c in consumers])
            await runtime.referrals.open_batch(originator, product["id"], 2 * 10**6,
                                               purchases, 1_000, None)
            terms = await runtime.referrals.current_terms(product["id"])
            link_of = {}
            for c in consumers:
                made = await runtime.referrals.make_link(c, product["id"], None,
                                                         "http://127.0.0.1")
                link_of[c.id] = made["link"]
        started = time.perf_counter()
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task(f"{purchases} purchases through links", total=purchases)

            async def buy(i: int) -> None:
                buyer = consumers[i % buyers]
                promoter = consumers[(i + 1) % buyers]
                await runtime.referrals.purchase(buyer, product["id"], 1,
                                                 link_of[promoter.id], None, **terms)
                progress.advance(task)

            await asyncio.gather(*[buy(i) for i in range(purchases)])
        return purchases / (time.perf_counter() - started), purchases


def main(args: argparse.Namespace) -> None:
    gas = {h: purchase_gas(h) for h in args.holders}
    rate, count = (asyncio.run(purchases_per_second(args.buyers, args.purchases))
                   if args.purchases else (0.0, 0))
    table = Table(title=f"referrals, {os.cpu_count()} cores (load avg {os.getloadavg()[0]:.1f} "
                        "at the end)")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for h, g in gas.items():
        table.add_row(f"gas of a linked purchase after {h:,} batch-1 holders", f"{g:,}")
    table.add_row(f"purchases through links, {args.buyers} buyers at once, rebates accounted, "
                  "journaled, on chain, indexed", f"{rate:,.0f} purchases/s ({count})")
    console.print(table)
    print(" ".join(f"gas_{h}_holders={g}" for h, g in gas.items())
          + f" purchases_per_s={rate:.0f}", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--holders", type=int, nargs="+", default=[10, 100_000])
    parser.add_argument("--buyers", type=int, default=40)
    parser.add_argument("--purchases", type=int, default=400, help="0: gas figures only")
    main(parser.parse_args())
