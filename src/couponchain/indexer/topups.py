"""Read model of top-ups at merchants' tills (issue 24), from the token's events only.

`TillLimitSet` keeps each merchant's limit as the platform last set it;
`TillCredited` adds a row per credit, which the consumer's wallet and the
merchant's till list. The token's `Transfer` events are not projected.
"""

from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy.orm import Session

from couponchain.indexer.projections import PROJECTIONS, IndexedEvent
from couponchain.store.models import TillCredit, TillLimit

PROJECTIONS.owns(TillLimit.__table__, TillCredit.__table__)  # type: ignore[arg-type]


@PROJECTIONS.on("token", "TillLimitSet")
def till_limit_set(session: Session, event: IndexedEvent) -> None:
    a = event.args
    session.execute(delete(TillLimit).where(TillLimit.merchant == a["merchant"]))
    session.add(TillLimit(
        merchant=a["merchant"], limit=str(a["limit"]), credited=str(a["credited"]),
        set_by=a["platform"], block_number=event.block_number, tx_hash=event.tx_hash,
        timestamp=event.timestamp))


@PROJECTIONS.on("token", "TillCredited")
def till_credited(session: Session, event: IndexedEvent) -> None:
    a = event.args
    session.add(TillCredit(
        merchant=a["merchant"], consumer=a["consumer"], operator=a["operator"],
        amount=str(a["amount"]), remaining=str(a["remaining"]), reference=a["reference"],
        block_number=event.block_number, log_index=event.log_index, tx_hash=event.tx_hash,
        timestamp=event.timestamp))
