"""Rebates of batch sales: the sale split and the ledger model (domain/rebates.py)."""

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from couponchain.domain.rebates import (
    BPS,
    DEFAULT_PROMOTER_SHARE_BPS,
    MAX_CIRCULATION,
    MAX_PRICE,
    Ledger,
    RebateBounds,
    SaleSplit,
    sale_split,
)
from couponchain.errors import InvalidInput


def test_sale_split_worked_example():
    assert sale_split(2 * 10**6, 2, 1_000) == SaleSplit(
        amount=4_000_000, rebate=400_000, promoter=80_000, holders=320_000, originator=3_600_000
    )


def test_sale_split_rounds_down_in_the_originators_favour():
    split = sale_split(1_001, 1, 1_000)
    assert (split.rebate, split.promoter, split.holders, split.originator) == (100, 20, 80, 901)
    split = sale_split(9, 1, 1_000)  # rebate 0.9 -> 0
    assert (split.rebate, split.originator) == (0, 9)


@given(
    price=st.integers(1, MAX_PRICE),
    quantity=st.integers(1, MAX_CIRCULATION),
    rebate_bps=st.integers(0, BPS),
    share_bps=st.integers(0, BPS),
)
def test_sale_split_parts_sum_to_the_amount(price, quantity, rebate_bps, share_bps):
    split = sale_split(price, quantity, rebate_bps, share_bps)
    assert split.amount == price * quantity
    assert split.promoter + split.holders + split.originator == split.amount
    assert split.rebate * BPS <= split.amount * rebate_bps
    assert split.promoter == split.rebate * share_bps // BPS


def test_sale_split_uses_the_batch_promoter_share():
    assert sale_split(2 * 10**6, 2, 1_000).promoter == 400_000 * DEFAULT_PROMOTER_SHARE_BPS // BPS
    split = sale_split(2 * 10**6, 2, 1_000, 5_000)
    assert (split.promoter, split.holders) == (200_000, 200_000)
    assert sale_split(2 * 10**6, 2, 1_000, 0).holders == 400_000


def test_rebate_bounds_name_the_field_and_the_contract_reason():
    bounds = RebateBounds(3_000, 500, 5_000)
    assert bounds.refusal(3_000, 500) is None and bounds.refusal(0, 5_000) is None
    assert bounds.refusal(3_001, 500)[0::2] == (
        "rebate_bps", "referrals: rebate above the platform cap")
    assert bounds.refusal(0, 499)[0::2] == (
        "promoter_share_bps", "referrals: promoter share below the platform minimum")
    assert bounds.refusal(0, 5_001)[0::2] == (
        "promoter_share_bps", "referrals: promoter share above the platform maximum")
    assert RebateBounds.invalid(10_000, 0, 10_000) is None
    assert RebateBounds.invalid(10_001, 0, 0) == "referrals: rebate cap above 10000 bps"
    assert RebateBounds.invalid(0, 0, 10_001) == "referrals: promoter share cap above 10000 bps"
    assert RebateBounds.invalid(0, 2, 1) == "referrals: promoter share minimum above its maximum"


@pytest.mark.parametrize(
    "args,field",
    [
        ((0, 1, 0), "price"),
        ((MAX_PRICE + 1, 1, 0), "price"),
        ((1, 0, 0), "quantity"),
        ((1, 1, BPS + 1), "rebate_bps"),
        ((1, 1, True), "rebate_bps"),
        ((1, 1, 0, BPS + 1), "promoter_share_bps"),
        ((1.0, 1, 0), "price"),
    ],
)
def test_sale_split_rejects(args, field):
    with pytest.raises(InvalidInput) as caught:
        sale_split(*args)
    assert caught.value.field == field


def test_ledger_spreads_whole_units_and_hands_dust_to_the_originator():
    ledger = Ledger.new("o", price=10**6, circulation=100)
    ledger.purchase("a", 1)
    ledger.purchase("b", 2)
    ledger.close_batch()
    assert ledger.open_batch(1_001, 10, 1_000) == 2
    ledger.purchase("c", 1, promoter="a")
    assert ledger.open_batch_buffer == 2
    assert ledger.credited["a"] == 20 + 26
    assert ledger.entitled["a"] == 20 + Fraction(80, 3)
    ledger.purchase("c", 1, promoter="b")
    assert ledger.open_batch_buffer == 1
    assert ledger.credited["b"] == 20 + 106
    assert ledger.close_batch() == 1
    assert ledger.credited["o"] == 3 * 10**6 + 2 * 901 + 1
    assert sum(ledger.credited.values()) == ledger.paid
    assert sum(ledger.entitled.values()) == ledger.paid
    assert ledger.bound == {"a": 1, "b": 2}


def test_ledger_current_batch_units_earn_from_the_next_batch_only():
    ledger = Ledger.new("o", 10, 1)
    ledger.purchase("a", 1)
    ledger.open_batch(10_000, 2, 1_000)
    ledger.purchase("b", 1, promoter="a")
    assert ledger.credited["b"] == 0
    assert ledger.earlier_units("b") == 0 and ledger.units_of("b") == 1
    ledger.purchase("c", 1, promoter="a")  # sells out
    ledger.open_batch(10_000, 5, 1_000)
    assert ledger.earlier_units("b") == 1
    ledger.purchase("d", 3, promoter="b")
    assert ledger.credited["b"] == 600 + 800
    assert ledger.credited["c"] == 800


def test_ledger_enforces_the_batch_rules():
    ledger = Ledger.new("o", 10, 2)
    with pytest.raises(InvalidInput, match="without a link"):
        ledger.purchase("a", 1, promoter="b")
    ledger.purchase("a", 1)
    with pytest.raises(InvalidInput, match="still open"):
        ledger.open_batch(1, 1, 0)
    with pytest.raises(InvalidInput) as caught:
        ledger.purchase("b", 2)
    assert caught.value.field == "quantity"
    ledger.close_batch()
    with pytest.raises(InvalidInput, match="already ended"):
        ledger.close_batch()
    with pytest.raises(InvalidInput, match="closed"):
        ledger.purchase("b", 1)
    ledger.open_batch(10, 5, 100)
    for promoter in (None, "b", "a"):  # none, without units, self-referral
        buyer = "a" if promoter == "a" else "b"
        with pytest.raises(InvalidInput, match="link is required"):
            ledger.purchase(buyer, 1, promoter=promoter)


sales = st.lists(
    st.tuples(st.integers(0, 4), st.integers(1, 5), st.integers(0, 4), st.booleans()),
    min_size=1,
    max_size=30,
)


@given(
    batch1=st.lists(st.integers(1, 5), min_size=1, max_size=5),
    price=st.integers(1, 10**7),
    rebate_bps=st.integers(0, BPS),
    sales=sales,
)
def test_ledger_sums_are_exact_and_holders_within_their_bound(batch1, price, rebate_bps, sales):
    accounts = [f"h{i}" for i in range(5)]
    ledger = Ledger.new("o", 10, 100)
    for i, units in enumerate(batch1):
        ledger.purchase(accounts[i], units)
    ledger.close_batch()
    ledger.open_batch(price, 10, rebate_bps)
    for buyer, quantity, promoter, new_batch in sales:
        batch = ledger.batches[-1]
        if batch.ended or new_batch:
            if not batch.ended:
                ledger.close_batch()
            ledger.open_batch(price, 10, rebate_bps)
            batch = ledger.batches[-1]
        holders = [a for a in accounts if ledger.earlier_units(a)]
        seller = holders[promoter % len(holders)]
        buyer_name = accounts[buyer]
        if buyer_name == seller:
            continue
        quantity = min(quantity, batch.circulation - batch.sold)
        ledger.purchase(buyer_name, quantity, promoter=seller)
        assert sum(ledger.credited.values()) + ledger.open_batch_buffer == ledger.paid
        assert sum(ledger.entitled.values()) == ledger.paid
    shortfall = 0
    for account in accounts:
        gap = ledger.entitled[account] - ledger.credited[account]
        assert gap >= 0
        assert gap < ledger.bound[account] or gap == 0
        shortfall += gap
    originator_gain = ledger.credited["o"] - ledger.entitled["o"]
    assert originator_gain == shortfall - ledger.open_batch_buffer
