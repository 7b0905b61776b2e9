"""Read-only views of products, batches, purchases and holdings (DESIGN §2.3).

Everything here reads the read models (built from chain events only) and the
descriptions the platform keeps; the writes live in `services/referrals.py`.

A holder's rebates are exact without asking the chain: units bought in batch
b earn from batch b+1 on, so they have earned `units * (accumulator now -
accumulator when batch b+1 opened)`, the very integers the contract credits.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import func, select

from couponchain.domain.times import iso
from couponchain.errors import NotFound
from couponchain.indexer.referrals import SOURCE, reference
from couponchain.store.models import (
    Participant,
    PayoutEntry,
    ProductDescription,
    ReferralBatch,
    ReferralHolding,
    ReferralProduct,
    ReferralPurchase,
)


async def participant_names(s: Any, addresses: set[str]) -> dict[str, tuple[str, str]]:
    """(id, name) of the participants among `addresses`."""
    if not addresses:
        return {}
    rows = await s.execute(select(Participant.address, Participant.id, Participant.name)
                           .where(Participant.address.in_(sorted(addresses))))
    return {a: (pid, name) for a, pid, name in rows.tuples()}


def batch_public(row: ReferralBatch) -> dict[str, Any]:
    """A batch: its terms, sales and where the money went."""
    ended = row.closed or row.sold == row.circulation
    return {
        "batch": row.batch, "price": int(row.price), "circulation": row.circulation,
        "rebate_bps": row.rebate_bps, "promoter_share_bps": row.promoter_share_bps,
        "sold": row.sold, "remaining": row.circulation - row.sold,
        "status": "closed" if row.closed else "sold_out" if ended else "open",
        "eligible_units": row.eligible_units, "revenue": int(row.revenue),
        "rebates": int(row.rebates), "promoter_paid": int(row.promoter_paid),
        "holders_paid": int(row.holders_paid), "originator_paid": int(row.originator_paid),
        "dust": int(row.dust), "opened_at": iso(row.opened_at),
        "opened_block": row.block_number, "opened_tx": row.tx_hash,
    }


def _product_public(row: ReferralProduct, names: dict[str, tuple[str, str]],
                    current: ReferralBatch | None) -> dict[str, Any]:
    originator_id, originator_name = names.get(row.originator, (None, None))
    return {
        "id": row.id, "name": row.name, "content_hash": row.content_hash,
        "originator": row.originator, "originator_id": originator_id,
        "originator_name": originator_name, "current_batch": row.batch_count,
        "units_sold": row.units_sold,
        "current": None if current is None else batch_public(current),
        "registered_at": iso(row.registered_at), "registered_block": row.block_number,
        "registered_tx": row.tx_hash,
    }


async def product_row(db: Any, product_id: int, field: str = "id") -> ReferralProduct:
    """The product's read model, or NotFound naming `field`."""
    async with db.session() as s:
        row = await s.get(ReferralProduct, product_id)
    if row is None:
        raise NotFound(f"product {product_id} does not exist", field=field)
    return row  # type: ignore[no-any-return]


async def current_batch(db: Any, product: ReferralProduct) -> ReferralBatch:
    """The product's latest batch (open, sold out or closed)."""
    async with db.session() as s:
        return await s.get(  # type: ignore[no-any-return]
            ReferralBatch, (product.id, product.batch_count))


async def product_detail(db: Any, product_id: int) -> dict[str, Any]:
    """A product with its description, every batch and the totals paid."""
    async with db.session() as s:
        row = await s.get(ReferralProduct, product_id)
        if row is None:
            raise NotFound(f"product {product_id} does not exist", field="id")
        batches = list((await s.execute(select(ReferralBatch).where(
            ReferralBatch.product_id == product_id).order_by(ReferralBatch.batch))).scalars())
        description = await s.get(ProductDescription, row.content_hash)
        names = await participant_names(s, {row.originator})
    public = [batch_public(b) for b in batches]
    current = batches[-1] if batches else None
    totals = {k: sum(b[k] for b in public) for k in (
        "revenue", "rebates", "promoter_paid", "holders_paid", "originator_paid", "dust")}
    return {
        **_product_public(row, names, current),
        "description": description.text if description else None,
        "batches": public, "totals": totals,
    }


async def products(db: Any, originator: str | None, limit: int,
                   after: int | None) -> list[dict[str, Any]]:
    """Products by id (of one originator when given), `limit` after the cursor."""
    query = select(ReferralProduct)
    if originator is not None:
        query = query.where(ReferralProduct.originator == originator)
    if after is not None:
        query = query.where(ReferralProduct.id > after)
    async with db.session() as s:
        rows = list((await s.execute(query.order_by(ReferralProduct.id).limit(limit))).scalars())
        current = {(b.product_id, b.batch): b for b in (await s.execute(
            select(ReferralBatch).where(ReferralBatch.product_id.in_([r.id for r in rows]))))
            .scalars()} if rows else {}
        names = await participant_names(s, {r.originator for r in rows})
    return [_product_public(r, names, current.get((r.id, r.batch_count))) for r in rows]


def _purchase_public(p: ReferralPurchase, names: dict[str, tuple[str, str]]) -> dict[str, Any]:
    return {
        "product_id": p.product_id, "batch": p.batch, "buyer": p.buyer,
        "buyer_id": names.get(p.buyer, (None, None))[0], "promoter": p.promoter,
        "promoter_id": names.get(p.promoter, (None, None))[0] if p.promoter else None,
        "quantity": p.quantity, "amount": int(p.amount), "rebate": int(p.rebate),
        "promoter_amount": int(p.promoter_amount), "holders_amount": int(p.holders_amount),
        "originator_amount": int(p.originator_amount), "link_hash": p.link_hash,
        "at": iso(p.timestamp), "tx_hash": p.tx_hash, "block_number": p.block_number,
    }


async def purchases(db: Any, product_id: int, limit: int,
                    before: int | None) -> tuple[list[dict[str, Any]], int | None]:
    """A product's purchases, newest first, and the cursor of the next page."""
    query = select(ReferralPurchase).where(ReferralPurchase.product_id == product_id)
    if before is not None:
        query = query.where(ReferralPurchase.id < before)
    async with db.session() as s:
        rows = list((await s.execute(query.order_by(ReferralPurchase.id.desc())
                                     .limit(limit))).scalars())
        names = await participant_names(s, {r.buyer for r in rows} | {r.promoter for r in rows
                                                           if r.promoter})
    cursor = rows[-1].id if len(rows) == limit else None
    return [_purchase_public(r, names) for r in rows], cursor


async def holdings_of(db: Any, account: str) -> dict[str, Any]:
    """An account's units per product and batch, and its rebates from each product."""
    async with db.session() as s:
        held = list((await s.execute(select(ReferralHolding).where(
            ReferralHolding.account == account)
            .order_by(ReferralHolding.product_id, ReferralHolding.batch))).scalars())
        promoted = dict((await s.execute(
            select(ReferralPurchase.product_id, func.count())
            .where(ReferralPurchase.promoter == account)
            .group_by(ReferralPurchase.product_id))).tuples().all())
        product_ids = sorted({h.product_id for h in held} | set(promoted))
        rows = {p.id: p for p in (await s.execute(select(ReferralProduct).where(
            ReferralProduct.id.in_(product_ids)))).scalars()} if product_ids else {}
        batches = {(b.product_id, b.batch): b for b in (await s.execute(
            select(ReferralBatch).where(ReferralBatch.product_id.in_(product_ids))))
            .scalars()} if product_ids else {}
        # Promoter shares: summed in Python (exact on SQLite too).
        direct: dict[int, int] = defaultdict(int)
        for pid, amount in (await s.execute(select(
                ReferralPurchase.product_id, ReferralPurchase.promoter_amount)
                .where(ReferralPurchase.promoter == account))).tuples():
            direct[pid] += int(amount)
        settled: dict[str, int] = defaultdict(int)
        for ref, amount in (await s.execute(select(PayoutEntry.reference, PayoutEntry.amount)
                                            .where(PayoutEntry.account == account,
                                                   PayoutEntry.source == SOURCE,
                                                   PayoutEntry.part == "holder"))).tuples():
            settled[ref or ""] += int(amount)
        names = await participant_names(s, {p.originator for p in rows.values()})
    units: dict[int, dict[int, int]] = defaultdict(dict)
    for h in held:
        units[h.product_id][h.batch] = h.units
    out = []
    for pid in product_ids:
        product = rows[pid]
        earned = holder_rebates(product, units.get(pid, {}), batches)
        current = batches.get((pid, product.batch_count))
        out.append({
            **_product_public(product, names, current),
            "units": sum(units.get(pid, {}).values()),
            "units_by_batch": [{"batch": b, "units": u}
                               for b, u in sorted(units.get(pid, {}).items())],
            "may_promote": any(b < product.batch_count for b in units.get(pid, {})),
            "promoted_sales": int(promoted.get(pid, 0)),
            "rebates": {"promoter": direct[pid], "holder": earned,
                        "holder_settled": settled[reference(pid)],
                        "holder_pending": earned - settled[reference(pid)],
                        "total": direct[pid] + earned},
        })
    return {"account": account, "products": out,
            "total_rebates": sum(p["rebates"]["total"] for p in out)}


def holder_rebates(product: ReferralProduct, units: dict[int, int],
                   batches: dict[tuple[int, int], ReferralBatch]) -> int:
    """What the contract has credited (settled or not) to these units, exactly."""
    now = int(product.reward_per_unit)
    total = 0
    for batch_no, count in units.items():
        later = batches.get((product.id, batch_no + 1))
        if later is not None:
            total += count * (now - int(later.reward_per_unit_at_open))
    return total
