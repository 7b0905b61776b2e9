"""Demo data: a small, realistic story on the embedded chain.

Every step uses an idempotency key, so running the demo again (every
`couponchain up --demo`) finds what exists instead of making it twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from couponchain.domain.evaluation import FormulaParams
from couponchain.domain.roles import Role
from couponchain.domain.splits import Shares
from couponchain.runtime import Runtime
from couponchain.services import promotion_views
from couponchain.services.promotions import RoundRequest

MERCHANTS = ["Lotus Tea House", "Harbor Books", "Pine & Stone Outfitters"]
TERMINALS_PER_MERCHANT = 2
CONSUMERS = 100


async def seed(runtime: Runtime, progress: Callable[[int, int], None] | None = None) -> dict:
    """Create the demo participants (once); returns what the demo holds."""
    service = runtime.participants
    platform = runtime.platform.caller
    total = len(MERCHANTS) * (1 + TERMINALS_PER_MERCHANT) + CONSUMERS
    done = 0

    def step() -> None:
        nonlocal done
        done += 1
        if progress:
            progress(done, total)

    merchants = []
    for i, name in enumerate(MERCHANTS, start=1):
        merchants.append(await service.create(platform, Role.MERCHANT, name, None,
                                              f"demo-merchant-{i}"))
        step()

    async def terminal(m: dict, j: int) -> dict:
        created = await service.create(platform, Role.TERMINAL, f"{m['name']} till {j}",
                                       m["id"], f"demo-terminal-{m['id']}-{j}")
        step()
        return created

    async def consumer(k: int) -> dict:
        created = await service.create(platform, Role.CONSUMER, f"Consumer {k:03d}", None,
                                       f"demo-consumer-{k}")
        step()
        return created

    terminals = await asyncio.gather(*(terminal(m, j) for m in merchants
                                       for j in range(1, TERMINALS_PER_MERCHANT + 1)))
    consumers = await asyncio.gather(*(consumer(k) for k in range(1, CONSUMERS + 1)))
    return {"merchants": merchants, "terminals": list(terminals), "consumers": list(consumers)}


#: The demo round: turnover of the period per demo merchant, in CCC's smallest unit.
DEMO_TURNOVER = [52_000_000_000, 31_500_000_000, 18_250_000_000]
DEMO_SHARES = Shares(platform=1_000, issuer=2_000, redeemer=2_000, holder=3_000, earlier=2_000)


async def seed_promotions(runtime: Runtime, seeded: dict,
                          progress: Callable[[int, int], None] | None = None) -> dict:
    """A promotion round with allocations, grants, transfers and write-offs (once).

    The round's rollback window is two minutes, so the pools of the first
    write-offs are distributed (and show up as payouts) shortly after start.
    """
    existing = await promotion_views.rounds(runtime.db, 1, None)
    if existing:
        return {"round_id": existing[0]["id"], "created": False}
    platform = runtime.platform.caller
    merchants = seeded["merchants"]
    consumers = seeded["consumers"]
    service = runtime.promotions
    request = RoundRequest(
        turnover=[(m["id"], t) for m, t in zip(merchants, DEMO_TURNOVER, strict=True)],
        consumers=len(consumers),
        formula=FormulaParams(base_per_merchant=100, turnover_per_coupon=100_000_000,
                              per_consumer=5, max_total=100_000),
        incentive_bps=300, shares=DEMO_SHARES, rollback_window=120, consent_lifetime=300)
    steps = 6
    done = 0

    def step() -> None:
        nonlocal done
        done += 1
        if progress:
            progress(done, steps)

    opened = await service.open_round(platform, request, "demo-round-1")
    round_id = opened["id"]
    await service.allocate(platform, round_id, [(m["id"], 300) for m in merchants],
                           "demo-round-1-allocations")
    step()
    for m in merchants:
        await runtime.payouts.top_up(platform, m["id"], 5_000_000_000, f"demo-credit-{m['id']}")
    step()
    callers = {p["id"]: await runtime.participants.authenticate(p["api_key"])
               for p in [*merchants, *consumers, *seeded["terminals"]]}
    grants: list[tuple[int, dict]] = []
    for i, m in enumerate(merchants):
        mine = consumers[i * 30:(i + 1) * 30]
        granted = await service.grant(callers[m["id"]], round_id,
                                      [(c["id"], 2) for c in mine], f"demo-grant-{m['id']}")
        by_address = {c["address"]: c for c in mine}
        grants += [(cid, by_address[r["consumer"]]) for r in granted["ranges"]
                   for cid in range(r["first_id"], r["last_id"] + 1)]
    step()
    # A few coupons travel between friends before they are used.
    for n, (coupon_id, holder) in enumerate(grants[:12:2]):
        friend = consumers[60 + n]
        await service.transfer(callers[holder["id"]], coupon_id, friend["id"],
                               f"demo-transfer-{coupon_id}")
        grants[2 * n] = (coupon_id, friend)
    step()
    # Write-offs at the merchants' tills: each with the holder's fresh consent.
    terminals = seeded["terminals"]
    for n, (coupon_id, holder) in enumerate(grants[:40]):
        consent = await service.consent(callers[holder["id"]], coupon_id, None)
        till = terminals[n % len(terminals)]
        await service.write_off(callers[till["id"]], consent["code"], 20_000_000 + n * 1_250_000,
                                f"demo-write-off-{coupon_id}")
    step()
    step()
    return {"round_id": round_id, "created": True, "granted": len(grants), "written_off": 40}
