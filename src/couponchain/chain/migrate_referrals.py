"""Carrying referrals over to a new deployment (`couponchain migrate`).

The new contract reads products, batches, units and what each account may
withdraw from the old one (referrals.vy, "Migration"); this module names, from
the old contract's own logs, the holdings (with the units each holder bought in
its product's current batch, which the contract checks against the batch's
sales and the old contract's `holds_earlier_batch`) and the other accounts owed
something, has the new token give the new contract the old one's funds
(`token.import_holder`), and finishes, which the contract refuses until every
unit and every token owed is carried.
"""

from __future__ import annotations

import logging
from collections import defaultdict

from eth_utils import to_checksum_address

from couponchain.chain.gateway import Call, Gateway
from couponchain.chain.migrate_reads import Steps, events, staged, views

log = logging.getLogger(__name__)

#: A product with its batches costs about 300,000 gas per batch to carry over,
#: a holding about 120,000.
PRODUCTS_PER_TX = 8
HOLDINGS_PER_TX = 100


async def carry_referrals(gateway: Gateway, step: Steps, referrals: str, old: str) -> None:
    """Every product with its batches, every holding, every other account's
    credits, the funds, then the finish."""
    [count] = await views(gateway, "referrals", old, "product_count", [()])
    found = await views(gateway, "referrals", old, "product", [(p,) for p in range(1, count + 1)])
    current = {p: record[3] for p, record in enumerate(found, start=1)}  # record[3]: batch_count
    recent: dict[tuple[str, int], int] = defaultdict(int)
    owed: list[str] = [str(to_checksum_address(e["originator"]))
                       for e in await events(gateway, "referrals", old, "ProductRegistered")]
    for sale in await events(gateway, "referrals", old, "Purchased"):
        buyer = str(to_checksum_address(sale["buyer"]))
        product = int(sale["product_id"])
        recent[(buyer, product)] += int(sale["quantity"]) if sale["batch"] == current[product] \
            else 0
        owed.append(str(to_checksum_address(sale["promoter"])))
    holdings = [(buyer, product, units) for (buyer, product), units in recent.items()]
    holders = {buyer for buyer, _, _ in holdings}
    zero = "0x" + "00" * 20
    others = [a for a in dict.fromkeys(owed) if a not in holders and a.lower() != zero]
    log.info("migration: %d products, %d holdings, %d other accounts of referrals to carry over",
             count, len(holdings), len(others))
    await step.send(referrals, Call(referrals, "begin_migration", (old,)), "begin")
    for first in range(0, count, PRODUCTS_PER_TX):
        await step.send(referrals, Call(referrals, "import_products",
                                        (min(PRODUCTS_PER_TX, count - first),)),
                        f"products:{first}")
    items = holdings + [(a, 0, 0) for a in others]
    for i in range(0, len(items), HOLDINGS_PER_TX):
        await step.send(referrals, Call(referrals, "import_holdings",
                                        (items[i:i + HOLDINGS_PER_TX],)), f"holdings:{i}")
    token = staged(step, "token")
    new_address = gateway.contracts[referrals][0]  # the old funds go to the new contract
    await step.send(token, Call(token, "import_holder", (new_address,)), "holder:referrals")
    await step.send(referrals, Call(referrals, "finish_migration"), "finish")

