"""Read model of the participant registry: who is registered, their standing
(with the last reason given), and which capabilities are paused."""

from __future__ import annotations

from sqlalchemy import delete, update

from couponchain.domain.roles import Standing
from couponchain.indexer.projections import PROJECTIONS, IndexedEvent
from couponchain.store.models import CapabilityPause, ParticipantRecord

ZERO = "0x0000000000000000000000000000000000000000"

PROJECTIONS.owns(ParticipantRecord.__table__, CapabilityPause.__table__)  # type: ignore[arg-type]


@PROJECTIONS.on("registry", "ParticipantRegistered")
def participant_registered(session, event: IndexedEvent) -> None:  # noqa: ANN001
    args = event.args
    session.execute(delete(ParticipantRecord).where(
        ParticipantRecord.address == args["account"]))
    session.add(ParticipantRecord(
        address=args["account"], role=args["role"],
        merchant=None if args["merchant"] == ZERO else args["merchant"],
        registrar=args["registrar"], block_number=event.block_number, tx_hash=event.tx_hash,
        status=int(Standing.ACTIVE),
    ))


@PROJECTIONS.on("registry", "PlatformTransferred")
def platform_transferred(session, event: IndexedEvent) -> None:  # noqa: ANN001
    session.execute(delete(ParticipantRecord).where(
        ParticipantRecord.address == event.args["previous"]))


def _standing(session, event: IndexedEvent, standing: Standing, by: str) -> None:  # noqa: ANN001
    session.execute(update(ParticipantRecord).where(
        ParticipantRecord.address == event.args["account"]).values(
        status=int(standing), status_reason=event.args["reason"], status_by=by,
        status_block=event.block_number, status_tx=event.tx_hash))


@PROJECTIONS.on("registry", "ParticipantSuspended")
def participant_suspended(session, event: IndexedEvent) -> None:  # noqa: ANN001
    _standing(session, event, Standing.SUSPENDED, event.args["by"])


@PROJECTIONS.on("registry", "ParticipantReinstated")
def participant_reinstated(session, event: IndexedEvent) -> None:  # noqa: ANN001
    _standing(session, event, Standing.ACTIVE, event.args["by"])


@PROJECTIONS.on("registry", "TerminalUnbound")
def terminal_unbound(session, event: IndexedEvent) -> None:  # noqa: ANN001
    _standing(session, event, Standing.UNBOUND, event.args["merchant"])


def _switch(session, event: IndexedEvent, paused: bool) -> None:  # noqa: ANN001
    args = event.args
    session.execute(delete(CapabilityPause).where(
        CapabilityPause.address == args["capability"]))
    session.add(CapabilityPause(
        address=args["capability"], paused=paused, reason=args["reason"], by=args["by"],
        block_number=event.block_number, tx_hash=event.tx_hash))


@PROJECTIONS.on("registry", "CapabilityPaused")
def capability_paused(session, event: IndexedEvent) -> None:  # noqa: ANN001
    _switch(session, event, True)


@PROJECTIONS.on("registry", "CapabilityUnpaused")
def capability_unpaused(session, event: IndexedEvent) -> None:  # noqa: ANN001
    _switch(session, event, False)
