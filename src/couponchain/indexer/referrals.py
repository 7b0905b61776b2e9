"""Read model of peer-to-peer batch sales, holdings and rebate payouts (DESIGN §2.3).

Built from the referrals contract's events only. Products and batches carry
their counters, each batch its rebate terms as its originator opened it with
(rebate ratio, promoter share), and where each sale's money went; holdings count units per
account, product and batch; each `Purchased` event is one purchase row with
its promotion record (promoter, link hash).

Payouts go to the shared ledger (`source` "referrals") as the contract
credits them: the originator's part and the promoter's direct share at each
sale, a batch's leftover buffer to the originator when the batch ends, and a
holder's pro rata rebates when the contract realises them (`Settled`: at the
holder's next purchase of the product, on `settle`, or on `withdraw`). Until
then a holder's accrual is exact in the read model too (units times the
growth of the per-unit accumulator, see `services/referral_views.py`) and in
the contract's `claimable`.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from couponchain.indexer.projections import PROJECTIONS, IndexedEvent
from couponchain.indexer.promotions import credit
from couponchain.store.models import (
    ReferralBatch,
    ReferralHolding,
    ReferralProduct,
    ReferralPurchase,
)

SOURCE = "referrals"
ZERO = "0x0000000000000000000000000000000000000000"
NO_LINK = "0x" + "00" * 32

PROJECTIONS.owns(
    ReferralProduct.__table__,  # type: ignore[arg-type]
    ReferralBatch.__table__,  # type: ignore[arg-type]
    ReferralHolding.__table__,  # type: ignore[arg-type]
    ReferralPurchase.__table__,  # type: ignore[arg-type]
)


def _add(text: str, amount: int) -> str:
    return str(int(text) + amount)


def reference(product_id: int, batch: int | None = None) -> str:
    """What a payout entry of this capability was earned by."""
    return f"product {product_id}" if batch is None else f"product {product_id} batch {batch}"


@PROJECTIONS.on("referrals", "ProductRegistered")
def product_registered(session: Session, event: IndexedEvent) -> None:
    a = event.args
    session.add(ReferralProduct(
        id=int(a["product_id"]), originator=a["originator"], name=a["name"],
        content_hash=a["content_hash"], batch_count=0, units_sold=0, reward_per_unit="0",
        registered_at=event.timestamp, block_number=event.block_number, tx_hash=event.tx_hash,
    ))
    session.flush()


@PROJECTIONS.on("referrals", "BatchOpened")
def batch_opened(session: Session, event: IndexedEvent) -> None:
    a = event.args
    product_id, batch = int(a["product_id"]), int(a["batch"])
    product = session.get(ReferralProduct, product_id)
    if product is None:
        return
    product.batch_count = batch
    session.add(ReferralBatch(
        product_id=product_id, batch=batch, price=str(a["price"]),
        circulation=int(a["circulation"]), rebate_bps=int(a["rebate_bps"]),
        promoter_share_bps=int(a["promoter_share_bps"]),
        eligible_units=int(a["eligible_units"]),
        reward_per_unit_at_open=product.reward_per_unit, sold=0, closed=False, revenue="0",
        rebates="0", promoter_paid="0", holders_paid="0", originator_paid="0", dust="0",
        opened_at=event.timestamp, block_number=event.block_number, tx_hash=event.tx_hash,
    ))
    session.flush()


@PROJECTIONS.on("referrals", "BatchClosed")
def batch_closed(session: Session, event: IndexedEvent) -> None:
    a = event.args
    product_id, batch_no = int(a["product_id"]), int(a["batch"])
    batch = session.get(ReferralBatch, (product_id, batch_no))
    product = session.get(ReferralProduct, product_id)
    if batch is None or product is None:
        return
    dust = int(a["dust"])
    batch.closed = True
    batch.dust = _add(batch.dust, dust)
    batch.originator_paid = _add(batch.originator_paid, dust)
    credit(session, event, SOURCE, product.originator, "dust", dust,
                 reference(product_id, batch_no))


@PROJECTIONS.on("referrals", "Purchased")
def purchased(session: Session, event: IndexedEvent) -> None:
    a = event.args
    product_id, batch_no = int(a["product_id"]), int(a["batch"])
    quantity = int(a["quantity"])
    amount, rebate = int(a["amount"]), int(a["rebate"])
    promoter_amount, holders_amount = int(a["promoter_amount"]), int(a["holders_amount"])
    originator_amount = int(a["originator_amount"])
    promoter = None if a["promoter"] == ZERO else a["promoter"]
    session.add(ReferralPurchase(
        product_id=product_id, batch=batch_no, buyer=a["buyer"], promoter=promoter,
        quantity=quantity, amount=str(amount), rebate=str(rebate),
        promoter_amount=str(promoter_amount), holders_amount=str(holders_amount),
        originator_amount=str(originator_amount),
        link_hash=None if a["link_hash"] == NO_LINK else a["link_hash"],
        block_number=event.block_number, block_hash=event.block_hash,
        log_index=event.log_index, tx_hash=event.tx_hash, timestamp=event.timestamp,
    ))
    product = session.get(ReferralProduct, product_id)
    batch = session.get(ReferralBatch, (product_id, batch_no))
    if product is None or batch is None:
        return
    product.units_sold += quantity
    product.reward_per_unit = str(int(a["reward_per_unit"]))
    batch.sold += quantity
    batch.revenue = _add(batch.revenue, amount)
    batch.rebates = _add(batch.rebates, rebate)
    batch.promoter_paid = _add(batch.promoter_paid, promoter_amount)
    batch.holders_paid = _add(batch.holders_paid, holders_amount)
    batch.originator_paid = _add(batch.originator_paid, originator_amount)
    # On sell-out the contract adds the batch's leftover buffer to the originator's part.
    batch.dust = _add(batch.dust, originator_amount - (amount - rebate))
    holding = session.get(ReferralHolding, (product_id, a["buyer"], batch_no))
    if holding is None:
        session.add(ReferralHolding(product_id=product_id, account=a["buyer"], batch=batch_no,
                                    units=quantity))
        session.flush()
    else:
        holding.units += quantity
    ref = reference(product_id, batch_no)
    credit(session, event, SOURCE, product.originator, "originator", originator_amount,
                 ref)
    if promoter is not None:
        credit(session, event, SOURCE, promoter, "promoter", promoter_amount, ref)


@PROJECTIONS.on("referrals", "Settled")
def settled(session: Session, event: IndexedEvent) -> None:
    a = event.args
    credit(session, event, SOURCE, a["account"], "holder", int(a["amount"]),
                 reference(int(a["product_id"])))


@PROJECTIONS.on("referrals", "Withdrawn")
def withdrawn(session: Session, event: IndexedEvent) -> None:
    a = event.args
    credit(session, event, SOURCE, a["account"], "withdrawal", -int(a["amount"]), None)
