"""Notifications from projected events: a prize awarded or claimed, a report published.

These handlers own no table: they record notifications (`services/notifications.py`)
in the indexer's transaction, next to the read-model rows of the same events, so a
notification exists exactly when its event is projected. Replayed after a rewind,
an event finds its notification recorded already (`dedupe`) and adds none; an event
older than `FRESH_FOR` (a day) adds none either (a rebuild after an upgrade replays
every event since the first block).
"""

from __future__ import annotations

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from couponchain.indexer.projections import PROJECTIONS, IndexedEvent
from couponchain.services.notifications import (
    PRIZE_AWARDED,
    PRIZE_CLAIMED,
    REPORT_READY,
    Pending,
    fresh,
    record,
)
from couponchain.store.models import MarketingReport, Participant, PrizeCampaign, PrizeStock


def _prizes(session: Session, events: list[IndexedEvent], kind: str) -> None:
    events = [e for e in events if fresh(e.timestamp)]
    if not events:
        return
    campaigns = {int(e.args["campaign_id"]) for e in events}
    found = {c.id: c for c in session.execute(select(PrizeCampaign).where(
        PrizeCampaign.id.in_(campaigns))).scalars()}
    pairs = {(int(e.args["campaign_id"]), int(e.args["prize_index"])) for e in events}
    names = {(s.campaign_id, s.prize_index): s.name for s in session.execute(
        select(PrizeStock).where(tuple_(PrizeStock.campaign_id, PrizeStock.prize_index)
                                 .in_(pairs))).scalars()}
    people = {e.args["consumer"] for e in events} | {
        e.args["terminal"] for e in events if "terminal" in e.args}
    named = dict(session.execute(select(Participant.address, Participant.name).where(
        Participant.address.in_(people))).all())
    items = []
    for e in events:
        campaign = found.get(int(e.args["campaign_id"]))
        if campaign is None:
            continue
        key = (campaign.id, int(e.args["prize_index"]))
        data = {"award_id": int(e.args["award_id"]), "campaign_id": campaign.id,
                "campaign": campaign.title, "prize": names.get(key, ""),
                "consumer": e.args["consumer"],
                "consumer_name": named.get(e.args["consumer"]), "at": e.timestamp,
                "tx_hash": e.tx_hash}
        if "terminal" in e.args:
            data["terminal_name"] = named.get(e.args["terminal"])
        items.append(Pending(campaign.merchant, kind, f"{kind}:{e.args['award_id']}", data))
    record(session, items)


@PROJECTIONS.on_runs("prizes", "Awarded")
def prize_awarded(session: Session, events: list[IndexedEvent]) -> None:
    _prizes(session, events, PRIZE_AWARDED)


@PROJECTIONS.on_runs("prizes", "Claimed")
def prize_claimed(session: Session, events: list[IndexedEvent]) -> None:
    _prizes(session, events, PRIZE_CLAIMED)


@PROJECTIONS.on("marketing", "ReportPublished")
def report_ready(session: Session, event: IndexedEvent) -> None:
    a = event.args
    if not fresh(event.timestamp):
        return
    stored = session.execute(select(MarketingReport.id).where(
        MarketingReport.report_hash == a["report_hash"])).scalar()
    record(session, [Pending(a["merchant"], REPORT_READY, f"{REPORT_READY}:{a['report_id']}", {
        "report_id": stored, "chain_report_id": int(a["report_id"]),
        "period_start": int(a["period_start"]), "period_end": int(a["period_end"]),
        "at": event.timestamp, "tx_hash": event.tx_hash})])
