"""Read-only views of promotion rounds, coupons and write-offs.

Everything here reads the read models (built from chain events only) and the
published evaluations; the writes live in `services/promotions.py`.
"""

from __future__ import annotations

from typing import Any

from eth_utils import keccak
from sqlalchemy import Numeric, cast, func, select

from couponchain.domain.evaluation import Evaluation
from couponchain.domain.times import iso
from couponchain.errors import NotFound
from couponchain.store.models import (
    Participant,
    PromotionAllocation,
    PromotionCoupon,
    PromotionEvaluation,
    PromotionPath,
    PromotionRound,
)

STATUS = {1: "active", 2: "written_off", 3: "distributed"}
SHARE_NAMES = ("platform", "issuer", "redeemer", "holder", "earlier")
#: Width of one point of the write-off timeline, in seconds.
MINUTE = 60


def evaluation_key(inputs_hash: str, measured: str | None) -> str:
    """Where a round's published evaluation is kept: its inputs hash, or for a
    measured round keccak(inputs_hash || measured_hash), since two periods may
    give the same formula inputs."""
    if measured is None or int(measured, 16) == 0:
        return inputs_hash
    return "0x" + keccak(bytes.fromhex(inputs_hash[2:]) + bytes.fromhex(measured[2:])).hex()


def evaluation_public(result: Evaluation, published: dict[str, Any]) -> dict[str, Any]:
    """The formula's outcome with its terms, as the console previews it."""
    return {
        "total": result.total, "merchant_part": result.merchant_part,
        "turnover_part": result.turnover_part, "consumer_part": result.consumer_part,
        "clipped": result.clipped, "inputs_hash": "0x" + result.inputs_hash.hex(),
        "merchants": len(published["turnover"]), "inputs": published,
    }


async def _names(s: Any, addresses: set[str]) -> dict[str, tuple[str, str]]:
    """(id, name) of the participants among `addresses`."""
    if not addresses:
        return {}
    rows = await s.execute(select(Participant.address, Participant.id, Participant.name)
                           .where(Participant.address.in_(sorted(addresses))))
    return {a: (pid, name) for a, pid, name in rows.tuples()}


async def name_of(db: Any, address: str) -> str | None:
    """The name of the participant at `address` (None for an unknown address)."""
    async with db.session() as s:
        return (await _names(s, {address})).get(address, (None, None))[1]


def _round_public(row: PromotionRound) -> dict[str, Any]:
    return {
        "id": row.id, "first_coupon_id": row.first_id,
        "last_coupon_id": row.first_id + row.total - 1, "total": row.total,
        "inputs_hash": row.inputs_hash, "incentive_bps": row.incentive_bps,
        "shares": dict(zip(SHARE_NAMES, row.shares, strict=True)),
        "rollback_window_seconds": row.rollback_window,
        "consent_lifetime_seconds": row.max_consent_lifetime,
        "allocated": row.allocated, "granted": row.granted, "written_off": row.written_off,
        "distributed": row.distributed, "opened_at": iso(row.opened_at),
        "opened_block": row.block_number, "opened_tx": row.tx_hash,
        "period": None if row.period_to is None else {
            "from_block": row.period_from, "to_block": row.period_to},
        "measured_hash": row.measured_hash,
    }


async def rounds(db: Any, limit: int, after: int | None) -> list[dict[str, Any]]:
    """Rounds by id, `limit` after the cursor."""
    query = select(PromotionRound)
    if after is not None:
        query = query.where(PromotionRound.id > after)
    async with db.session() as s:
        rows = (await s.execute(query.order_by(PromotionRound.id).limit(limit))).scalars()
        return [_round_public(r) for r in rows]


async def round_detail(db: Any, round_id: int) -> dict[str, Any]:
    """A round, its published evaluation and its allocations."""
    async with db.session() as s:
        row = await s.get(PromotionRound, round_id)
        if row is None:
            raise NotFound(f"promotion round {round_id} does not exist", field="id")
        evaluation = await s.get(PromotionEvaluation,
                                 evaluation_key(row.inputs_hash, row.measured_hash))
        allocations = list((await s.execute(select(PromotionAllocation).where(
            PromotionAllocation.round_id == round_id)
            .order_by(PromotionAllocation.merchant))).scalars())
        names = await _names(s, {a.merchant for a in allocations})
    return {
        **_round_public(row),
        "evaluation": evaluation.inputs if evaluation else None,
        "allocations": [{
            "merchant": a.merchant, "merchant_id": names.get(a.merchant, (None, None))[0],
            "merchant_name": names.get(a.merchant, (None, None))[1],
            "allocated": a.allocated, "granted": a.granted, "remaining": a.allocated - a.granted,
        } for a in allocations],
    }


def _coupon_public(row: PromotionCoupon, names: dict[str, tuple[str, str]]) -> dict[str, Any]:
    return {
        "id": row.id, "round_id": row.round_id, "status": STATUS[row.status],
        "holder": row.holder, "holder_id": names.get(row.holder, (None, None))[0],
        "issuer": row.issuer, "issuer_name": names.get(row.issuer, (None, None))[1],
        "redeemer": row.redeemer,
        "redeemer_name": names.get(row.redeemer, (None, None))[1] if row.redeemer else None,
        "transfers": row.transfers,
        "order_amount": None if row.order_amount is None else int(row.order_amount),
        "pool": None if row.pool is None else int(row.pool),
        "written_off_at": None if row.written_off_at is None else iso(row.written_off_at),
        "granted_at": iso(row.granted_at),
    }


async def coupon_detail(db: Any, coupon_id: int) -> dict[str, Any]:
    """A coupon: status, holder, pool and its full recorded path.

    An id a round issued but nobody granted yet is reported as `issued`,
    held by the platform's account.
    """
    async with db.session() as s:
        row = await s.get(PromotionCoupon, coupon_id)
        if row is None:
            issued = (await s.execute(select(PromotionRound).where(
                PromotionRound.first_id <= coupon_id,
                PromotionRound.first_id + PromotionRound.total > coupon_id))).scalar()
            if issued is None:
                raise NotFound(f"no round issued promotion coupon {coupon_id}", field="id")
            return {"id": coupon_id, "round_id": issued.id, "status": "issued",
                    "holder": issued.platform, "path": []}
        steps = list((await s.execute(select(PromotionPath).where(
            PromotionPath.coupon_id == coupon_id)
            .order_by(PromotionPath.block_number, PromotionPath.log_index))).scalars())
        names = await _names(s, {row.holder, row.issuer, *(filter(None, [row.redeemer]))}
                             | {x for p in steps for x in (p.sender, p.receiver, p.actor) if x})
    return {**_coupon_public(row, names), "path": [{
        "action": p.action, "from": p.sender, "to": p.receiver, "by": p.actor,
        "by_name": names.get(p.actor, (None, None))[1],
        "amount": None if p.amount is None else int(p.amount), "at": iso(p.timestamp),
        "tx_hash": p.tx_hash, "block_number": p.block_number,
    } for p in steps]}


async def coupons_of(db: Any, holder: str, limit: int, after: int | None,
                     status: int | None = None) -> list[dict[str, Any]]:
    """A holder's coupons by id, `limit` after the cursor."""
    query = select(PromotionCoupon).where(PromotionCoupon.holder == holder)
    if status is not None:
        query = query.where(PromotionCoupon.status == status)
    if after is not None:
        query = query.where(PromotionCoupon.id > after)
    async with db.session() as s:
        rows = list((await s.execute(query.order_by(PromotionCoupon.id).limit(limit))).scalars())
        names = await _names(s, {holder} | {r.issuer for r in rows}
                             | {r.redeemer for r in rows if r.redeemer})
    return [_coupon_public(r, names) for r in rows]


async def write_offs(db: Any, merchant: str, limit: int) -> list[dict[str, Any]]:
    """The merchant's latest write-offs (still standing), newest first."""
    async with db.session() as s:
        rows = list((await s.execute(select(PromotionCoupon).where(
            PromotionCoupon.redeemer == merchant)
            .order_by(PromotionCoupon.written_off_at.desc(), PromotionCoupon.id.desc())
            .limit(limit))).scalars())
        names = await _names(s, {r.holder for r in rows} | {r.issuer for r in rows})
    return [_coupon_public(r, names) for r in rows]


async def write_off_timeline(db: Any, merchant: str | None) -> list[tuple[int, int, int]]:
    """(start of minute, write-offs, incentives charged) of standing write-offs, oldest first.

    Incentives are summed as SQL numerics, exact on PostgreSQL and to about
    15 digits on SQLite: enough for a chart, never used for money.
    """
    minute = (PromotionCoupon.written_off_at // MINUTE).label("minute")
    query = (select(minute, func.count(), func.sum(cast(PromotionCoupon.pool, Numeric)))
             .where(PromotionCoupon.written_off_at.is_not(None)))
    if merchant is not None:
        query = query.where(PromotionCoupon.redeemer == merchant)
    async with db.session() as s:
        rows = (await s.execute(query.group_by(minute).order_by(minute))).tuples().all()
    return [(int(m) * MINUTE, int(n), int(total or 0)) for m, n, total in rows]
