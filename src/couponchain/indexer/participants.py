"""Read model of the participant registry."""

from __future__ import annotations

from sqlalchemy import delete

from couponchain.indexer.projections import PROJECTIONS, IndexedEvent
from couponchain.store.models import ParticipantRecord

ZERO = "0x0000000000000000000000000000000000000000"

PROJECTIONS.owns(ParticipantRecord.__table__)  # type: ignore[arg-type]


@PROJECTIONS.on("registry", "ParticipantRegistered")
def participant_registered(session, event: IndexedEvent) -> None:  # noqa: ANN001
    args = event.args
    session.execute(delete(ParticipantRecord).where(
        ParticipantRecord.address == args["account"]))
    session.add(ParticipantRecord(
        address=args["account"], role=args["role"],
        merchant=None if args["merchant"] == ZERO else args["merchant"],
        registrar=args["registrar"], block_number=event.block_number, tx_hash=event.tx_hash,
    ))


@PROJECTIONS.on("registry", "PlatformTransferred")
def platform_transferred(session, event: IndexedEvent) -> None:  # noqa: ANN001
    session.execute(delete(ParticipantRecord).where(
        ParticipantRecord.address == event.args["previous"]))
