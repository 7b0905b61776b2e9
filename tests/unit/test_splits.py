"""Incentive pools: the charge and the exact split (domain/splits.py)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from couponchain.domain.splits import (
    BPS,
    MAX_EARLIER_HOLDERS,
    MAX_ORDER_AMOUNT,
    PoolSplit,
    Shares,
    incentive,
    payouts,
    split_pool,
)
from couponchain.errors import InvalidInput

EVEN = Shares(platform=2_000, issuer=2_000, redeemer=2_000, holder=2_000, earlier=2_000)


@st.composite
def shares(draw) -> Shares:
    cuts = sorted(draw(st.lists(st.integers(0, BPS), min_size=4, max_size=4)))
    bounds = [0, *cuts, BPS]
    return Shares(*(bounds[i + 1] - bounds[i] for i in range(5)))


def test_shares_must_sum_to_ten_thousand():
    with pytest.raises(InvalidInput, match="sum to 10000") as caught:
        Shares(platform=2_000, issuer=2_000, redeemer=2_000, holder=2_000, earlier=1_999)
    assert caught.value.field == "shares"


@pytest.mark.parametrize("bad", [-1, 10_001, 1.5, True, "10"])
def test_each_share_is_an_integer_in_range(bad):
    with pytest.raises(InvalidInput) as caught:
        Shares(platform=bad, issuer=0, redeemer=0, holder=0, earlier=10_000)
    assert caught.value.field == "shares.platform"


def test_shares_tuple_is_in_contract_order():
    shares = Shares(platform=1, issuer=2, redeemer=3, holder=4, earlier=9_990)
    assert shares.as_tuple() == (1, 2, 3, 4, 9_990)


def test_incentive_rounds_down():
    assert incentive(100, 333) == 3
    assert incentive(1_000, 333) == 33
    assert incentive(99, 100) == 0
    assert incentive(10**18, 500) == 5 * 10**16
    assert incentive(MAX_ORDER_AMOUNT, BPS) == MAX_ORDER_AMOUNT


@pytest.mark.parametrize(
    ("amount", "rate", "field"),
    [
        (0, 500, "order_amount"),
        (MAX_ORDER_AMOUNT + 1, 500, "order_amount"),
        (100, -1, "incentive_bps"),
        (100, BPS + 1, "incentive_bps"),
    ],
)
def test_incentive_rejects_out_of_range_inputs(amount, rate, field):
    with pytest.raises(InvalidInput) as caught:
        incentive(amount, rate)
    assert caught.value.field == field


def test_split_with_earlier_holders():
    split = split_pool(1_000, EVEN, 3)
    assert split == PoolSplit(
        pool=1_000,
        platform=202,  # 200 + the 2 units 200 // 3 leaves over
        issuer=200,
        redeemer=200,
        holder=200,
        earlier_count=3,
        earlier_each=66,
    )
    assert split.total == 1_000


def test_without_earlier_holders_the_platform_takes_their_share():
    split = split_pool(1_000, EVEN, 0)
    assert (split.platform, split.earlier_each, split.earlier_count) == (400, 0, 0)
    assert split.total == 1_000


def test_remainders_go_to_the_platform():
    shares = Shares(platform=0, issuer=3_333, redeemer=3_333, holder=3_334, earlier=0)
    split = split_pool(10, shares, 0)
    assert (split.issuer, split.redeemer, split.holder) == (3, 3, 3)
    assert split.platform == 1


def test_empty_pool():
    assert split_pool(0, EVEN, 16).total == 0


@pytest.mark.parametrize(
    ("pool", "count", "field"),
    [(-1, 0, "pool"), (MAX_ORDER_AMOUNT + 1, 0, "pool"), (10, 17, "earlier_count")],
)
def test_split_rejects_out_of_range_inputs(pool, count, field):
    with pytest.raises(InvalidInput) as caught:
        split_pool(pool, EVEN, count)
    assert caught.value.field == field


def test_payouts_add_up_roles_played_by_one_account():
    credits = payouts(
        1_000,
        EVEN,
        platform="0xP",
        issuer="0xM",
        redeemer="0xm",  # same merchant, other spelling
        holder="0xA",
        earlier=["0xA", "0xB", "0xA"],
    )
    assert credits == {"0xp": 202, "0xm": 400, "0xa": 200 + 2 * 66, "0xb": 66}


def test_payouts_leave_out_accounts_credited_nothing():
    shares = Shares(platform=BPS, issuer=0, redeemer=0, holder=0, earlier=0)
    credits = payouts(
        7, shares, platform="0xP", issuer="0xM", redeemer="0xN", holder="0xA", earlier=["0xB"]
    )
    assert credits == {"0xp": 7}


@given(
    pool=st.integers(0, MAX_ORDER_AMOUNT),
    shares=shares(),
    count=st.integers(0, MAX_EARLIER_HOLDERS),
)
def test_split_is_exact_and_every_part_is_its_rounded_down_share(pool, shares, count):
    split = split_pool(pool, shares, count)
    assert split.total == pool
    assert split.issuer == pool * shares.issuer // BPS
    assert split.redeemer == pool * shares.redeemer // BPS
    assert split.holder == pool * shares.holder // BPS
    if count:
        assert split.earlier_each == pool * shares.earlier // BPS // count
    # the platform gets its share and never more than its share plus rounding
    # (and the earlier holders' share when there are none)
    floor = pool * shares.platform // BPS
    extra = pool * shares.earlier // BPS if count == 0 else 0
    assert floor + extra <= split.platform <= floor + extra + 4 + count


@given(
    pool=st.integers(0, MAX_ORDER_AMOUNT),
    shares=shares(),
    earlier=st.lists(st.sampled_from(["0xA", "0xB", "0xC"]), max_size=MAX_EARLIER_HOLDERS),
)
def test_payouts_sum_to_the_pool(pool, shares, earlier):
    credits = payouts(
        pool, shares, platform="0xP", issuer="0xM", redeemer="0xN", holder="0xH", earlier=earlier
    )
    assert sum(credits.values()) == pool
    assert all(amount > 0 for amount in credits.values())
