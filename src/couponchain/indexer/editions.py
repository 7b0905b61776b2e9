"""Read model of limited editions and their coupons (DESIGN §2.1).

Built from the editions contract's events only: the edition's declared data
and counters (with the pieces held by open capacity reservations), each
coupon's current state, each coupon's history, and each reservation.
"""

from __future__ import annotations

from collections import Counter
from typing import cast

from sqlalchemy import Table, update
from sqlalchemy.orm import Session

from couponchain.domain.edition_slots import CouponStatus
from couponchain.indexer.projections import PROJECTIONS, IndexedEvent
from couponchain.indexer.rows import insert_rows
from couponchain.store.models import (
    CouponHistory,
    CouponRecord,
    EditionRecord,
    EditionReservation,
)

PROJECTIONS.owns(
    EditionRecord.__table__,  # type: ignore[arg-type]
    CouponRecord.__table__,  # type: ignore[arg-type]
    CouponHistory.__table__,  # type: ignore[arg-type]
    EditionReservation.__table__,  # type: ignore[arg-type]
)

_COUPONS = cast(Table, CouponRecord.__table__)
_COUPON_COLUMNS = ("id", "edition_id", "serial", "owner", "status", "channel", "price",
                   "order_ref", "seller", "sold_at", "block_number", "tx_hash")
_HISTORY = cast(Table, CouponHistory.__table__)
_HISTORY_COLUMNS = ("coupon_id", "action", "sender", "receiver", "actor", "block_number",
                    "block_hash", "log_index", "tx_hash", "timestamp")
ACTIVE = int(CouponStatus.ACTIVE)


def _history(event: IndexedEvent, action: str, *, sender: str | None, receiver: str | None,
             actor: str) -> CouponHistory:
    return CouponHistory(
        coupon_id=int(event.args["coupon_id"]), action=action, sender=sender, receiver=receiver,
        actor=actor, block_number=event.block_number, block_hash=event.block_hash,
        log_index=event.log_index, tx_hash=event.tx_hash, timestamp=event.timestamp,
    )


@PROJECTIONS.on("editions", "EditionRegistered")
def edition_registered(session: Session, event: IndexedEvent) -> None:
    a = event.args
    session.add(EditionRecord(
        id=int(a["edition_id"]), merchant=a["merchant"], brand=a["brand"], title=a["title"],
        prefix=a["prefix"], cap=int(a["cap"]), price=str(a["price"]),
        valid_from=int(a["valid_from"]), valid_until=int(a["valid_until"]),
        content_hash=a["content_hash"], sold=0, voided=0, redeemed=0, reserved=0,
        registered_at=event.timestamp, block_number=event.block_number, tx_hash=event.tx_hash,
    ))


@PROJECTIONS.on_runs("editions", "CouponSold")
def coupons_sold(session: Session, events: list[IndexedEvent]) -> None:
    """A run of sales (a bulk sale makes hundreds in a row): its coupon and history
    rows in one statement each, and each edition's `sold` moved once by the run's count."""
    session.flush()  # rows earlier handlers added (the edition itself) go first
    insert_rows(session, _COUPONS, _COUPON_COLUMNS, [
        (int(e.args["coupon_id"]), int(e.args["edition_id"]), int(e.args["serial"]),
         e.args["buyer"], ACTIVE, int(e.args["channel"]), str(e.args["price"]),
         e.args["order_ref"], e.args["seller"], int(e.args["sold_at"]), e.block_number,
         e.tx_hash) for e in events])
    insert_rows(session, _HISTORY, _HISTORY_COLUMNS, [
        (int(e.args["coupon_id"]), "sold", None, e.args["buyer"], e.args["seller"],
         e.block_number, e.block_hash, e.log_index, e.tx_hash, e.timestamp) for e in events])
    per_edition = Counter(int(e.args["edition_id"]) for e in events)
    for edition_id, count in per_edition.items():
        session.execute(update(EditionRecord).where(EditionRecord.id == edition_id)
                              .values(sold=EditionRecord.sold + count))


@PROJECTIONS.on("editions", "CouponTransferred")
def coupon_transferred(session: Session, event: IndexedEvent) -> None:
    a = event.args
    session.execute(update(CouponRecord).where(CouponRecord.id == int(a["coupon_id"]))
                          .values(owner=a["receiver"]))
    session.add(_history(event, "transferred", sender=a["sender"], receiver=a["receiver"],
                         actor=a["sender"]))


def _finish(session: Session, event: IndexedEvent, status: CouponStatus,
                  counter: str, action: str) -> None:
    a = event.args
    session.execute(update(CouponRecord).where(CouponRecord.id == int(a["coupon_id"]))
                          .values(status=int(status)))
    column = getattr(EditionRecord, counter)
    session.execute(update(EditionRecord).where(EditionRecord.id == int(a["edition_id"]))
                          .values({counter: column + 1}))
    session.add(_history(event, action, sender=a["owner"], receiver=None, actor=a["by"]))


@PROJECTIONS.on("editions", "CouponRedeemed")
def coupon_redeemed(session: Session, event: IndexedEvent) -> None:
    _finish(session, event, CouponStatus.REDEEMED, "redeemed", "redeemed")


@PROJECTIONS.on("editions", "CouponVoided")
def coupon_voided(session: Session, event: IndexedEvent) -> None:
    _finish(session, event, CouponStatus.VOIDED, "voided", "voided")


def _reserved_by(session: Session, edition_id: int, delta: int) -> None:
    session.execute(update(EditionRecord).where(EditionRecord.id == edition_id)
                          .values(reserved=EditionRecord.reserved + delta))


@PROJECTIONS.on("editions", "CapacityReserved")
def capacity_reserved(session: Session, event: IndexedEvent) -> None:
    a = event.args
    edition_id, count = int(a["edition_id"]), int(a["count"])
    session.add(EditionReservation(
        id=a["reservation"], edition_id=edition_id, holder=a["holder"], count=count,
        left=count, expires=int(a["expires"]), status="open",
        block_number=event.block_number, tx_hash=event.tx_hash,
    ))
    _reserved_by(session, edition_id, count)


@PROJECTIONS.on("editions", "ReservationConsumed")
def reservation_consumed(session: Session, event: IndexedEvent) -> None:
    # `sold` moves with the sale's own CouponSold events.
    a = event.args
    session.execute(update(EditionReservation)
                          .where(EditionReservation.id == a["reservation"])
                          .values(left=int(a["left"])))
    _reserved_by(session, int(a["edition_id"]), -int(a["count"]))


@PROJECTIONS.on("editions", "ReservationReleased")
def reservation_released(session: Session, event: IndexedEvent) -> None:
    a = event.args
    session.execute(update(EditionReservation)
                          .where(EditionReservation.id == a["reservation"])
                          .values(left=0, status="released"))
    _reserved_by(session, int(a["edition_id"]), -int(a["returned"]))
