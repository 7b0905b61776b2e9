"""Read model of prize campaigns, their stock, awards and claims (DESIGN §2.4).

Built from the prizes contract's events only. The counters follow the
contract's: `awarded` counts live awards (a revoked award gives its unit back
to the stock and counts in `revoked`), `claimed` counts claimed awards. The
service's own prize-claim rows (`PrizeClaim`, `PrizeScan`) are not read models
and are never rebuilt from here.
"""

from __future__ import annotations

from collections import Counter

from sqlalchemy import bindparam, update
from sqlalchemy.orm import Session

from couponchain.indexer.projections import PROJECTIONS, IndexedEvent
from couponchain.store.models import PrizeAward, PrizeCampaign, PrizeClaimRecord, PrizeStock

AWARDED, CLAIMED, REVOKED = 1, 2, 3

PROJECTIONS.owns(
    PrizeCampaign.__table__,  # type: ignore[arg-type]
    PrizeStock.__table__,  # type: ignore[arg-type]
    PrizeAward.__table__,  # type: ignore[arg-type]
    PrizeClaimRecord.__table__,  # type: ignore[arg-type]
)


def _bump(session: Session, campaign_id: int, prize_index: int,
                **deltas: int) -> None:
    """Move a prize's counters and its campaign's totals by the same deltas."""
    session.execute(update(PrizeStock).where(
        PrizeStock.campaign_id == campaign_id, PrizeStock.prize_index == prize_index)
        .values({n: getattr(PrizeStock, n) + d for n, d in deltas.items()}))
    session.execute(update(PrizeCampaign).where(PrizeCampaign.id == campaign_id)
                          .values({n: getattr(PrizeCampaign, n) + d
                                   for n, d in deltas.items()}))


@PROJECTIONS.on("prizes", "CampaignCreated")
def campaign_created(session: Session, event: IndexedEvent) -> None:
    a = event.args
    campaign_id = int(a["campaign_id"])
    session.add(PrizeCampaign(
        id=campaign_id, merchant=a["merchant"], title=a["title"],
        all_terminals=bool(a["all_terminals"]), terminals=list(a["terminals"]),
        starts=int(a["starts"]), ends=int(a["ends"]),
        per_consumer_limit=int(a["per_consumer_limit"]), awarded=0, claimed=0, revoked=0,
        created_at=event.timestamp, block_number=event.block_number, tx_hash=event.tx_hash,
    ))
    session.add_all([PrizeStock(campaign_id=campaign_id, prize_index=i, name=name,
                                quantity=int(quantity), awarded=0, claimed=0, revoked=0)
                     for i, (name, quantity) in enumerate(zip(a["prize_names"], a["quantities"],
                                                              strict=True))])


@PROJECTIONS.on_runs("prizes", "Awarded")
def awarded(session: Session, events: list[IndexedEvent]) -> None:
    session.add_all([PrizeAward(
        id=int(e.args["award_id"]), campaign_id=int(e.args["campaign_id"]),
        consumer=e.args["consumer"], prize_index=int(e.args["prize_index"]), status=AWARDED,
        awarded_at=e.timestamp, block_number=e.block_number, tx_hash=e.tx_hash,
    ) for e in events])
    session.flush()
    _bump_each(session, events, "awarded")


@PROJECTIONS.on_runs("prizes", "Claimed")
def claimed(session: Session, events: list[IndexedEvent]) -> None:
    table = PrizeAward.__table__
    session.execute(  # one statement for the run (executemany)
        update(table).where(table.c.id == bindparam("award"))  # type: ignore[arg-type]
        .values(status=CLAIMED),
        [{"award": int(e.args["award_id"])} for e in events])
    session.add_all([PrizeClaimRecord(
        award_id=int(e.args["award_id"]), campaign_id=int(e.args["campaign_id"]),
        consumer=e.args["consumer"], prize_index=int(e.args["prize_index"]),
        terminal=e.args["terminal"], claimed_at=int(e.args["claimed_at"]),
        block_number=e.block_number, tx_hash=e.tx_hash,
    ) for e in events])
    session.flush()
    _bump_each(session, events, "claimed")


def _bump_each(session: Session, events: list[IndexedEvent], counter: str) -> None:
    """Add each event's unit to its prize's and campaign's `counter`, once per prize."""
    per_prize = Counter((int(e.args["campaign_id"]), int(e.args["prize_index"]))
                        for e in events)
    for (campaign_id, index), count in sorted(per_prize.items()):
        _bump(session, campaign_id, index, **{counter: count})


@PROJECTIONS.on("prizes", "AwardRevoked")
def award_revoked(session: Session, event: IndexedEvent) -> None:
    a = event.args
    campaign_id, index = int(a["campaign_id"]), int(a["prize_index"])
    session.execute(update(PrizeAward).where(PrizeAward.id == int(a["award_id"]))
                          .values(status=REVOKED))
    _bump(session, campaign_id, index, awarded=-1, revoked=1)


@PROJECTIONS.on("prizes", "WindowChanged")
def window_changed(session: Session, event: IndexedEvent) -> None:
    """The merchant moved a running campaign's window end."""
    session.execute(update(PrizeCampaign).where(
        PrizeCampaign.id == int(event.args["campaign_id"])).values(ends=int(event.args["ends"])))


@PROJECTIONS.on("prizes", "StockChanged")
def stock_changed(session: Session, event: IndexedEvent) -> None:
    """The merchant set a prize's stock."""
    a = event.args
    session.execute(update(PrizeStock).where(
        PrizeStock.campaign_id == int(a["campaign_id"]),
        PrizeStock.prize_index == int(a["prize_index"])).values(quantity=int(a["quantity"])))


@PROJECTIONS.on("prizes", "TerminalsChanged")
def terminals_changed(session: Session, event: IndexedEvent) -> None:
    """The merchant changed which terminals may hand the campaign's prizes out
    (removals first, as the contract applies them)."""
    a = event.args
    campaign = session.get(PrizeCampaign, int(a["campaign_id"]))
    if campaign is None:  # pragma: no cover - the contract refuses unknown campaigns
        return
    removed = set(a["removed"])
    campaign.terminals = [t for t in campaign.terminals if t not in removed] + list(a["added"])
    campaign.all_terminals = bool(a["all_terminals"])
