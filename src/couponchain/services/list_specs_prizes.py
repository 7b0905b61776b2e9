"""The prize and report lists described for `services.listing` (issue 25): prize
campaigns, a campaign's or a consumer's awards, a campaign's claims and a
merchant's marketing reports. Each is searched, filtered by status and date,
paged by cursor and exported as CSV like the other console lists
(`list_specs`); each page shows the same objects the routes returned before.

A spec is made per request: its statuses compare with the current time, and its
rows need the database to be shown (names, prizes, claim evidence).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, and_, select

from couponchain.services import marketing_views, prize_views
from couponchain.services.list_specs import _ids_by_address
from couponchain.services.listing import ListSpec, contains, integer, party
from couponchain.store.models import (
    MarketingDelivery,
    MarketingReport,
    PrizeAward,
    PrizeCampaign,
    PrizeClaim,
    PrizeScan,
)

#: The statuses a campaign is in, by its claim window.
CAMPAIGN_STATUSES = ("upcoming", "open", "ended")


def campaign_status(starts: int, ends: int, now: int) -> str:
    """`upcoming`, `open` or `ended`: where `now` falls in the claim window."""
    return "upcoming" if now < starts else "open" if now < ends else "ended"


def campaigns(db: Any) -> ListSpec:
    """Prize campaigns by id, newest first: searched by number, title or merchant
    (name, id or address); `upcoming`, `open`, `ended` by the claim window; dated
    by creation."""
    now = int(time.time())

    async def render(rows: Sequence[Any]) -> list[dict[str, Any]]:
        names = await _ids_by_address(db, {r.merchant for r in rows})
        return [{
            "id": r.id, "title": r.title, "merchant": r.merchant,
            "merchant_id": names.get(r.merchant, (None, None))[0],
            "merchant_name": names.get(r.merchant, (None, None))[1],
            "status": campaign_status(r.starts, r.ends, now),
            "starts_at": prize_views.iso(r.starts), "ends_at": prize_views.iso(r.ends),
            "per_consumer_limit": r.per_consumer_limit, "awarded": r.awarded,
            "claimed": r.claimed, "revoked": r.revoked, "all_terminals": r.all_terminals,
            "terminals": len(r.terminals), "created_at": prize_views.iso(r.created_at),
            "created_block": r.block_number, "created_tx": r.tx_hash,
        } for r in rows]

    c = PrizeCampaign
    return ListSpec(
        name="prize-campaigns", key=c.id, render=render, descending=True,
        search=(integer(c.id), contains(c.title), party(c.merchant)),
        statuses={"upcoming": c.starts > now, "open": and_(c.starts <= now, c.ends > now),
                  "ended": c.ends <= now},
        date=c.created_at)


def awards(db: Any) -> ListSpec:
    """Awards by id: searched by award number or by the winner (name, id or
    address); `awarded`, `claimed`, `revoked`; dated by award."""
    async def render(rows: Sequence[Any]) -> list[dict[str, Any]]:
        async with db.session() as s:
            shown = await prize_views._award_rows(s, list(rows))
        names = await _ids_by_address(db, {r.consumer for r in rows})
        for award in shown:
            award["consumer_id"], award["consumer_name"] = names.get(
                award["consumer"], (None, None))
        return shown

    a = PrizeAward
    return ListSpec(
        name="prize-awards", key=a.id, render=render,
        search=(integer(a.id), party(a.consumer)),
        statuses={name: a.status == number for number, name in prize_views.STATUS.items()},
        date=a.awarded_at)


def claims(db: Any) -> ListSpec:
    """A campaign's claim rows, newest first: searched by claim or award number,
    by the winner or the terminal (name, id or address) or by prize name;
    `pending`, `recorded`, `refused`, and `offline` (queued by a terminal);
    dated by claim."""
    async def render(rows: Sequence[Any]) -> list[dict[str, Any]]:
        scans = [r.scan_id for r in rows if r.source == "offline"]
        async with db.session() as s:
            local = dict((await s.execute(select(PrizeScan.id, PrizeScan.local_scanned_at)
                                          .where(PrizeScan.id.in_(scans)))).tuples().all()
                         ) if scans else {}
        names = await _ids_by_address(db, {x for r in rows for x in (r.consumer, r.terminal)})
        return [{
            **prize_views.claim_public(r),
            "terminal_name": names.get(r.terminal, (None, None))[1],
            "consumer_id": names.get(r.consumer, (None, None))[0],
            "consumer_name": names.get(r.consumer, (None, None))[1],
            "scanned_offline_at": prize_views.iso(local[r.scan_id])
            if local.get(r.scan_id) is not None else None,
        } for r in rows]

    c = PrizeClaim
    statuses: dict[str, ColumnElement[bool]] = {
        s: c.status == s for s in ("pending", "recorded", "refused")}
    statuses["offline"] = c.source == "offline"
    return ListSpec(
        name="prize-claims", key=c.id, render=render, descending=True,
        search=(integer(c.id), integer(c.award_id), party(c.consumer), party(c.terminal),
                contains(c.prize_name)),
        statuses=statuses, date=c.claimed_at)


def reports(db: Any) -> ListSpec:
    """A merchant's marketing reports, newest first: searched by report number,
    chain report number or report hash; `pending`, `published`, `failed`; dated
    by when the report was computed."""
    async def render(rows: Sequence[Any]) -> list[dict[str, Any]]:
        ids = [r.id for r in rows]
        async with db.session() as s:
            deliveries = {d.report_id: d for d in (await s.execute(select(
                MarketingDelivery).where(MarketingDelivery.report_id.in_(ids)))).scalars()
                          } if ids else {}
        return [marketing_views.report_summary(r, deliveries.get(r.id)) for r in rows]

    r = MarketingReport

    def report_hash(text: str) -> ColumnElement[bool] | None:
        return r.report_hash == text.lower() if text.lower().startswith("0x") else None

    return ListSpec(
        name="reports", key=r.id, render=render, descending=True,
        search=(integer(r.id), integer(r.chain_report_id), report_hash),
        statuses={s: r.status == s for s in ("pending", "published", "failed")},
        date=r.created_at)
