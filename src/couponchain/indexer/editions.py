"""Read model of limited editions and their coupons (DESIGN §2.1).

Built from the editions contract's events only: the edition's declared data
and counters (with the pieces held by open capacity reservations), each
coupon's current state, each coupon's history, and each reservation; whether
its merchant paused its sales and its changes (paused, resumed, extended).
"""

from __future__ import annotations

from collections import Counter
from typing import cast

from sqlalchemy import Table, bindparam, update
from sqlalchemy.orm import Session

from couponchain.domain.edition_slots import CouponStatus
from couponchain.indexer.projections import PROJECTIONS, IndexedEvent
from couponchain.indexer.rows import insert_rows
from couponchain.store.models import (
    CouponHistory,
    CouponRecord,
    EditionChange,
    EditionRecord,
    EditionReservation,
)

PROJECTIONS.owns(
    EditionChange.__table__,  # type: ignore[arg-type]
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
#: One statement each for a whole run (executemany), straight to the coupon rows: no
#: handler loads coupon objects into the session, so none can hold stale values.
_SET_OWNER = (update(_COUPONS).where(_COUPONS.c.id == bindparam("coupon"))
              .values(owner=bindparam("receiver")))
_SET_STATUS = (update(_COUPONS).where(_COUPONS.c.id == bindparam("coupon"))
               .values(status=bindparam("status_to")))


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


@PROJECTIONS.on_runs("editions", "CouponTransferred")
def coupons_transferred(session: Session, events: list[IndexedEvent]) -> None:
    """A run of transfers: each coupon's owner set once, to its last receiver in the run
    (what the transfers one by one leave), and the run's history rows in one statement."""
    session.flush()  # rows earlier handlers added go first
    owners = {int(e.args["coupon_id"]): e.args["receiver"] for e in events}
    session.execute(_SET_OWNER, [{"coupon": coupon_id, "receiver": owner}
                                 for coupon_id, owner in owners.items()])
    insert_rows(session, _HISTORY, _HISTORY_COLUMNS, [
        (int(e.args["coupon_id"]), "transferred", e.args["sender"], e.args["receiver"],
         e.args["sender"], e.block_number, e.block_hash, e.log_index, e.tx_hash, e.timestamp)
        for e in events])


def _finish(session: Session, events: list[IndexedEvent], status: CouponStatus,
            counter: str, action: str) -> None:
    """A run of redemptions or voids: the coupons' status in one statement (the same
    for the whole run), the history rows in another, and each edition's `counter`
    moved once by its count in the run."""
    session.flush()  # rows earlier handlers added go first
    session.execute(_SET_STATUS, [{"coupon": int(e.args["coupon_id"]), "status_to": int(status)}
                                  for e in events])
    insert_rows(session, _HISTORY, _HISTORY_COLUMNS, [
        (int(e.args["coupon_id"]), action, e.args["owner"], None, e.args["by"],
         e.block_number, e.block_hash, e.log_index, e.tx_hash, e.timestamp) for e in events])
    column = getattr(EditionRecord, counter)
    per_edition = Counter(int(e.args["edition_id"]) for e in events)
    for edition_id, count in per_edition.items():
        session.execute(update(EditionRecord).where(EditionRecord.id == edition_id)
                              .values({counter: column + count}))


@PROJECTIONS.on_runs("editions", "CouponRedeemed")
def coupons_redeemed(session: Session, events: list[IndexedEvent]) -> None:
    _finish(session, events, CouponStatus.REDEEMED, "redeemed", "redeemed")


@PROJECTIONS.on_runs("editions", "CouponVoided")
def coupons_voided(session: Session, events: list[IndexedEvent]) -> None:
    _finish(session, events, CouponStatus.VOIDED, "voided", "voided")


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


def _changed(session: Session, event: IndexedEvent, action: str, **values: object) -> None:
    a = event.args
    edition_id = int(a["edition_id"])
    if values:
        session.execute(update(EditionRecord).where(EditionRecord.id == edition_id)
                              .values(**values))
    session.add(EditionChange(
        edition_id=edition_id, action=action, actor=a["by"],
        old_valid_until=int(a["old_valid_until"]) if "old_valid_until" in a else None,
        valid_until=int(a["valid_until"]) if "valid_until" in a else None,
        reason_hash=a["reason_hash"], block_number=event.block_number,
        block_hash=event.block_hash, log_index=event.log_index, tx_hash=event.tx_hash,
        timestamp=event.timestamp))


@PROJECTIONS.on("editions", "EditionPaused")
def edition_paused(session: Session, event: IndexedEvent) -> None:
    _changed(session, event, "paused", paused=True)


@PROJECTIONS.on("editions", "EditionResumed")
def edition_resumed(session: Session, event: IndexedEvent) -> None:
    _changed(session, event, "resumed", paused=False)


@PROJECTIONS.on("editions", "EditionExtended")
def edition_extended(session: Session, event: IndexedEvent) -> None:
    _changed(session, event, "extended", valid_until=int(event.args["valid_until"]))
