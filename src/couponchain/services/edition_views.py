"""Read-only views of limited editions for the console and the public pages.

Everything here reads the read models (built from chain events only); the
writes live in `services/editions.py`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from couponchain.store.models import CouponRecord, EditionRecord, EditionReservation

#: Width of one point of the sales timeline, in seconds.
MINUTE = 60


async def editions_of(db: Any, merchant: str | None, limit: int,
                      after: int | None) -> list[EditionRecord]:
    """Editions by id (newest last), optionally of one merchant address, after a cursor."""
    query = select(EditionRecord)
    if merchant is not None:
        query = query.where(EditionRecord.merchant == merchant)
    if after is not None:
        query = query.where(EditionRecord.id > after)
    async with db.session() as s:
        return list((await s.execute(query.order_by(EditionRecord.id).limit(limit))).scalars())


async def coupons_of(db: Any, edition_id: int, limit: int,
                     after_serial: int = 0) -> list[CouponRecord]:
    """An edition's sold coupons in serial order, `limit` after `after_serial`."""
    query = (select(CouponRecord)
             .where(CouponRecord.edition_id == edition_id, CouponRecord.serial > after_serial)
             .order_by(CouponRecord.serial).limit(limit))
    async with db.session() as s:
        return list((await s.execute(query)).scalars())


async def sales_timeline(db: Any, edition_id: int) -> list[tuple[int, int]]:
    """(start of minute as epoch seconds, coupons sold in it), oldest first.

    A sale counts in the minute of its block, also when it was voided later:
    the timeline is of sales made, the counters say what became of them.
    Minutes without sales are left out.
    """
    minute = (CouponRecord.sold_at // MINUTE).label("minute")
    query = (select(minute, func.count()).where(CouponRecord.edition_id == edition_id)
             .group_by(minute).order_by(minute))
    async with db.session() as s:
        rows = (await s.execute(query)).tuples().all()
    return [(int(m) * MINUTE, int(n)) for m, n in rows]


async def reservations_of(db: Any, edition_id: int,
                          expired_at: int | None = None) -> list[EditionReservation]:
    """An edition's open reservations (pieces still held), oldest first; with
    `expired_at`, only those expired by then (anyone may release those)."""
    query = select(EditionReservation).where(
        EditionReservation.edition_id == edition_id, EditionReservation.status == "open",
        EditionReservation.left > 0)
    if expired_at is not None:
        query = query.where(EditionReservation.expires <= expired_at)
    async with db.session() as s:
        return list((await s.execute(
            query.order_by(EditionReservation.block_number))).scalars())
