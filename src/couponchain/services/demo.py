"""Demo data: a small, realistic story on the embedded chain.

Every step uses an idempotency key, so running the demo again (every
`couponchain up --demo`) finds what exists instead of making it twice.

Steps that do not depend on each other run concurrently, so the gateway puts
them in one window: on a chain whose blocks are a second apart (geth, the
embedded default) each round of dependent writes costs about a second.
"""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from couponchain.domain.evaluation import FormulaParams
from couponchain.domain.roles import Role
from couponchain.domain.splits import Shares
from couponchain.runtime import Runtime
from couponchain.services import edition_views, promotion_views, referral_views
from couponchain.services.editions import Sale, serial_text
from couponchain.services.marketing_demo import ingest_demo_logs
from couponchain.services.marketing_views import merchant_number
from couponchain.services.prizes import CampaignRequest
from couponchain.services.promotions import RoundRequest
from couponchain.store.models import AccessLogBatch, PrizeCampaign

MERCHANTS = ["Lotus Tea House", "Harbor Books", "Pine & Stone Outfitters"]
TERMINALS_PER_MERCHANT = 2
CONSUMERS = 100


async def seed(runtime: Runtime, progress: Callable[[int, int], None] | None = None) -> dict:
    """Create the demo participants (once); returns what the demo holds."""
    service = runtime.participants
    platform = runtime.platform.caller
    if runtime.platform.api_key is None:  # the tour signs in as the platform too
        runtime.platform.api_key = await runtime.credentials.rekey(platform.id, "demo")
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
        # A terminal is registered with its merchant's key: the platform may not.
        owner = await service.caller(m["id"])
        created = await service.create(owner, Role.TERMINAL, f"{m['name']} till {j}",
                                       None, f"demo-terminal-{m['id']}-{j}")
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
        # The consumers are measured from the ledger (registered on chain);
        # the turnover stands for the merchants' off-chain trade, declared.
        consumers=0,
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
    await asyncio.gather(*(runtime.payouts.top_up(platform, m["id"], 5_000_000_000,
                                                  f"demo-credit-{m['id']}") for m in merchants),
                         # each merchant's till may top consumers up by 10,000 CCC (issue 24)
                         *(runtime.topups.set_limit(platform, m["id"], 10_000 * CCC,
                                                    f"demo-till-limit-{m['id']}")
                           for m in merchants))
    step()
    callers = {p["id"]: await runtime.participants.authenticate(p["api_key"])
               for p in [*merchants, *consumers, *seeded["terminals"]]}
    await asyncio.gather(*(  # each merchant caps what incentives may cost it
        service.caps.set_cap(callers[m["id"]], m["id"], 5_000_000_000, f"demo-cap-{m['id']}")
        for m in merchants))
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
    async def give(n: int, coupon_id: int, holder: dict) -> None:
        friend = consumers[60 + n]
        await service.transfer(callers[holder["id"]], coupon_id, friend["id"],
                               f"demo-transfer-{coupon_id}")
        grants[2 * n] = (coupon_id, friend)

    await asyncio.gather(*(give(n, coupon_id, holder)
                           for n, (coupon_id, holder) in enumerate(grants[:12:2])))
    step()
    # Write-offs at the merchants' tills: each with the holder's fresh consent.
    terminals = seeded["terminals"]
    async def write_off(n: int, coupon_id: int, holder: dict) -> None:
        till = terminals[n % len(terminals)]
        order = 20_000_000 + n * 1_250_000
        consent = await service.consent(callers[holder["id"]], coupon_id, None,
                                        merchant=till["merchant_id"], max_order_amount=order)
        await service.write_off(callers[till["id"]], consent["code"], order,
                                f"demo-write-off-{coupon_id}")

    await asyncio.gather(*(write_off(n, coupon_id, holder)
                           for n, (coupon_id, holder) in enumerate(grants[:40])))
    step()
    step()
    return {"round_id": round_id, "created": True, "granted": len(grants), "written_off": 40}


DAY = 86_400
#: CCC has 6 decimals in the demo's prices: 88_000_000 is 88 CCC.
CCC = 1_000_000


async def seed_editions(runtime: Runtime, seeded: dict) -> dict:
    """A limited edition of 99, partly sold online and at the till, some redeemed (once)."""
    service = runtime.editions
    merchant = seeded["merchants"][0]
    caller = await runtime.participants.authenticate(merchant["api_key"])
    listed = await edition_views.editions_of(runtime.db, merchant["address"], 1, None)
    if listed:
        return {"edition_id": listed[0].id, "created": False}
    now = int(time.time())
    edition = await service.create(caller, {
        "brand": merchant["name"], "title": "Mid-Autumn mooncake gift box",
        "terms": "Limited to 99 boxes. One box of six lotus-seed mooncakes, collected at the "
                 "shop before the end of the festival. Not exchangeable for cash.",
        "prefix": "MOON26", "cap": 99, "price": 88 * CCC,
        "valid_from": now - DAY, "valid_until": now + 60 * DAY}, "demo-edition-1")
    edition_id = edition["id"]
    consumers = seeded["consumers"]
    online = [Sale(c["id"], None, "online", f"web-{n:04d}") for n, c in enumerate(consumers[:40])]
    await service.sell_many(caller, edition_id, online, "demo-edition-1-online")
    offline = [Sale(c["id"], 80 * CCC, "offline", f"pos-{n:04d}")
               for n, c in enumerate(consumers[40:65])]
    await service.sell_many(caller, edition_id, offline, "demo-edition-1-pos")
    till = await runtime.participants.authenticate(seeded["terminals"][0]["api_key"])
    await asyncio.gather(*(service.redeem(till, serial_text("MOON26", n),
                                          f"demo-edition-1-redeem-{n}") for n in range(1, 11)))
    return {"edition_id": edition_id, "created": True, "sold": 65, "redeemed": 10}


async def seed_referrals(runtime: Runtime, seeded: dict) -> dict:
    """A product in its third batch, sold through holders' links with rebates (once)."""
    service = runtime.referrals
    merchant = seeded["merchants"][1]
    caller = await runtime.participants.authenticate(merchant["api_key"])
    if await referral_views.products(runtime.db, merchant["address"], 1, None):
        return {"created": False}
    platform = runtime.platform.caller
    buyers = seeded["consumers"][65:95]
    await asyncio.gather(*(runtime.payouts.top_up(platform, c["id"], 1_000 * CCC,
                                                  f"demo-credit-{c['id']}") for c in buyers))
    product = await service.register(
        caller, "Signed first edition: The Quiet Harbor",
        "A hardback signed by the author, numbered, with a bookmark from the shop.",
        50 * CCC, 10, "demo-product-1")
    product_id = product["id"]
    by_id = {c["id"]: await runtime.participants.authenticate(c["api_key"]) for c in buyers}
    terms = await service.current_terms(product_id)
    await asyncio.gather(*(  # batch 1: sold without links
        service.purchase(by_id[c["id"]], product_id, 1, None, f"demo-buy-{c['id']}", **terms)
        for c in buyers[:10]))
    batches = [(2, 60 * CCC, 10, 2_000, buyers[10:20]), (3, 70 * CCC, 20, 2_500, buyers[20:26])]
    for batch, price, circulation, rebate, wave in batches:
        await service.open_batch(caller, product_id, price, circulation, rebate,
                                 f"demo-product-1-batch-{batch}")
        terms = await service.current_terms(product_id)

        async def buy(n: int, c: dict, terms: dict = terms) -> None:
            promoter = by_id[buyers[n % 10]["id"]]  # each buys through an earlier holder's link
            link = await service.make_link(promoter, product_id, None, "")
            await service.purchase(by_id[c["id"]], product_id, 1, link["link"],
                                   f"demo-buy-{c['id']}", **terms)

        await asyncio.gather(*(buy(n, c) for n, c in enumerate(wave)))
    return {"product_id": product_id, "created": True, "batch": 3, "sold": 26}


async def seed_prizes(runtime: Runtime, seeded: dict) -> dict:
    """A prize campaign with awards, some claimed at the tills by scanning (once)."""
    service = runtime.prizes
    merchant = seeded["merchants"][2]
    caller = await runtime.participants.authenticate(merchant["api_key"])
    async with runtime.db.session() as s:
        if await s.scalar(select(PrizeCampaign.id).where(
                PrizeCampaign.merchant == merchant["address"]).limit(1)) is not None:
            return {"created": False}
    campaign = await service.create_campaign(caller, CampaignRequest(
        title="Grand opening draw", prizes=[("Camping mug", 50), ("Trail backpack", 5)],
        terminals=[], all_terminals=True, starts=None, ends=int(time.time()) + 30 * DAY,
        per_consumer_limit=1), "demo-campaign-1")
    winners = seeded["consumers"][:30]
    awarded = await service.award(caller, campaign["id"],
                                  [(c["id"], 1 if n % 10 == 0 else 0)
                                   for n, c in enumerate(winners)], "demo-campaign-1-awards")
    tills = [t for t in seeded["terminals"] if t["merchant_id"] == merchant["id"]]

    async def claim(n: int, award: dict) -> int:
        consumer = await runtime.participants.authenticate(winners[n]["api_key"])
        code = (await service.code(consumer, award["id"]))["code"]
        till = await runtime.participants.authenticate(tills[n % len(tills)]["api_key"])
        scan = await service.scan(till, code)
        return int((await service.claim(till, scan["scan_id"]))["id"])

    claims = list(await asyncio.gather(*(claim(n, award)
                                         for n, award in enumerate(awarded["awards"][:12]))))
    await service.recorder.settled(claims, timeout=120)
    return {"campaign_id": campaign["id"], "created": True, "awarded": len(winners),
            "claimed": len(claims)}


#: Access-log records per demo merchant: a month of visits (the generator scales
#: to millions: `couponchain demo-logs`).
DEMO_LOG_RECORDS = 60_000
DEMO_RULES = {"rules": [
    {"indicators": ["page_views", "unique_visitors", "visits_by_method", "conversion_rate",
                    "redemption_rate", "top_operations"],
     "condition": {"type": "periodic", "every_hours": 24}},
    {"indicators": ["unique_visitors", "new_visitors", "returning_visitors"],
     "condition": {"type": "threshold", "indicator": "unique_visitors", "op": ">=",
                   "value": 20, "window_minutes": 60}},
]}


async def seed_marketing(runtime: Runtime, seeded: dict,
                         progress: Callable[[int, int], None] | None = None) -> dict:
    """A month of access logs per merchant, reporting rules, and the first reports (once)."""
    async with runtime.db.session() as s:
        if await s.scalar(select(AccessLogBatch.id).limit(1)) is not None:
            return {"created": False}
    platform = runtime.platform.caller
    merchants = seeded["merchants"]
    total = DEMO_LOG_RECORDS * len(merchants)
    # The daily rule starts three UTC midnights ago, so the demo opens with
    # three closed periods for the scheduler to report (a rule starts at the
    # next boundary otherwise).
    rules: dict[str, Any] = copy.deepcopy(DEMO_RULES)
    rules["rules"][0]["condition"]["starts_at"] = (int(time.time()) // 86_400 - 3) * 86_400
    for n, merchant in enumerate(merchants):
        caller = await runtime.participants.authenticate(merchant["api_key"])
        await runtime.marketing.set_rules(caller, merchant["id"], rules,
                                          f"demo-rules-{merchant['id']}")
        before = n * DEMO_LOG_RECORDS

        def advanced(done: int, before: int = before) -> None:
            if progress:
                progress(before + done, total)

        await ingest_demo_logs(runtime.marketing, platform,
                               merchant_number(merchant["address"]), DEMO_LOG_RECORDS,
                               seed=n + 1, progress=advanced)
    reports = await runtime.marketing.tick(int(time.time()))
    return {"created": True, "records": total, "reports": len(reports)}


def tour(runtime: Runtime, seeded: dict) -> list[dict]:
    """Who to act as, and where, to see each capability of the demo (demo mode only:
    it hands out the demo participants' API keys)."""
    m = seeded["merchants"]
    c = seeded["consumers"]
    tills = {t["merchant_id"]: t for t in seeded["terminals"]}
    platform = {"name": "Platform", "api_key": runtime.platform.api_key}

    def step(capability: str, who: dict, role: str, page: str) -> dict:
        return {"capability": capability, "name": who["name"], "role": role,
                "api_key": who["api_key"], "page": page}

    return [
        step("editions", m[0], "merchant", "/editions"),
        step("editions", c[0], "consumer", "/coupons/MOON26-000001"),
        step("promotions", platform, "platform", "/promotions"),
        step("promotions", tills[m[0]["id"]], "terminal", "/promotions/merchant"),
        step("promotions", c[0], "consumer", "/wallet"),
        step("referrals", m[1], "merchant", "/products"),
        step("referrals", c[65], "consumer", "/holdings"),
        step("prizes", m[2], "merchant", "/prizes"),
        step("prizes", tills[m[2]["id"]], "terminal", "/terminal"),
        step("prizes", c[12], "consumer", "/my-prizes"),
        step("marketing", m[0], "merchant", "/marketing"),
    ]
