"""Peer-to-peer batch sales: fuzz tests of the rebate payouts against the model.

For random batch sequences (prices, circulations, rebate ratios, buyers,
promoters, quantities, early closes and withdrawals) the contract pays every
account exactly what `domain.rebates.Ledger` computes with the contract's
integer rules; each account is within its stated rounding of the exact
`Fraction` entitlement (holders short by under one token unit per earning
unit per batch, never over; the originator over by exactly what holders are
short once batches end), and the sums are exact: everything paid in is
credited, withdrawn, or waiting in the open batch's buffer. Every example
runs inside its own state snapshot.
"""

import boa
import pytest
from hypothesis import given
from hypothesis import strategies as st
from referrals_setup import MAX_REBATE_BPS, build_world

from couponchain.domain.rebates import Ledger

CONSUMERS = 5

prices = st.one_of(st.sampled_from([1, 7, 1_001, 10**6]), st.integers(1, 10**12))
rebates = st.one_of(st.sampled_from([0, 1, 999, MAX_REBATE_BPS]), st.integers(0, MAX_REBATE_BPS))

steps = st.lists(
    st.one_of(
        st.tuples(
            st.just("buy"), st.integers(0, CONSUMERS - 1), st.integers(1, 6), st.integers(0, 9)
        ),
        st.tuples(st.just("batch"), prices, st.integers(1, 12), rebates, st.booleans()),
        st.tuples(st.just("withdraw"), st.integers(0, CONSUMERS)),
    ),
    min_size=1,
    max_size=25,
)


@pytest.fixture(scope="module")
def world(platform, merchant, other_merchant, terminal):
    return build_world(platform, merchant, other_merchant, terminal, consumers=CONSUMERS)


@given(
    first=st.lists(st.tuples(st.integers(0, CONSUMERS - 1), st.integers(1, 4)), max_size=4),
    price=prices,
    steps=steps,
)
def test_contract_payouts_match_the_model(world, first, price, steps):
    with boa.env.anchor():
        r = world.referrals
        names = [c.address for c in world.consumers]
        ledger = Ledger.new(world.originator, price, 20)
        product_id = world.register(price=price, circulation=20)
        withdrawn = {a: 0 for a in [world.originator, *names]}

        for buyer, quantity in first:
            ledger.purchase(names[buyer], quantity)
            world.buy(world.consumers[buyer], product_id, quantity)

        for step in steps:
            kind = step[0]
            batch = ledger.batches[-1]
            if kind == "batch":
                _, batch_price, circulation, rebate_bps, close = step
                if not batch.ended:
                    if not close:
                        continue
                    ledger.close_batch()
                    world.close_batch(product_id)
                ledger.open_batch(batch_price, circulation, rebate_bps)
                world.open_batch(product_id, batch_price, circulation, rebate_bps)
            elif kind == "buy":
                _, buyer, quantity, pick = step
                if batch.ended:
                    continue
                quantity = min(quantity, batch.circulation - batch.sold)
                promoter = None
                if ledger.current > 1:
                    eligible = [i for i, a in enumerate(names) if ledger.earlier_units(a)]
                    eligible = [i for i in eligible if i != buyer]
                    if not eligible:
                        continue
                    promoter = eligible[pick % len(eligible)]
                split = ledger.purchase(
                    names[buyer], quantity, None if promoter is None else names[promoter]
                )
                paid = world.buy(
                    world.consumers[buyer],
                    product_id,
                    quantity,
                    None if promoter is None else world.consumers[promoter],
                )
                assert paid == split.amount
            else:
                account = ([*names, world.originator])[step[1]]
                if r.claimable(account) == 0:
                    continue
                with boa.env.prank(account):
                    withdrawn[account] += r.withdraw()

            # Sums are exact after every step.
            owed = sum(r.claimable(a) for a in withdrawn)
            buffer = r.batch(product_id, ledger.current).undistributed
            assert buffer == ledger.open_batch_buffer
            assert owed + buffer == world.token.balanceOf(r.address)
            assert owed + buffer + sum(withdrawn.values()) == ledger.paid

        shortfall = 0
        for account in names:
            paid_out = r.claimable(account) + withdrawn[account]
            assert paid_out == ledger.credited.get(account, 0)
            gap = ledger.entitled.get(account, 0) - paid_out
            assert gap >= 0
            assert gap == 0 or gap < ledger.bound[account]
            shortfall += gap
        originator = r.claimable(world.originator) + withdrawn[world.originator]
        assert originator == ledger.credited[world.originator]
        assert (
            originator - ledger.entitled[world.originator] == shortfall - ledger.open_batch_buffer
        )
        assert r.product(product_id).units_sold == sum(b.sold for b in ledger.batches)
