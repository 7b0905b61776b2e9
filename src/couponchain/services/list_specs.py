"""The console lists described for `services.listing`: what each searches, its
statuses, its date and how a page of its rows is shown (the same objects the
routes returned before the shared mechanism, so old callers keep working).

A spec whose rows need collaborators (the database for names) is made per
request by a function taking them.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, and_, select

from couponchain.domain.edition_slots import Channel, CouponStatus, serial_text
from couponchain.domain.times import iso
from couponchain.services import promotion_views, referral_views
from couponchain.services.editions import EditionService
from couponchain.services.listing import ListSpec, contains, exact, integer, order_ref, party
from couponchain.store.models import (
    CouponRecord,
    EditionRecord,
    Participant,
    PromotionCoupon,
    PromotionRound,
    ReferralBatch,
    ReferralProduct,
    ReferralPurchase,
)


def _now() -> int:
    return int(time.time())


def editions(merchant_id: str | None) -> ListSpec:
    """Editions by id: searched by prefix, title, brand or merchant; `on_sale`,
    `upcoming`, `ended`, `sold_out`, `paused`; dated by registration."""
    async def render(rows: Sequence[Any]) -> list[dict[str, Any]]:
        return [EditionService.public(r, merchant_id=merchant_id) for r in rows]

    now = _now()
    e = EditionRecord
    left = e.cap - e.sold - e.reserved
    return ListSpec(
        name="editions", key=e.id, render=render,
        search=(exact(e.prefix, upper=True), integer(e.id), contains(e.title),
                contains(e.brand), party(e.merchant)),
        statuses={
            "on_sale": and_(e.valid_from <= now, e.valid_until > now, left > 0,
                            e.paused.is_(False)),
            "paused": e.paused.is_(True),
            "upcoming": e.valid_from > now,
            "ended": e.valid_until <= now,
            "sold_out": left <= 0,
        },
        date=e.registered_at)


def edition_coupons(db: Any, prefix: str) -> ListSpec:
    """An edition's coupons (its sales) by serial: searched by serial, customer
    (name, id or address) or order reference; by status; dated by sale."""
    async def render(rows: Sequence[Any]) -> list[dict[str, Any]]:
        ids = await _ids_by_address(db, {r.owner for r in rows} | {r.seller for r in rows})
        return [{
            "serial": serial_text(prefix, r.serial), "coupon_id": r.id,
            "edition_id": r.edition_id, "owner": r.owner, "owner_id": ids.get(r.owner, (None,))[0],
            "owner_name": ids.get(r.owner, (None, None))[1],
            "status": CouponStatus(r.status).name.lower(),
            "channel": Channel(r.channel).name.lower(), "price_paid": int(r.price),
            "order_ref_hash": r.order_ref, "seller": r.seller,
            "seller_name": ids.get(r.seller, (None, None))[1],
            "sold_at": iso(r.sold_at), "tx_hash": r.tx_hash, "block_number": r.block_number,
        } for r in rows]

    c = CouponRecord

    def serial(text: str) -> ColumnElement[bool] | None:
        # "LATTE-000012", "12" and "#12" all name serial 12 of this edition.
        tail = text.upper().removeprefix(prefix + "-") if text.upper().startswith(prefix) \
            else text
        return integer(c.serial)(tail)

    # Each search part is an index search within the edition: (edition_id, serial),
    # (edition_id, owner), (edition_id, order_ref).
    return ListSpec(
        name="sales", key=c.serial, render=render, union_search=True,
        search=(serial, party(c.owner), order_ref(c.order_ref)),
        statuses={s.name.lower(): c.status == int(s) for s in CouponStatus if s.value},
        date=c.sold_at)


async def _ids_by_address(db: Any, addresses: set[str]) -> dict[str, tuple[str, str]]:
    if not addresses:
        return {}
    async with db.session() as s:
        rows = await s.execute(select(Participant.address, Participant.id, Participant.name)
                               .where(Participant.address.in_(sorted(addresses))))
        return {a: (pid, name) for a, pid, name in rows.tuples()}


def participants(render: Callable[[Sequence[Any]], Awaitable[list[dict[str, Any]]]],
                 name: str = "participants") -> ListSpec:
    """Participants by id: searched by name, id or address; dated by creation."""
    p = Participant
    return ListSpec(name=name, key=p.id, key_is_int=False, render=render,
                    search=(contains(p.name), exact(p.id), party(p.address)),
                    date=p.created_at, date_is_datetime=True)


def promotion_rounds() -> ListSpec:
    """Rounds by id: searched by id; `open` (coupons left to grant) or `granted`;
    dated by opening."""
    async def render(rows: Sequence[Any]) -> list[dict[str, Any]]:
        return [promotion_views._round_public(r) for r in rows]

    r = PromotionRound
    return ListSpec(name="rounds", key=r.id, render=render, search=(integer(r.id),),
                    statuses={"open": r.granted < r.total, "granted": r.granted >= r.total},
                    date=r.opened_at)


def promotion_coupons(db: Any) -> ListSpec:
    """Promotion coupons by id: searched by id or by the issuer or redeemer (name or
    address); by status; dated by grant."""
    async def render(rows: Sequence[Any]) -> list[dict[str, Any]]:
        names = await _ids_by_address(db, {x for r in rows for x in (
            r.holder, r.issuer, r.redeemer) if x})
        return [promotion_views._coupon_public(r, names) for r in rows]

    c = PromotionCoupon
    return ListSpec(name="promotion-coupons", key=c.id, render=render,
                    search=(integer(c.id), party(c.issuer), party(c.redeemer)),
                    statuses={v: c.status == k for k, v in promotion_views.STATUS.items()},
                    date=c.granted_at)


def referral_products(db: Any) -> ListSpec:
    """Products by id: searched by id, name or originator; dated by registration."""
    async def render(rows: Sequence[Any]) -> list[dict[str, Any]]:
        async with db.session() as s:
            current = {(b.product_id, b.batch): b for b in (await s.execute(
                select(ReferralBatch).where(ReferralBatch.product_id.in_(
                    [r.id for r in rows])))).scalars()} if rows else {}
        names = await _ids_by_address(db, {r.originator for r in rows})
        return [referral_views._product_public(r, names, current.get((r.id, r.batch_count)))
                for r in rows]

    p = ReferralProduct
    return ListSpec(name="products", key=p.id, render=render,
                    search=(integer(p.id), contains(p.name), party(p.originator)),
                    date=p.registered_at)


def referral_purchases(db: Any) -> ListSpec:
    """A product's purchases, newest first: searched by id or by the buyer or
    promoter (name, id or address); dated by purchase."""
    async def render(rows: Sequence[Any]) -> list[dict[str, Any]]:
        names = await _ids_by_address(db, {x for r in rows for x in (r.buyer, r.promoter) if x})
        return [referral_views._purchase_public(r, names) for r in rows]

    b = ReferralPurchase
    return ListSpec(name="purchases", key=b.id, render=render, descending=True,
                    search=(integer(b.id), party(b.buyer), party(b.promoter)),
                    date=b.timestamp)
