"""Promotion coupons: unit tests for every rule and revert of promotions.vy.

Rounds, allocation, grants, transfers, write-offs with consent (and the attacks
a consent must survive), rollback, distribution and withdrawal, plus the gas
of a round that does not depend on its size.
"""

import boa
import pytest
from eth_utils import keccak
from promotions_setup import (
    DEFAULT_INCENTIVE_BPS,
    DEFAULT_SHARES,
    DEFAULT_WINDOW,
    INPUTS_HASH,
    STATUS_ACTIVE,
    STATUS_DISTRIBUTED,
    STATUS_NONE,
    STATUS_WRITTEN_OFF,
    ZERO,
    build_world,
)

from conftest import deployer
from couponchain.domain import consent as consent_rules
from couponchain.domain import eip712
from couponchain.domain.splits import Shares, payouts
from couponchain.errors import InvalidInput

ERR_NOT_PLATFORM = "promotions: caller is not the platform"
ERR_NOT_MERCHANT = "promotions: caller is not a merchant"
ERR_NOT_ACTOR = "promotions: caller is not a merchant or terminal"
ERR_UNKNOWN_ROUND = "promotions: unknown round"
ERR_NOT_ACTIVE = "promotions: coupon not active"
ERR_NOT_HOLDER = "promotions: caller is not the holder"
ERR_NOT_CONSUMER = "promotions: recipient is not a consumer"
ERR_SIGNER = "promotions: consent not signed by the holder"
ERR_NONCE = "promotions: consent nonce already used"
ERR_EXPIRED = "promotions: consent expired"
ERR_LIFETIME = "promotions: consent lifetime too long"
ERR_SHARES = "promotions: shares must sum to 10000 bps"
ERR_WINDOW_OPEN = "promotions: rollback window still open"
ERR_WINDOW_CLOSED = "promotions: rollback window closed"
ERR_DISTRIBUTED = "promotions: pool already distributed"
ERR_NOT_WRITTEN_OFF = "promotions: coupon not written off"
ERR_HIGH_S = "ecdsa: invalid signature `s` value"
ERR_CAP = "promotions: incentive cap exceeded"

ORDER = 2 * 10**18
INCENTIVE = ORDER * DEFAULT_INCENTIVE_BPS // 10_000


@pytest.fixture(scope="module")
def world(platform, merchant, other_merchant, terminal):
    return build_world(platform, merchant, other_merchant, terminal)


@pytest.fixture
def stranger() -> str:
    return boa.env.generate_address("stranger")


def events(contract, name: str) -> list:
    """The decoded `name` events of the contract's last call (token events left out)."""
    return [log for log in contract.get_logs() if type(log).__name__ == name]


# --- deployment ------------------------------------------------------------


def test_deploy_binds_registry_token_and_eip712_domain(world):
    p = world.promotions
    assert p.registry() == world.registry.address
    assert p.token() == world.token.address
    assert p.next_coupon_id() == 1
    assert p.round_count() == 0
    fields, name, version, chain_id, contract, salt, extensions = p.eip712Domain()
    assert (fields, name, version) == (b"\x0f", "CouponChain Promotions", "1")
    assert (chain_id, contract) == (1, p.address)
    assert (salt, extensions) == (b"\x00" * 32, [])


def test_consent_digest_matches_domain_rules(world):
    for merchant, cap in ((ZERO, 2**96 - 1), (world.merchant, 12_345)):
        consent = consent_rules.Consent(
            coupon=7, nonce=3, expiry=1_700_000_000, merchant=merchant, max_amount=cap
        )
        expected = consent_rules.digest(consent, 1, world.promotions.address)
        assert world.promotions.consent_digest(7, 3, 1_700_000_000, merchant, cap) == expected


# --- rounds ----------------------------------------------------------------


def test_open_round_issues_a_range_to_the_platform(world):
    p = world.promotions
    round_id = world.open_round(1_000, window=600, lifetime=120)
    assert round_id == 1
    (event,) = events(p, "RoundOpened")
    assert (event.round_id, event.platform, event.first_id, event.total) == (
        1,
        world.platform,
        1,
        1_000,
    )
    assert event.inputs_hash == INPUTS_HASH
    assert event.incentive_bps == DEFAULT_INCENTIVE_BPS
    assert tuple(event.shares) == DEFAULT_SHARES.as_tuple()
    assert (event.rollback_window, event.max_consent_lifetime) == (600, 120)
    r = p.rounds(1)
    assert (r.first_id, r.total, r.next_id, r.allocated) == (1, 1_000, 1, 0)
    assert r.opened_at == boa.env.timestamp
    assert p.next_coupon_id() == 1_001
    assert p.holder_of(1) == world.platform
    assert p.holder_of(1_000) == world.platform
    assert p.holder_of(1_001) == ZERO
    assert p.holder_of(0) == ZERO
    assert p.coupon(1).status == STATUS_NONE


def test_rounds_take_consecutive_id_ranges(world):
    world.open_round(10)
    assert world.open_round(5) == 2
    assert world.promotions.rounds(2).first_id == 11
    assert world.promotions.next_coupon_id() == 16


def test_open_round_only_by_platform(world, merchant):
    with boa.env.prank(merchant), boa.reverts(ERR_NOT_PLATFORM):
        world.promotions.open_round(INPUTS_HASH, 10, 0, DEFAULT_SHARES.as_tuple(), 0, 60)


@pytest.mark.parametrize(
    ("total", "incentive", "shares", "window", "lifetime", "reason"),
    [
        (0, 0, (10_000, 0, 0, 0, 0), 0, 60, "promotions: zero total"),
        (2**64, 0, (10_000, 0, 0, 0, 0), 0, 60, "promotions: total too large"),
        (1, 10_001, (10_000, 0, 0, 0, 0), 0, 60, "promotions: incentive rate above 10000 bps"),
        (1, 0, (2_000, 2_000, 2_000, 2_000, 1_999), 0, 60, ERR_SHARES),
        (1, 0, (2_000, 2_000, 2_000, 2_000, 2_001), 0, 60, ERR_SHARES),
        (1, 0, (2**256 - 1, 1, 0, 0, 10_000), 0, 60, ERR_SHARES),
        (1, 0, (10_000, 0, 0, 0, 0), 30 * 86_400 + 1, 60, "promotions: rollback window too long"),
        (1, 0, (10_000, 0, 0, 0, 0), 0, 0, "promotions: zero consent lifetime"),
        (1, 0, (10_000, 0, 0, 0, 0), 0, 301, "promotions: consent lifetime above 300 s"),
    ],
)
def test_open_round_rejects_bad_parameters(
    world, total, incentive, shares, window, lifetime, reason
):
    with boa.env.prank(world.platform), boa.reverts(reason):
        world.promotions.open_round(INPUTS_HASH, total, incentive, shares, window, lifetime)


def test_open_round_accepts_the_limits(world):
    with boa.env.prank(world.platform):
        world.promotions.open_round(
            INPUTS_HASH, 2**64 - 1, 10_000, (0, 0, 0, 0, 10_000), 30 * 86_400, 300
        )
    assert world.promotions.next_coupon_id() == 2**64


MEASURED_HASH = keccak(text="test measured inputs")


def _open_measured(world, period_from, period_to, measured_hash=MEASURED_HASH, total=10):
    with boa.env.prank(world.platform):
        return world.promotions.open_measured_round(
            INPUTS_HASH, total, 500, DEFAULT_SHARES.as_tuple(), 0, 60,
            period_from, period_to, measured_hash,
        )


def test_a_measured_round_records_its_period_and_measured_hash(world):
    boa.env.time_travel(blocks=20)
    cut_off = boa.env.evm.patch.block_number - 1
    round_id = _open_measured(world, 5, cut_off)
    (event,) = events(world.promotions, "RoundOpened")
    assert (event.period_from, event.period_to, event.measured_hash) == (
        5, cut_off, MEASURED_HASH)
    r = world.promotions.rounds(round_id)
    assert (r.period_from, r.period_to, r.measured_hash) == (5, cut_off, MEASURED_HASH)
    assert r.inputs_hash == INPUTS_HASH  # the full evaluation's hash, kept apart
    # A period of one block is a period.
    r2 = world.promotions.rounds(_open_measured(world, cut_off, cut_off))
    assert (r2.period_from, r2.period_to) == (cut_off, cut_off)


def test_a_declared_round_records_no_period(world):
    round_id = world.open_round(10)
    (event,) = events(world.promotions, "RoundOpened")
    assert event.measured_hash == b"\x00" * 32
    r = world.promotions.rounds(round_id)
    assert (r.period_from, r.period_to, r.measured_hash) == (0, 0, b"\x00" * 32)


@pytest.mark.parametrize(
    ("from_offset", "to_offset", "measured", "reason"),
    [
        (-3, -1, b"\x00" * 32, "promotions: zero measured-inputs hash"),
        (-1, -2, MEASURED_HASH, "promotions: period ends before it starts"),
        (-3, 0, MEASURED_HASH, "promotions: period not yet mined"),
        (-3, 5, MEASURED_HASH, "promotions: period not yet mined"),
    ],
    ids=["zero hash", "ends before it starts", "current block", "future block"],
)
def test_a_measured_round_refuses_a_bad_period(world, from_offset, to_offset, measured, reason):
    boa.env.time_travel(blocks=10)
    number = boa.env.evm.patch.block_number
    period_from, period_to = number + from_offset, number + to_offset
    before = world.promotions.round_count()
    with boa.reverts(reason):
        _open_measured(world, period_from, period_to, measured)
    assert world.promotions.round_count() == before


def test_only_the_platform_opens_a_measured_round(world, merchant):
    boa.env.time_travel(blocks=2)
    with boa.env.prank(merchant), boa.reverts(ERR_NOT_PLATFORM):
        world.promotions.open_measured_round(
            INPUTS_HASH, 10, 0, DEFAULT_SHARES.as_tuple(), 0, 60, 0, 0, MEASURED_HASH)


def _gas(contract) -> int:
    """Execution gas of the contract's last call (intrinsic gas aside)."""
    return contract._computation.get_gas_used()


def test_a_round_of_ten_million_costs_the_same_as_a_round_of_ten(world):
    p, holder = world.promotions, world.holders[0].address
    costs = {}
    for total in (10, 10_000_000):
        with boa.env.anchor():
            with boa.env.prank(world.platform):
                p.open_round(INPUTS_HASH, total, 500, (10_000, 0, 0, 0, 0), 0, 60)
                opened = _gas(p)
                p.allocate(1, [world.merchant], [total])
                allocated = _gas(p)
            with boa.env.prank(world.merchant):
                p.grant(1, [holder], [1])
                granted = _gas(p)
            costs[total] = (opened, allocated, granted)
    assert costs[10] == costs[10_000_000]
    assert costs[10][0] < 300_000


# --- allocation ------------------------------------------------------------


def test_allocate_adds_to_merchant_allowances(world):
    p = world.promotions
    world.open_round(100)
    with boa.env.prank(world.platform):
        p.allocate(1, [world.merchant, world.other_merchant, world.merchant], [10, 20, 5])
    allocated = [(e.round_id, e.merchant, e.count, e.allowance) for e in events(p, "Allocated")]
    assert allocated == [
        (1, world.merchant, 10, 10),
        (1, world.other_merchant, 20, 20),
        (1, world.merchant, 5, 15),
    ]
    assert p.allowance(1, world.merchant) == 15
    assert p.allowance(1, world.other_merchant) == 20
    assert p.rounds(1).allocated == 35


def test_allocate_up_to_the_total_and_no_further(world):
    world.open_round(10)
    world.allocate(1, world.merchant, 10)
    with (
        boa.env.prank(world.platform),
        boa.reverts("promotions: allocation exceeds the round total"),
    ):
        world.promotions.allocate(1, [world.other_merchant], [1])


@pytest.mark.parametrize(
    ("round_id", "merchants", "counts", "reason"),
    [
        (0, ["merchant"], [1], ERR_UNKNOWN_ROUND),
        (2, ["merchant"], [1], ERR_UNKNOWN_ROUND),
        (1, ["merchant"], [1, 1], "promotions: counts length mismatch"),
        (1, ["merchant"], [0], "promotions: zero count"),
        (1, ["merchant"], [11], "promotions: allocation exceeds the round total"),
        (1, ["merchant"], [2**256 - 1], "promotions: allocation exceeds the round total"),
        (1, ["terminal"], [1], "promotions: allocation to a non-merchant"),
        (1, ["platform"], [1], "promotions: allocation to a non-merchant"),
    ],
)
def test_allocate_rejects(world, round_id, merchants, counts, reason):
    world.open_round(10)
    accounts = [getattr(world, name) for name in merchants]
    with boa.env.prank(world.platform), boa.reverts(reason):
        world.promotions.allocate(round_id, accounts, counts)


def test_allocate_only_by_platform(world):
    world.open_round(10)
    with boa.env.prank(world.merchant), boa.reverts(ERR_NOT_PLATFORM):
        world.promotions.allocate(1, [world.merchant], [1])


# --- grants ----------------------------------------------------------------


def test_grant_takes_ids_in_order_and_records_each_coupon(world):
    p = world.promotions
    a, b = world.holders[0].address, world.holders[1].address
    world.open_round(100)
    world.allocate(1, world.merchant, 5)
    world.allocate(1, world.other_merchant, 5)
    first = world.grant(1, world.merchant, [a, b], [1, 2])
    assert first == 1
    granted = [(e.merchant, e.consumer, e.first_id, e.last_id) for e in events(p, "Granted")]
    assert granted == [(world.merchant, a, 1, 1), (world.merchant, b, 2, 3)]
    assert world.grant(1, world.other_merchant, [a], [2]) == 4
    assert p.rounds(1).next_id == 6
    assert p.allowance(1, world.merchant) == 2
    expected_holders = {1: a, 2: b, 3: b, 4: a, 5: a}
    for coupon_id, holder in expected_holders.items():
        c = p.coupon(coupon_id)
        issuer = world.merchant if coupon_id <= 3 else world.other_merchant
        assert (c.holder, c.status, c.round_id, c.issuer, c.transfers) == (
            holder,
            STATUS_ACTIVE,
            1,
            issuer,
            0,
        )
        assert p.holder_of(coupon_id) == holder
    assert p.holder_of(6) == world.platform


def test_grants_of_a_later_round_use_its_range(world):
    world.open_round(10)
    world.open_round(10)
    world.allocate(2, world.merchant, 1)
    assert world.grant(2, world.merchant, [world.holders[0].address], [1]) == 11
    assert world.promotions.coupon(11).round_id == 2


def test_grant_of_256_coupons_in_one_call(world):
    world.open_round(1_000)
    world.allocate(1, world.merchant, 300)
    holders = [h.address for h in world.holders[:4]]
    assert world.grant(1, world.merchant, holders, [64, 64, 64, 64]) == 1
    assert world.promotions.coupon(256).holder == holders[3]
    with boa.reverts("promotions: more than 256 coupons in one grant"):
        world.grant(1, world.merchant, holders[:2], [40, 217])


@pytest.mark.parametrize(
    ("round_id", "consumers", "counts", "reason"),
    [
        (0, [0], [1], ERR_UNKNOWN_ROUND),
        (3, [0], [1], ERR_UNKNOWN_ROUND),
        (1, [], [], "promotions: empty batch"),
        (1, [0, 1], [1], "promotions: counts length mismatch"),
        (1, [0], [0], "promotions: zero count"),
        (1, [0, 1], [3, 3], "promotions: allowance exceeded"),
        (1, [0], [2**256 - 1], "promotions: more than 256 coupons in one grant"),
        (2, [0], [1], "promotions: allowance exceeded"),
    ],
)
def test_grant_rejects(world, round_id, consumers, counts, reason):
    world.open_round(10)
    world.open_round(10)
    world.allocate(1, world.merchant, 5)
    with boa.env.prank(world.merchant), boa.reverts(reason):
        world.promotions.grant(round_id, [world.holders[i].address for i in consumers], counts)


@pytest.mark.parametrize("recipient", ["merchant", "terminal", "platform", "stranger"])
def test_grant_only_to_consumers(world, stranger, recipient):
    world.open_round(10)
    world.allocate(1, world.merchant, 5)
    account = stranger if recipient == "stranger" else getattr(world, recipient)
    with boa.env.prank(world.merchant), boa.reverts(ERR_NOT_CONSUMER):
        world.promotions.grant(1, [account], [1])


@pytest.mark.parametrize("caller", ["terminal", "platform", "consumer"])
def test_grant_only_by_merchants(world, caller):
    world.open_round(10)
    account = world.holders[0].address if caller == "consumer" else getattr(world, caller)
    with boa.env.prank(account), boa.reverts(ERR_NOT_MERCHANT):
        world.promotions.grant(1, [world.holders[0].address], [1])


# --- transfers -------------------------------------------------------------


def test_transfer_moves_the_coupon_and_records_the_path(world):
    p = world.promotions
    a, b, c = world.holders[:3]
    coupon_id = world.give(a)
    world.transfer(coupon_id, a, b)
    (event,) = events(p, "Transferred")
    assert (event.coupon_id, event.sender, event.receiver, event.transfers) == (
        coupon_id,
        a.address,
        b.address,
        1,
    )
    world.transfer(coupon_id, b, c)
    world.transfer(coupon_id, c, a)
    assert p.holder_of(coupon_id) == a.address
    assert p.earlier_holders(coupon_id) == [a.address, b.address, c.address]
    assert p.coupon(coupon_id).transfers == 3


def test_transfer_limit_is_sixteen(world):
    a, b = world.holders[:2]
    coupon_id = world.give(a)
    for hop in range(16):
        sender, receiver = (a, b) if hop % 2 == 0 else (b, a)
        world.transfer(coupon_id, sender, receiver)
    assert len(world.promotions.earlier_holders(coupon_id)) == 16
    with boa.reverts("promotions: transfer limit reached (16 per coupon)"):
        world.transfer(coupon_id, a, b)


def test_transfer_rejects(world, stranger):
    p = world.promotions
    a, b = world.holders[:2]
    coupon_id = world.give(a)
    with boa.env.prank(b.address), boa.reverts(ERR_NOT_HOLDER):
        p.transfer(coupon_id, b.address)
    with boa.env.prank(a.address), boa.reverts("promotions: transfer to self"):
        p.transfer(coupon_id, a.address)
    for receiver in (world.merchant, world.terminal, stranger, ZERO):
        with boa.env.prank(a.address), boa.reverts(ERR_NOT_CONSUMER):
            p.transfer(coupon_id, receiver)
    # issued but not granted (held by the platform), and never issued
    with boa.env.prank(world.platform), boa.reverts(ERR_NOT_ACTIVE):
        p.transfer(coupon_id + 1, b.address)
    with boa.env.prank(a.address), boa.reverts(ERR_NOT_ACTIVE):
        p.transfer(10**9, b.address)


def test_written_off_coupon_cannot_be_transferred(world):
    a, b = world.holders[:2]
    coupon_id = world.give(a)
    world.write_off(coupon_id, a, ORDER)
    with boa.env.prank(a.address), boa.reverts(ERR_NOT_ACTIVE):
        world.promotions.transfer(coupon_id, b.address)


# --- write-off -------------------------------------------------------------


def test_write_off_charges_the_merchant_into_the_coupon_pool(world):
    p, token = world.promotions, world.token
    a = world.holders[0]
    coupon_id = world.give(a)
    world.fund(world.merchant, INCENTIVE)
    nonce, expiry, to, cap, signature = world.consent(a, coupon_id)
    with boa.env.prank(world.merchant):
        assert p.write_off(coupon_id, ORDER, nonce, expiry, to, cap, signature) == INCENTIVE
    (event,) = events(p, "WrittenOff")
    assert (event.coupon_id, event.holder, event.merchant, event.operator) == (
        coupon_id,
        a.address,
        world.merchant,
        world.merchant,
    )
    assert (event.order_amount, event.incentive, event.nonce) == (ORDER, INCENTIVE, nonce)
    assert token.balanceOf(p.address) == INCENTIVE
    assert token.balanceOf(world.merchant) == 0
    c = p.coupon(coupon_id)
    assert (c.status, c.holder, c.redeemer, c.pool) == (
        STATUS_WRITTEN_OFF,
        a.address,
        world.merchant,
        INCENTIVE,
    )
    assert c.written_off_at == boa.env.timestamp
    assert p.nonce_used(a.address, nonce)
    assert not p.nonce_used(a.address, nonce + 1)


def test_terminal_writes_off_for_its_merchant(world):
    p = world.promotions
    a = world.holders[0]
    coupon_id = world.give(a, merchant=world.other_merchant)
    world.write_off(coupon_id, a, ORDER, caller=world.terminal)
    (event,) = events(p, "WrittenOff")
    assert (event.merchant, event.operator) == (world.merchant, world.terminal)
    assert p.coupon(coupon_id).redeemer == world.merchant
    assert world.token.balanceOf(p.address) == INCENTIVE


def test_incentive_rounds_down(world):
    round_id = world.open_round(incentive_bps=333)
    coupon_id = world.give(world.holders[0], round_id=round_id)
    assert world.write_off(coupon_id, world.holders[0], 100) == 3


def test_zero_rate_round_charges_nothing_and_needs_no_approval(world):
    a = world.holders[0]
    round_id = world.open_round(incentive_bps=0)
    coupon_id = world.give(a, round_id=round_id)
    nonce, expiry, to, cap, signature = world.consent(a, coupon_id)
    with boa.env.prank(world.merchant):
        assert world.promotions.write_off(coupon_id, ORDER, nonce, expiry, to, cap, signature) == 0
    assert world.promotions.coupon(coupon_id).status == STATUS_WRITTEN_OFF


def test_write_off_without_approval_fails(world):
    a = world.holders[0]
    coupon_id = world.give(a)
    nonce, expiry, to, cap, signature = world.consent(a, coupon_id)
    with boa.env.prank(world.merchant), boa.reverts(ERR_CAP):
        world.promotions.write_off(coupon_id, ORDER, nonce, expiry, to, cap, signature)
    assert world.promotions.coupon(coupon_id).status == STATUS_ACTIVE


def test_incentives_stay_inside_the_merchants_cap(world, granted):
    """Issue 23: the merchant's approval is a cap it sets, not 2**256 - 1; each
    incentive uses it up, and a charge beyond what is left is refused by name."""
    a, p = world.holders[0], world.promotions
    with boa.env.prank(world.merchant):
        world.token.approve(p.address, INCENTIVE + INCENTIVE // 2)  # funded 10x (`granted`)
    _submit(world, granted[0], *world.consent(a, granted[0]))
    assert world.token.allowance(world.merchant, p.address) == INCENTIVE // 2
    signed = world.consent(a, granted[1])
    with boa.reverts(ERR_CAP):
        _submit(world, granted[1], *signed)
    assert world.token.balanceOf(world.merchant) == 9 * INCENTIVE  # the balance was not the limit
    with boa.env.prank(world.merchant):
        world.token.approve(p.address, INCENTIVE)  # the merchant raises its cap
    assert _submit(world, granted[1], *signed) == INCENTIVE
    assert world.token.allowance(world.merchant, p.address) == 0


def test_a_batch_beyond_the_cap_is_refused_whole(world, granted):
    a = world.holders[0]
    with boa.env.prank(world.merchant):
        world.token.approve(world.promotions.address, 2 * INCENTIVE - 1)
    one, two = world.consent(a, granted[0]), world.consent(a, granted[1])
    with boa.env.prank(world.terminal), boa.reverts(ERR_CAP):
        world.promotions.write_off_batch(
            list(granted), [ORDER, ORDER], *([x, y] for x, y in zip(one, two, strict=True))
        )
    assert world.promotions.coupon(granted[0]).status == STATUS_ACTIVE


@pytest.mark.parametrize("caller", ["platform", "consumer", "stranger"])
def test_write_off_only_by_merchants_and_terminals(world, stranger, caller):
    a = world.holders[0]
    coupon_id = world.give(a)
    nonce, expiry, to, cap, signature = world.consent(a, coupon_id)
    account = {"platform": world.platform, "consumer": a.address, "stranger": stranger}[caller]
    with boa.env.prank(account), boa.reverts(ERR_NOT_ACTOR):
        world.promotions.write_off(coupon_id, ORDER, nonce, expiry, to, cap, signature)


@pytest.mark.parametrize(
    ("amount", "reason"),
    [(0, "promotions: zero order amount"), (2**96, "promotions: order amount too large")],
)
def test_write_off_rejects_order_amounts(world, amount, reason):
    a = world.holders[0]
    coupon_id = world.give(a)
    nonce, expiry, to, cap, signature = world.consent(a, coupon_id)
    with boa.env.prank(world.merchant), boa.reverts(reason):
        world.promotions.write_off(coupon_id, amount, nonce, expiry, to, cap, signature)


def test_largest_order_amount_is_accepted(world):
    round_id = world.open_round(incentive_bps=10_000)
    coupon_id = world.give(world.holders[0], round_id=round_id)
    assert world.write_off(coupon_id, world.holders[0], 2**96 - 1) == 2**96 - 1
    assert world.promotions.coupon(coupon_id).pool == 2**96 - 1


def test_ungranted_coupon_cannot_be_written_off(world):
    a = world.holders[0]
    coupon_id = world.give(a) + 1  # issued, still the platform's
    nonce, expiry, to, cap, signature = world.consent(a, coupon_id)
    with boa.env.prank(world.merchant), boa.reverts(ERR_NOT_ACTIVE):
        world.promotions.write_off(coupon_id, ORDER, nonce, expiry, to, cap, signature)


# --- consent attacks -------------------------------------------------------


@pytest.fixture
def granted(world):
    """Two coupons held by holder 0, the merchant funded for many write-offs."""
    a = world.holders[0]
    round_id = world.open_round()
    world.allocate(round_id, world.merchant, 2)
    first = world.grant(round_id, world.merchant, [a.address], [2])
    world.fund(world.merchant, 10 * INCENTIVE)
    return first, first + 1


def _submit(world, coupon_id, nonce, expiry, to, cap, signature, caller=None, amount=ORDER):
    with boa.env.prank(caller or world.merchant):
        return world.promotions.write_off(coupon_id, amount, nonce, expiry, to, cap, signature)


def test_consent_expired(world, granted):
    a = world.holders[0]
    nonce, expiry, to, cap, signature = world.consent(a, granted[0], expiry=boa.env.timestamp + 60)
    boa.env.time_travel(seconds=61)
    with boa.reverts(ERR_EXPIRED):
        _submit(world, granted[0], nonce, expiry, to, cap, signature)


def test_consent_valid_until_its_expiry_second(world, granted):
    a = world.holders[0]
    nonce, expiry, to, cap, signature = world.consent(a, granted[0], expiry=boa.env.timestamp + 60)
    boa.env.time_travel(seconds=60)
    assert _submit(world, granted[0], nonce, expiry, to, cap, signature) == INCENTIVE


def test_consent_lifetime_capped_by_the_round(world, granted):
    a = world.holders[0]
    nonce, expiry, to, cap, signature = world.consent(a, granted[0], expiry=boa.env.timestamp + 301)
    with boa.reverts(ERR_LIFETIME):
        _submit(world, granted[0], nonce, expiry, to, cap, signature)
    short = world.open_round(lifetime=30)
    coupon_id = world.give(a, round_id=short)
    nonce, expiry, to, cap, signature = world.consent(a, coupon_id, expiry=boa.env.timestamp + 31)
    with boa.reverts(ERR_LIFETIME):
        _submit(world, coupon_id, nonce, expiry, to, cap, signature)
    nonce, expiry, to, cap, signature = world.consent(a, coupon_id, expiry=boa.env.timestamp + 30)
    assert _submit(world, coupon_id, nonce, expiry, to, cap, signature) == INCENTIVE


def test_consent_nonce_cannot_be_replayed_on_another_coupon(world, granted):
    a = world.holders[0]
    nonce, expiry, to, cap, signature = world.consent(a, granted[0], nonce=42)
    _submit(world, granted[0], nonce, expiry, to, cap, signature)
    _, expiry, to, cap, signature = world.consent(a, granted[1], nonce=42)
    with boa.reverts(ERR_NONCE):
        _submit(world, granted[1], 42, expiry, to, cap, signature)


def test_consent_cannot_be_replayed_on_the_same_coupon(world, granted):
    a = world.holders[0]
    nonce, expiry, to, cap, signature = world.consent(a, granted[0])
    _submit(world, granted[0], nonce, expiry, to, cap, signature)
    with boa.reverts(ERR_NOT_ACTIVE):
        _submit(world, granted[0], nonce, expiry, to, cap, signature)
    # after a rollback the coupon is active again, but the consent stays spent
    with boa.env.prank(world.merchant):
        world.promotions.reverse_write_off(granted[0])
    with boa.reverts(ERR_NONCE):
        _submit(world, granted[0], nonce, expiry, to, cap, signature)


def test_consent_for_another_chain(world, granted):
    nonce, expiry, to, cap, signature = world.consent(world.holders[0], granted[0], chain_id=5)
    with boa.reverts(ERR_SIGNER):
        _submit(world, granted[0], nonce, expiry, to, cap, signature)


def test_consent_after_a_chain_fork(world, granted):
    nonce, expiry, to, cap, signature = world.consent(world.holders[0], granted[0])
    chain_id = boa.env.evm.patch.chain_id
    boa.env.evm.patch.chain_id = 1_234
    try:
        with boa.reverts(ERR_SIGNER):
            _submit(world, granted[0], nonce, expiry, to, cap, signature)
    finally:
        boa.env.evm.patch.chain_id = chain_id


def test_consent_for_another_contract(world, granted):
    other = deployer("promotions").deploy(world.registry.address, world.token.address)
    signed = world.consent(world.holders[0], granted[0], contract=other.address)
    with boa.reverts(ERR_SIGNER):
        _submit(world, granted[0], *signed)


def test_consent_with_tampered_fields(world, granted):
    a = world.holders[0]
    nonce, expiry, to, cap, signature = world.consent(a, granted[0])
    with boa.reverts(ERR_SIGNER):
        _submit(world, granted[1], nonce, expiry, to, cap, signature)  # other coupon id
    with boa.reverts(ERR_SIGNER):
        _submit(world, granted[0], nonce + 1, expiry, to, cap, signature)
    with boa.reverts(ERR_SIGNER):
        _submit(world, granted[0], nonce, expiry - 1, to, cap, signature)


def test_high_s_malleated_consent(world, granted):
    nonce, expiry, to, cap, signature = world.consent(world.holders[0], granted[0])
    r, s, v = signature[:32], int.from_bytes(signature[32:64], "big"), signature[64]
    malleated = r + (eip712.SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - v])
    with boa.reverts(ERR_HIGH_S):
        _submit(world, granted[0], nonce, expiry, to, cap, malleated)
    # the honest form still works: the failed attempt did not spend the nonce
    assert _submit(world, granted[0], nonce, expiry, to, cap, signature) == INCENTIVE


def test_compact_and_malformed_signatures(world, granted):
    nonce, expiry, to, cap, signature = world.consent(world.holders[0], granted[0])
    r, s, v = signature[:32], signature[32:64], signature[64]
    compact = r + ((v - 27) << 255 | int.from_bytes(s, "big")).to_bytes(32, "big")  # EIP-2098
    with boa.reverts("promotions: signature must be 65 bytes"):
        _submit(world, granted[0], nonce, expiry, to, cap, compact)
    with boa.reverts("ecdsa: invalid signature"):
        _submit(world, granted[0], nonce, expiry, to, cap, r + s + bytes([v + 2]))
    with boa.reverts("ecdsa: invalid signature"):
        _submit(world, granted[0], nonce, expiry, to, cap, b"\x00" * 64 + bytes([v]))


def test_consent_signed_by_someone_else(world, granted):
    a, b = world.holders[:2]
    nonce, expiry, to, cap, signature = world.consent(b, granted[0])
    with boa.reverts(ERR_SIGNER):
        _submit(world, granted[0], nonce, expiry, to, cap, signature)


def test_consent_of_a_previous_holder(world, granted):
    a, b = world.holders[:2]
    nonce, expiry, to, cap, signature = world.consent(a, granted[0])
    world.transfer(granted[0], a, b)
    with boa.reverts(ERR_SIGNER):
        _submit(world, granted[0], nonce, expiry, to, cap, signature)
    nonce, expiry, to, cap, signature = world.consent(b, granted[0])
    assert _submit(world, granted[0], nonce, expiry, to, cap, signature) == INCENTIVE


# --- bounded consent (issue 23) ----------------------------------------------

ERR_OTHER_MERCHANT = "promotions: consent is for another merchant"
ERR_ABOVE_MAXIMUM = "promotions: order amount above the consent's maximum"


def test_consent_for_one_merchant_refuses_every_other_caller(world, granted):
    """Whoever sees the QR cannot write the coupon off at another merchant."""
    a = world.holders[0]
    world.fund(world.other_merchant, 10 * INCENTIVE)
    signed = world.consent(a, granted[0], merchant=world.other_merchant)
    # the merchant and its terminal are not the merchant the consent names
    for caller in (world.merchant, world.terminal):
        with boa.reverts(ERR_OTHER_MERCHANT):
            _submit(world, granted[0], *signed, caller=caller)
    # naming the caller's merchant instead breaks the holder's signature
    nonce, expiry, _, cap, signature = signed
    with boa.reverts(ERR_SIGNER):
        _submit(world, granted[0], nonce, expiry, world.merchant, cap, signature)
    assert _submit(world, granted[0], *signed, caller=world.other_merchant) == INCENTIVE
    (event,) = events(world.promotions, "WrittenOff")
    assert (event.consent_merchant, event.max_amount) == (world.other_merchant, cap)


def test_consent_for_a_merchant_is_good_at_its_terminals(world, granted):
    signed = world.consent(world.holders[0], granted[0], merchant=world.merchant)
    assert _submit(world, granted[0], *signed, caller=world.terminal) == INCENTIVE
    assert world.promotions.coupon(granted[0]).redeemer == world.merchant


def test_consent_for_any_merchant_only_when_the_holder_signed_zero(world, granted):
    world.fund(world.other_merchant, 10 * INCENTIVE)
    signed = world.consent(world.holders[0], granted[0])  # merchant = zero: any
    assert signed[2] == ZERO
    assert _submit(world, granted[0], *signed, caller=world.other_merchant) == INCENTIVE


def test_order_above_the_consents_maximum_is_refused(world, granted):
    """The consent caps the order amount: nothing larger can be charged against it."""
    signed = world.consent(world.holders[0], granted[0], max_amount=ORDER - 1)
    with boa.reverts(ERR_ABOVE_MAXIMUM):
        _submit(world, granted[0], *signed)
    nonce, expiry, to, _, signature = signed
    with boa.reverts(ERR_SIGNER):  # raising the maximum breaks the signature
        _submit(world, granted[0], nonce, expiry, to, ORDER, signature)
    assert not world.promotions.nonce_used(world.holders[0].address, nonce)
    assert _submit(world, granted[0], *signed, amount=ORDER - 1) == (
        (ORDER - 1) * DEFAULT_INCENTIVE_BPS // 10_000
    )


def test_order_of_exactly_the_maximum_is_accepted(world, granted):
    signed = world.consent(world.holders[0], granted[0], merchant=world.merchant, max_amount=ORDER)
    assert _submit(world, granted[0], *signed) == INCENTIVE


def test_batch_checks_every_consents_bounds(world, granted):
    a = world.holders[0]
    good = world.consent(a, granted[0], merchant=world.merchant)
    bad = world.consent(a, granted[1], merchant=world.other_merchant)
    with boa.env.prank(world.merchant), boa.reverts(ERR_OTHER_MERCHANT):
        world.promotions.write_off_batch(
            list(granted), [ORDER, ORDER], *([g, b] for g, b in zip(good, bad, strict=True))
        )
    assert world.promotions.coupon(granted[0]).status == STATUS_ACTIVE


def test_domain_check_refuses_what_the_contract_refuses(world):
    a, b = world.holders[:2]
    chain_id, contract, now = 1, world.promotions.address, 1_000_000
    good = consent_rules.Consent(coupon=1, nonce=0, expiry=now + 100, merchant=ZERO, max_amount=9)
    signature = consent_rules.sign_consent(good, chain_id, contract, a.key)
    check = dict(chain_id=chain_id, contract=contract, holder=a.address, now=now)
    consent_rules.check_consent(good, signature, **check)
    s = int.from_bytes(signature[32:64], "big")
    high_s = (
        signature[:32]
        + (eip712.SECP256K1_N - s).to_bytes(32, "big")
        + bytes([55 - signature[64]])
    )
    cases = [
        (good, signature, {**check, "now": now + 101}),  # expired
        (consent_rules.Consent(1, 0, now + 301, ZERO, 9), signature, check),  # lifetime
        (good, consent_rules.sign_consent(good, 5, contract, a.key), check),  # chain
        (good, consent_rules.sign_consent(good, chain_id, "0x" + "22" * 20, a.key), check),
        (consent_rules.Consent(2, 0, now + 100, ZERO, 9), signature, check),  # tampered coupon
        (consent_rules.Consent(1, 0, now + 100, ZERO, 10), signature, check),  # raised maximum
        (consent_rules.Consent(1, 0, now + 100, "0x" + "11" * 20, 9), signature, check),
        (good, high_s, check),
        (good, signature[:64], check),
        (good, consent_rules.sign_consent(good, chain_id, contract, b.key), check),
    ]
    for consent, sig, kwargs in cases:
        with pytest.raises(InvalidInput):
            consent_rules.check_consent(consent, sig, **kwargs)


# --- batch write-off -------------------------------------------------------


def test_write_off_batch_charges_once_for_all(world):
    p, token = world.promotions, world.token
    a, b = world.holders[:2]
    round_id = world.open_round()
    world.allocate(round_id, world.merchant, 3)
    first = world.grant(round_id, world.merchant, [a.address, b.address], [2, 1])
    ids, amounts = [first, first + 1, first + 2], [ORDER, 3 * ORDER, 10**18 + 7]
    consents = [world.consent(h, i) for h, i in zip([a, a, b], ids, strict=True)]
    total = sum(amount * DEFAULT_INCENTIVE_BPS // 10_000 for amount in amounts)
    world.fund(world.merchant, total)
    with boa.env.prank(world.terminal):
        assert (
            p.write_off_batch(
                ids,
                amounts,
                [c[0] for c in consents],
                [c[1] for c in consents],
                [c[2] for c in consents],
                [c[3] for c in consents],
                [c[4] for c in consents],
            )
            == total
        )
    logs = p.get_logs()
    assert [e.coupon_id for e in logs if type(e).__name__ == "WrittenOff"] == ids
    assert sum(1 for e in logs if type(e).__name__ == "Transfer") == 1
    assert token.balanceOf(p.address) == total
    assert [p.coupon(i).pool for i in ids] == [x * DEFAULT_INCENTIVE_BPS // 10_000 for x in amounts]


def test_write_off_batch_is_all_or_nothing(world, granted):
    a = world.holders[0]
    good = world.consent(a, granted[0])
    bad = world.consent(world.holders[1], granted[1])
    with boa.env.prank(world.merchant), boa.reverts(ERR_SIGNER):
        world.promotions.write_off_batch(
            list(granted), [ORDER, ORDER], *([g, b] for g, b in zip(good, bad, strict=True))
        )
    assert world.promotions.coupon(granted[0]).status == STATUS_ACTIVE
    assert not world.promotions.nonce_used(a.address, good[0])


def test_write_off_batch_rejects_a_coupon_twice(world, granted):
    a = world.holders[0]
    one, two = world.consent(a, granted[0]), world.consent(a, granted[0])
    with boa.env.prank(world.merchant), boa.reverts(ERR_NOT_ACTIVE):
        world.promotions.write_off_batch(
            [granted[0]] * 2, [ORDER] * 2, *([x, y] for x, y in zip(one, two, strict=True))
        )


@pytest.mark.parametrize(
    ("lengths", "reason"),
    [
        ((0, 0, 0, 0, 0, 0, 0), "promotions: empty batch"),
        ((1, 2, 1, 1, 1, 1, 1), "promotions: order amounts length mismatch"),
        ((1, 1, 0, 1, 1, 1, 1), "promotions: nonces length mismatch"),
        ((1, 1, 1, 2, 1, 1, 1), "promotions: expiries length mismatch"),
        ((1, 1, 1, 1, 0, 1, 1), "promotions: merchants length mismatch"),
        ((1, 1, 1, 1, 1, 2, 1), "promotions: max amounts length mismatch"),
        ((1, 1, 1, 1, 1, 1, 0), "promotions: signatures length mismatch"),
    ],
)
def test_write_off_batch_length_checks(world, granted, lengths, reason):
    nonce, expiry, to, cap, signature = world.consent(world.holders[0], granted[0])
    values = [granted[0], ORDER, nonce, expiry, to, cap, signature]
    args = [[value] * n for value, n in zip(values, lengths, strict=True)]
    with boa.env.prank(world.merchant), boa.reverts(reason):
        world.promotions.write_off_batch(*args)


# --- rollback --------------------------------------------------------------


def test_reverse_within_the_window_refunds_and_reactivates(world):
    p, token = world.promotions, world.token
    a = world.holders[0]
    coupon_id = world.give(a)
    world.write_off(coupon_id, a, ORDER)
    boa.env.time_travel(seconds=DEFAULT_WINDOW)  # the last second of the window
    with boa.env.prank(world.terminal):
        p.reverse_write_off(coupon_id)
    (event,) = events(p, "WriteOffReversed")
    assert (event.coupon_id, event.holder, event.merchant, event.operator, event.refund) == (
        coupon_id,
        a.address,
        world.merchant,
        world.terminal,
        INCENTIVE,
    )
    assert token.balanceOf(world.merchant) == INCENTIVE
    assert token.balanceOf(p.address) == 0
    c = p.coupon(coupon_id)
    assert (c.status, c.holder, c.redeemer, c.pool, c.written_off_at) == (
        STATUS_ACTIVE,
        a.address,
        ZERO,
        0,
        0,
    )
    # it can be written off again (by anyone participating) with a new consent
    world.write_off(coupon_id, a, ORDER, caller=world.other_merchant)
    assert p.coupon(coupon_id).redeemer == world.other_merchant


def test_reverse_keeps_the_path(world):
    a, b = world.holders[:2]
    coupon_id = world.give(a)
    world.transfer(coupon_id, a, b)
    world.write_off(coupon_id, b, ORDER)
    with boa.env.prank(world.merchant):
        world.promotions.reverse_write_off(coupon_id)
    assert world.promotions.holder_of(coupon_id) == b.address
    assert world.promotions.earlier_holders(coupon_id) == [a.address]


def test_reverse_after_the_window(world):
    a = world.holders[0]
    coupon_id = world.give(a)
    world.write_off(coupon_id, a, ORDER)
    boa.env.time_travel(seconds=DEFAULT_WINDOW + 1)
    with boa.env.prank(world.merchant), boa.reverts(ERR_WINDOW_CLOSED):
        world.promotions.reverse_write_off(coupon_id)


def test_reverse_only_by_the_redeeming_merchant(world):
    a = world.holders[0]
    coupon_id = world.give(a)
    world.write_off(coupon_id, a, ORDER)
    with (
        boa.env.prank(world.other_merchant),
        boa.reverts("promotions: caller is not the redeeming merchant"),
    ):
        world.promotions.reverse_write_off(coupon_id)
    for caller in (a.address, world.platform):
        with boa.env.prank(caller), boa.reverts(ERR_NOT_ACTOR):
            world.promotions.reverse_write_off(coupon_id)


def test_reverse_needs_a_written_off_undistributed_coupon(world):
    a = world.holders[0]
    coupon_id = world.give(a)
    with boa.env.prank(world.merchant), boa.reverts(ERR_NOT_WRITTEN_OFF):
        world.promotions.reverse_write_off(coupon_id)
    world.write_off(coupon_id, a, ORDER)
    boa.env.time_travel(seconds=DEFAULT_WINDOW + 1)
    world.promotions.distribute([coupon_id])
    with boa.env.prank(world.merchant), boa.reverts(ERR_DISTRIBUTED):
        world.promotions.reverse_write_off(coupon_id)


def test_reverse_of_an_empty_pool(world):
    a = world.holders[0]
    round_id = world.open_round(incentive_bps=0, window=0)
    coupon_id = world.give(a, round_id=round_id)
    world.write_off(coupon_id, a, ORDER)
    with boa.env.prank(world.merchant):
        world.promotions.reverse_write_off(coupon_id)  # window 0: same second only
    assert world.promotions.coupon(coupon_id).status == STATUS_ACTIVE


# --- distribution and withdrawal -------------------------------------------


def test_distribute_waits_for_the_window(world):
    a = world.holders[0]
    coupon_id = world.give(a)
    world.write_off(coupon_id, a, ORDER)
    boa.env.time_travel(seconds=DEFAULT_WINDOW)
    with boa.reverts(ERR_WINDOW_OPEN):
        world.promotions.distribute([coupon_id])
    boa.env.time_travel(seconds=1)
    world.promotions.distribute([coupon_id])
    assert world.promotions.coupon(coupon_id).status == STATUS_DISTRIBUTED


def test_distribute_splits_among_the_path(world, stranger):
    p = world.promotions
    a, b, c = world.holders[:3]
    coupon_id = world.give(a)
    world.transfer(coupon_id, a, b)
    world.transfer(coupon_id, b, c)
    world.transfer(coupon_id, c, a)
    world.write_off(coupon_id, a, ORDER, caller=world.other_merchant)
    boa.env.time_travel(seconds=DEFAULT_WINDOW + 1)
    with boa.env.prank(stranger):  # anyone may distribute
        p.distribute([coupon_id])
    (event,) = events(p, "PoolDistributed")
    assert (event.coupon_id, event.pool, event.earlier_count) == (coupon_id, INCENTIVE, 3)
    assert (event.platform, event.issuer, event.redeemer, event.holder) == (
        world.platform,
        world.merchant,
        world.other_merchant,
        a.address,
    )
    parts = (event.platform_amount, event.issuer_amount, event.redeemer_amount, event.holder_amount)
    assert sum(parts) + 3 * event.earlier_each == INCENTIVE
    expected = payouts(
        INCENTIVE,
        DEFAULT_SHARES,
        platform=world.platform,
        issuer=world.merchant,
        redeemer=world.other_merchant,
        holder=a.address,
        earlier=[a.address, b.address, c.address],
    )
    for account, amount in expected.items():
        assert p.claimable(account) == amount
    assert sum(expected.values()) == INCENTIVE
    assert p.coupon(coupon_id).pool == INCENTIVE  # kept for the record


def test_without_earlier_holders_their_share_goes_to_the_platform(world):
    p = world.promotions
    a = world.holders[0]
    coupon_id = world.give(a)
    world.write_off(coupon_id, a, 10_000)  # pool 500
    boa.env.time_travel(seconds=DEFAULT_WINDOW + 1)
    p.distribute([coupon_id])
    # platform 10% + earlier 20%; merchant issued and redeemed: 20% + 20%
    assert p.claimable(world.platform) == 150
    assert p.claimable(world.merchant) == 200
    assert p.claimable(a.address) == 150


def test_split_remainder_goes_to_the_platform(world):
    p = world.promotions
    a, b, c, d = world.holders[:4]
    shares = Shares(platform=1, issuer=3_333, redeemer=3_333, holder=3_332, earlier=1)
    round_id = world.open_round(incentive_bps=10_000, shares=shares)
    coupon_id = world.give(a, round_id=round_id)
    for sender, receiver in ((a, b), (b, c), (c, d)):
        world.transfer(coupon_id, sender, receiver)
    world.write_off(coupon_id, d, 29_999)
    boa.env.time_travel(seconds=DEFAULT_WINDOW + 1)
    p.distribute([coupon_id])
    # 29_999 * 3_333 // 10_000 = 9_998 (x2), * 3_332 = 9_995, earlier 2 // 3 = 0
    assert p.claimable(world.merchant) == 2 * 9_998
    assert p.claimable(d.address) == 9_995
    assert p.claimable(a.address) == p.claimable(b.address) == p.claimable(c.address) == 0
    assert p.claimable(world.platform) == 29_999 - 2 * 9_998 - 9_995


def test_distribute_rejects(world):
    p = world.promotions
    a = world.holders[0]
    coupon_id = world.give(a)
    with boa.reverts("promotions: empty batch"):
        p.distribute([])
    with boa.reverts(ERR_NOT_WRITTEN_OFF):
        p.distribute([coupon_id])
    with boa.reverts(ERR_NOT_WRITTEN_OFF):
        p.distribute([coupon_id + 1])  # not granted
    world.write_off(coupon_id, a, ORDER)
    boa.env.time_travel(seconds=DEFAULT_WINDOW + 1)
    with boa.reverts(ERR_DISTRIBUTED):
        p.distribute([coupon_id, coupon_id])
    p.distribute([coupon_id])
    with boa.reverts(ERR_DISTRIBUTED):
        p.distribute([coupon_id])


def test_distributed_coupon_cannot_be_written_off_again(world):
    a = world.holders[0]
    coupon_id = world.give(a)
    world.write_off(coupon_id, a, ORDER)
    boa.env.time_travel(seconds=DEFAULT_WINDOW + 1)
    world.promotions.distribute([coupon_id])
    with boa.reverts(ERR_NOT_ACTIVE):
        world.write_off(coupon_id, a, ORDER)


def test_distribution_credits_the_current_platform(world, stranger):
    a = world.holders[0]
    coupon_id = world.give(a)
    world.write_off(coupon_id, a, ORDER)
    with boa.env.prank(world.platform):
        world.registry.propose_platform(stranger)
    with boa.env.prank(stranger):
        world.registry.accept_platform()
    boa.env.time_travel(seconds=DEFAULT_WINDOW + 1)
    world.promotions.distribute([coupon_id])
    assert world.promotions.claimable(stranger) > 0
    assert world.promotions.claimable(world.platform) == 0


def test_withdraw_pays_what_is_claimable(world):
    p, token = world.promotions, world.token
    a = world.holders[0]
    coupon_id = world.give(a)
    world.write_off(coupon_id, a, ORDER)
    boa.env.time_travel(seconds=DEFAULT_WINDOW + 1)
    p.distribute([coupon_id])
    owed = p.claimable(a.address)
    with boa.env.prank(a.address):
        assert p.withdraw() == owed
    (event,) = events(p, "Withdrawn")
    assert (event.account, event.amount) == (a.address, owed)
    assert token.balanceOf(a.address) == owed
    assert p.claimable(a.address) == 0
    with boa.env.prank(a.address), boa.reverts("promotions: nothing to withdraw"):
        p.withdraw()


def test_withdraw_cannot_be_reentered(world):
    p, token = world.promotions, world.token
    a = world.holders[0]
    coupon_id = world.give(a)
    world.write_off(coupon_id, a, ORDER)
    boa.env.time_travel(seconds=DEFAULT_WINDOW + 1)
    p.distribute([coupon_id])
    owed = p.claimable(world.merchant)
    token.set_reentry(p.address, keccak(text="withdraw()")[:4])
    with boa.env.prank(world.merchant):
        p.withdraw()
    assert token.reentry_reverted()
    assert token.reentry_revert_data() == b""  # the lock, not "nothing to withdraw"
    assert token.balanceOf(world.merchant) == owed
    assert token.balanceOf(p.address) == INCENTIVE - owed
