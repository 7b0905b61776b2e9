"""`verify referral-holding`'s log checks of the current batch (`event_check._batch_events`
through `REBATE_EVENTS.compare`), without a node: the logs a trusted node would return,
decoded, against proven storage values. The integration test covers the honest run and
a lying API; these cover logs that disagree with storage (a purchase left out, a
BatchClosed on an open batch, another batch's opening)."""

from __future__ import annotations

from typing import Any

from eth_utils import to_checksum_address

from couponchain.chain.capability_check import CURRENT_NOT_PROVEN
from couponchain.chain.event_check import REBATE_EVENTS, Event
from couponchain.chain.verification import Outcome, iso

# Checksummed, as the contract's decoded logs give them.
ANN = to_checksum_address("0x" + "a1" * 20)
BOB = to_checksum_address("0x" + "b2" * 20)
ORIGINATOR = to_checksum_address("0x" + "c3" * 20)
CONTENT = bytes(range(32))
PRODUCT = 1
T0 = 1_800_000_000


def _purchase(block: int, buyer: str, batch: int, promoter: str, quantity: int,
              amount: int, rebate: int, promoter_amount: int) -> Event:
    return Event("Purchased", {
        "product_id": PRODUCT, "buyer": buyer, "promoter": promoter, "batch": batch,
        "quantity": quantity, "amount": amount, "rebate": rebate,
        "promoter_amount": promoter_amount, "holders_amount": rebate - promoter_amount,
        "originator_amount": amount - rebate}, block, 0, f"0x{block:064x}")


def _world() -> tuple[dict[str, int | None], list[Event], dict[str, Any]]:
    """Ann buys batch 1 out (2 units); batch 2 opens; Bob buys 1 through Ann's link."""
    proven: dict[str, int | None] = {
        "eligible": 2, "recent": 0, "recent_batch": 1, "checkpoint": 0,
        "product_reward_per_unit": 50, "product_batch_count": 2,
        "product_originator": int(ORIGINATOR, 16), "product_content_hash":
            int.from_bytes(CONTENT, "big"),
        "current_price": 2_000, "current_circulation": 5, "current_rebate_bps": 1_000,
        "current_promoter_share_bps": 5_000, "current_sold": 1, "current_revenue": 2_000,
        "current_rebates": 200, "current_closed": 0,
    }
    events = [
        Event("ProductRegistered", {"product_id": PRODUCT, "originator": ORIGINATOR,
                                    "content_hash": CONTENT}, 10, 0, "0x" + "10" * 32),
        _purchase(11, ANN, 1, "0x" + "00" * 20, 2, 2_000, 0, 0),
        Event("BatchOpened", {"product_id": PRODUCT, "batch": 2, "price": 2_000,
                              "circulation": 5, "rebate_bps": 1_000,
                              "promoter_share_bps": 5_000}, 12, 0, "0x" + "12" * 32),
        _purchase(13, BOB, 2, ANN, 1, 2_000, 200, 100),
    ]
    item = {
        "registered_at": iso(T0 + 10), "registered_block": 10, "registered_tx": "0x" + "10" * 32,
        "units_by_batch": [{"batch": 1, "units": 2}], "promoted_sales": 1,
        "rebates": {"promoter": 100, "holder": 100, "holder_settled": 0, "total": 200},
        "current": {"opened_at": iso(T0 + 12), "opened_block": 12,
                    "opened_tx": "0x" + "12" * 32, "promoter_paid": 100, "holders_paid": 100,
                    "originator_paid": 1_800, "dust": 0},
    }
    return proven, events, item


def _check(proven: dict[str, int | None], events: list[Event],
           item: dict[str, Any]) -> Outcome:
    out = Outcome(anchored=True, proven=proven, not_proven=[CURRENT_NOT_PROVEN])
    times = {e.block: T0 + e.block for e in events}
    REBATE_EVENTS.compare(out, (PRODUCT, ANN), item, events, times)
    return out


def _failed(out: Outcome) -> list[str]:
    return [v.claim for v in out.verdicts if not v.ok]


def test_honest_logs_prove_the_current_batch() -> None:
    out = _check(*_world())
    assert out.ok, [(v.claim, v.expected, v.proven) for v in out.verdicts if not v.ok]
    assert CURRENT_NOT_PROVEN not in out.not_proven


def test_logs_that_disagree_with_storage_fail() -> None:
    proven, events, item = _world()
    # A purchase of the batch left out by the node: the sums fall short of storage.
    out = _check(proven, events[:-1], item)
    assert any(c.startswith("batch 2's Purchased logs sum to its proven sold")
               for c in _failed(out)), _failed(out)
    # A BatchClosed while the proven batch is open.
    closed = Event("BatchClosed", {"product_id": PRODUCT, "batch": 2, "sold": 1, "dust": 7},
                   14, 0, "0x" + "14" * 32)
    assert "batch 2: a BatchClosed event exactly when the proven batch is closed" \
        in _failed(_check(proven, [*events, closed], item))
    # Another batch's opening (other terms) does not stand for the current one's.
    other = [Event(e.name, {**e.args, "price": 1}, e.block, e.log_index, e.tx_hash)
             if e.name == "BatchOpened" else e for e in events]
    assert "the BatchOpened event is of the proven batch's terms" \
        in _failed(_check(proven, other, item))
    # A closed batch: its dust counts as the originator's and as dust.
    shut = {**proven, "current_closed": 1}
    paid = {**item, "current": {**item["current"], "originator_paid": 1_807, "dust": 7}}
    assert _check(shut, [*events, closed], paid).ok
