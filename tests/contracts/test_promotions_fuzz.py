"""Promotion coupons: fuzz tests of the incentive and the pool split.

For random order amounts, incentive rates, shares and holder paths, the
contract charges what `domain.splits.incentive` says and credits exactly what
`domain.splits.payouts` says; the credits add up to the pools to the unit.
Every example runs inside its own state snapshot.
"""

import boa
import pytest
from hypothesis import given
from hypothesis import strategies as st
from promotions_setup import build_world

from couponchain.domain.splits import (
    BPS,
    MAX_EARLIER_HOLDERS,
    MAX_ORDER_AMOUNT,
    Shares,
    incentive,
    payouts,
    split_pool,
)

HOLDERS = 5

bps = st.one_of(st.sampled_from([0, 1, 3_333, 5_000, 9_999, BPS]), st.integers(0, BPS))


@st.composite
def shares(draw) -> Shares:
    """Five basis-point shares summing to 10,000 (cut points of [0, 10000])."""
    cuts = sorted(draw(st.lists(bps, min_size=4, max_size=4)))
    bounds = [0, *cuts, BPS]
    return Shares(*(bounds[i + 1] - bounds[i] for i in range(5)))


order_amounts = st.one_of(
    st.sampled_from([1, 9_999, 10_000, 10**18, MAX_ORDER_AMOUNT]),
    st.integers(1, MAX_ORDER_AMOUNT),
)

# A path is a first holder and a list of hops; each hop moves the coupon to a
# different consumer (offset 1..HOLDERS-1 from the current one).
paths = st.tuples(
    st.integers(0, HOLDERS - 1),
    st.lists(st.integers(1, HOLDERS - 1), max_size=MAX_EARLIER_HOLDERS),
)

coupon_cases = st.fixed_dictionaries(
    {
        "shares": shares(),
        "incentive_bps": bps,
        "amount": order_amounts,
        "path": paths,
        "issuer": st.sampled_from(["merchant", "other_merchant"]),
        "redeemer": st.sampled_from(["merchant", "other_merchant", "terminal"]),
    }
)


@pytest.fixture(scope="module")
def world(platform, merchant, other_merchant, terminal):
    return build_world(platform, merchant, other_merchant, terminal, holders=HOLDERS)


def _run_case(world, case) -> tuple[int, dict[str, int]]:
    """Grant, pass along and write off one coupon; returns its id and expected credits."""
    round_id = world.open_round(
        10, incentive_bps=case["incentive_bps"], shares=case["shares"], window=0
    )
    issuer = getattr(world, case["issuer"])
    first, offsets = case["path"]
    holder = world.holders[first]
    coupon_id = world.give(holder, round_id=round_id, merchant=issuer)
    earlier = []
    index = first
    for offset in offsets:
        index = (index + offset) % HOLDERS
        receiver = world.holders[index]
        world.transfer(coupon_id, holder, receiver)
        earlier.append(holder.address)
        holder = receiver
    caller = getattr(world, case["redeemer"])
    charged = world.write_off(coupon_id, holder, case["amount"], caller=caller)
    pool = incentive(case["amount"], case["incentive_bps"])
    assert charged == pool
    assert world.promotions.coupon(coupon_id).pool == pool
    expected = payouts(
        pool,
        case["shares"],
        platform=world.platform,
        issuer=issuer,
        redeemer=world.registry.merchant_of(caller),
        holder=holder.address,
        earlier=earlier,
    )
    return coupon_id, expected


@given(cases=st.lists(coupon_cases, min_size=1, max_size=3))
def test_contract_split_equals_domain_split(world, cases):
    with boa.env.anchor():
        p = world.promotions
        expected: dict[str, int] = {}
        coupon_ids = []
        for case in cases:
            coupon_id, credits = _run_case(world, case)
            coupon_ids.append(coupon_id)
            for account, amount in credits.items():
                expected[account] = expected.get(account, 0) + amount
        pools = sum(p.coupon(i).pool for i in coupon_ids)
        assert world.token.balanceOf(p.address) == pools

        boa.env.time_travel(seconds=1)  # every round here has a zero window
        p.distribute(coupon_ids)

        accounts = {
            world.platform,
            world.merchant,
            world.other_merchant,
            world.terminal,
            *(h.address for h in world.holders),
        }
        credited = {a.lower(): p.claimable(a) for a in accounts}
        assert {a: v for a, v in credited.items() if v} == expected
        assert sum(credited.values()) == pools == world.token.balanceOf(p.address)


@given(
    shares=shares(),
    amount=order_amounts,
    incentive_bps=bps,
    transfers=st.integers(0, MAX_EARLIER_HOLDERS),
)
def test_distribution_event_reports_the_domain_split(
    world, shares, amount, incentive_bps, transfers
):
    with boa.env.anchor():
        p = world.promotions
        round_id = world.open_round(10, incentive_bps=incentive_bps, shares=shares, window=0)
        a, b = world.holders[:2]
        coupon_id = world.give(a, round_id=round_id)
        holder, other = a, b
        for _ in range(transfers):
            world.transfer(coupon_id, holder, other)
            holder, other = other, holder
        world.write_off(coupon_id, holder, amount)
        boa.env.time_travel(seconds=1)
        p.distribute([coupon_id])
        (event,) = [e for e in p.get_logs() if type(e).__name__ == "PoolDistributed"]
        split = split_pool(incentive(amount, incentive_bps), shares, transfers)
        assert (
            event.pool,
            event.platform_amount,
            event.issuer_amount,
            event.redeemer_amount,
            event.holder_amount,
            event.earlier_count,
            event.earlier_each,
        ) == (
            split.pool,
            split.platform,
            split.issuer,
            split.redeemer,
            split.holder,
            split.earlier_count,
            split.earlier_each,
        )
        assert split.total == split.pool
