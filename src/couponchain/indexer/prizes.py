"""Read model of prize campaigns, their stock, awards and claims (DESIGN §2.4).

Built from the prizes contract's events only. The counters follow the
contract's: `awarded` counts live awards (a revoked award gives its unit back
to the stock and counts in `revoked`), `claimed` counts claimed awards. The
service's own prize-claim rows (`PrizeClaim`, `PrizeScan`) are not read models
and are never rebuilt from here.
"""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from couponchain.indexer.projections import PROJECTIONS, IndexedEvent
from couponchain.store.models import PrizeAward, PrizeCampaign, PrizeClaimRecord, PrizeStock

AWARDED, CLAIMED, REVOKED = 1, 2, 3

PROJECTIONS.owns(
    PrizeCampaign.__table__,  # type: ignore[arg-type]
    PrizeStock.__table__,  # type: ignore[arg-type]
    PrizeAward.__table__,  # type: ignore[arg-type]
    PrizeClaimRecord.__table__,  # type: ignore[arg-type]
)


async def _bump(session: AsyncSession, campaign_id: int, prize_index: int,
                **deltas: int) -> None:
    """Move a prize's counters and its campaign's totals by the same deltas."""
    await session.execute(update(PrizeStock).where(
        PrizeStock.campaign_id == campaign_id, PrizeStock.prize_index == prize_index)
        .values({n: getattr(PrizeStock, n) + d for n, d in deltas.items()}))
    await session.execute(update(PrizeCampaign).where(PrizeCampaign.id == campaign_id)
                          .values({n: getattr(PrizeCampaign, n) + d
                                   for n, d in deltas.items()}))


@PROJECTIONS.on("prizes", "CampaignCreated")
async def campaign_created(session: AsyncSession, event: IndexedEvent) -> None:
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


@PROJECTIONS.on("prizes", "Awarded")
async def awarded(session: AsyncSession, event: IndexedEvent) -> None:
    a = event.args
    campaign_id, index = int(a["campaign_id"]), int(a["prize_index"])
    session.add(PrizeAward(
        id=int(a["award_id"]), campaign_id=campaign_id, consumer=a["consumer"],
        prize_index=index, status=AWARDED, awarded_at=event.timestamp,
        block_number=event.block_number, tx_hash=event.tx_hash,
    ))
    await session.flush()
    await _bump(session, campaign_id, index, awarded=1)


@PROJECTIONS.on("prizes", "Claimed")
async def claimed(session: AsyncSession, event: IndexedEvent) -> None:
    a = event.args
    award_id, campaign_id, index = int(a["award_id"]), int(a["campaign_id"]), int(
        a["prize_index"])
    await session.execute(update(PrizeAward).where(PrizeAward.id == award_id)
                          .values(status=CLAIMED))
    session.add(PrizeClaimRecord(
        award_id=award_id, campaign_id=campaign_id, consumer=a["consumer"], prize_index=index,
        terminal=a["terminal"], claimed_at=int(a["claimed_at"]),
        block_number=event.block_number, tx_hash=event.tx_hash,
    ))
    await session.flush()
    await _bump(session, campaign_id, index, claimed=1)


@PROJECTIONS.on("prizes", "AwardRevoked")
async def award_revoked(session: AsyncSession, event: IndexedEvent) -> None:
    a = event.args
    campaign_id, index = int(a["campaign_id"]), int(a["prize_index"])
    await session.execute(update(PrizeAward).where(PrizeAward.id == int(a["award_id"]))
                          .values(status=REVOKED))
    await _bump(session, campaign_id, index, awarded=-1, revoked=1)
