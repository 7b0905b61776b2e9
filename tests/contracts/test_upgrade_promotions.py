"""Migration of promotions from the release at commit 1feec7f (issue 23): rounds
with their terms, allowances left, granted coupons (holder, status, path of
earlier holders, write-off time, redeemer, pool) and withdrawable credits are
carried over, read from the old contract; nothing is lost.

Not carried: consent nonces (a consent names the contract it is for, so none
made for the old contract is valid on the new one).
"""

import boa
import pytest
from eth_account import Account
from eth_utils import keccak
from promotions_setup import (
    DEFAULT_SHARES,
    STATUS_ACTIVE,
    STATUS_DISTRIBUTED,
    STATUS_WRITTEN_OFF,
    erc20_deployer,
    keyed_consumers,
)
from test_upgrade_editions import _accounts, _old

from conftest import ZERO, deployer
from couponchain.domain import consent as consent_rules
from couponchain.domain.roles import Role
from couponchain.domain.splits import MAX_ORDER_AMOUNT

WINDOW = 3_600
RATE = 500  # bps


@pytest.fixture(scope="module")
def old_deployers():
    return _old("registry"), _old("promotions")


def _old_write_off(promotions, caller, holder, coupon_id, amount, nonce):
    """A write-off on the release's contract, whose consent signs (coupon, nonce,
    expiry) only."""
    expiry = boa.env.timestamp + 120
    digest = promotions.consent_digest(coupon_id, nonce, expiry)
    signed = Account.unsafe_sign_hash(digest, holder.key)
    with boa.env.prank(caller):
        return promotions.write_off(coupon_id, amount, nonce, expiry, signed.signature)


def _promotions_ledger(old_deployers, platform):
    """The release's registry and promotions with two rounds, allocations partly
    granted, coupons passed on twice, written off (one pool pending, one
    distributed and partly withdrawn, one reversed)."""
    registry_d, promotions_d = old_deployers
    merchants, tills = _accounts("pm", 2), _accounts("pt", 1)
    people = keyed_consumers(5)
    addrs = [p.address for p in people]
    with boa.env.prank(platform):
        registry = registry_d.deploy()
        registry.register_batch([*merchants, *tills, *addrs],
                                [Role.MERCHANT] * 2 + [Role.TERMINAL] + [Role.CONSUMER] * 5,
                                [ZERO, ZERO, merchants[0]] + [ZERO] * 5)
        token = erc20_deployer().deploy()
        old = promotions_d.deploy(registry.address, token.address)
        shares = DEFAULT_SHARES.as_tuple()
        old.open_round(keccak(text="round 1"), 20, RATE, shares, WINDOW, 300)
        old.open_round(keccak(text="round 2"), 10, 0, shares, 60, 120)
        old.allocate(1, merchants, [8, 5])
        old.allocate(2, [merchants[0]], [3])
    for m in merchants:
        token.mint(m, 10**9)
        with boa.env.prank(m):
            token.approve(old.address, 10**9)
    with boa.env.prank(merchants[0]):
        old.grant(1, addrs[:2], [2, 1])  # coupons 1, 2 (person 0), 3 (person 1)
    with boa.env.prank(merchants[1]):
        old.grant(1, [addrs[2]], [2])  # coupons 4, 5
    with boa.env.prank(addrs[0]):
        old.transfer(1, addrs[3])
    with boa.env.prank(addrs[3]):
        old.transfer(1, addrs[4])
    _old_write_off(old, merchants[1], people[2], 4, 40_000, 0)
    boa.env.time_travel(seconds=WINDOW + 1)
    old.distribute([4])
    with boa.env.prank(merchants[1]):
        old.withdraw()
    _old_write_off(old, tills[0], people[4], 1, 10_000, 0)  # pending: window open
    _old_write_off(old, merchants[0], people[0], 2, 2_000, 0)
    with boa.env.prank(merchants[0]):
        old.reverse_write_off(2)
    creditors = [platform, *merchants, *addrs]
    return registry, token, old, merchants, tills, people, creditors


def _new_registry(platform, old_registry, participants):
    with boa.env.prank(platform):
        registry = deployer("registry").deploy()
        registry.begin_migration(old_registry.address)
        registry.import_participants(participants)
        registry.finish_migration()
    return registry


def _carry(platform, registry, old, merchants, creditors):
    """Today's promotions contract carrying `old`'s state over, and its token
    holding what the old contract held (the token carry-over's part)."""
    with boa.env.prank(platform):
        token = erc20_deployer().deploy()
        new = deployer("promotions").deploy(registry.address, token.address)
        new.begin_migration(old.address)
        new.import_rounds(2)
        new.import_allowances(1, merchants)
        new.import_allowances(2, merchants)
        new.import_coupons(list(range(1, old.rounds(1).next_id)))
        new.import_claims(creditors)
        new.finish_migration()
    return token, new


def test_rounds_coupons_and_credits_are_carried_over_whole(old_deployers, platform):
    old_registry, old_token, old, merchants, tills, people, creditors = _promotions_ledger(
        old_deployers, platform)
    addrs = [p.address for p in people]
    registry = _new_registry(platform, old_registry, [*merchants, *tills, *addrs])
    token, new = _carry(platform, registry, old, merchants, creditors)
    [finished] = [e for e in new.get_logs() if type(e).__name__ == "MigrationFinished"]
    # What the new contract owes is what the old one holds (no donation here).
    assert finished.owed == old_token.balanceOf(old.address) > 0
    assert (new.round_count(), new.next_coupon_id()) == (old.round_count(), old.next_coupon_id())
    for r in (1, 2):
        assert tuple(new.rounds(r))[:10] == tuple(old.rounds(r))
        assert tuple(new.rounds(r))[10:] == (0, 0, b"\x00" * 32)  # no measured period then
        for m in merchants:
            assert new.allowance(r, m) == old.allowance(r, m)
    assert new.allowance(1, merchants[0]) == 5 and new.allowance(2, merchants[0]) == 3
    for coupon_id in range(1, 8):
        assert tuple(new.coupon(coupon_id)) == tuple(old.coupon(coupon_id))
        assert new.earlier_holders(coupon_id) == old.earlier_holders(coupon_id)
    assert new.holder_of(6) == platform and new.holder_of(31) == ZERO
    assert new.earlier_holders(1) == [addrs[0], addrs[3]]
    statuses = [new.coupon(c).status for c in range(1, 6)]
    assert statuses == [STATUS_WRITTEN_OFF, STATUS_ACTIVE, STATUS_ACTIVE, STATUS_DISTRIBUTED,
                        STATUS_ACTIVE]
    for account in creditors:
        assert new.claimable(account) == old.claimable(account)
    assert new.claimable(merchants[1]) == 0 and new.claimable(addrs[2]) > 0

    # The carried ledger works on: the token carry-over moves the old balance.
    token.mint(new.address, old_token.balanceOf(old.address))
    with boa.env.prank(addrs[2]):
        assert new.withdraw() == old.claimable(addrs[2])
    boa.env.time_travel(seconds=WINDOW + 1)
    new.distribute([1])  # the pool written off before the migration
    assert new.claimable(addrs[0]) > 0  # an earlier holder of coupon 1
    with boa.env.prank(merchants[0]):
        assert new.grant(1, [addrs[1]], [1]) == 6  # the allowance left, the next id
    with boa.env.prank(platform):
        assert new.open_round(keccak(text="round 3"), 5, RATE, DEFAULT_SHARES.as_tuple(),
                              WINDOW, 300) == 3
    assert new.rounds(3).first_id == 31
    holder = people[1]
    expiry = boa.env.timestamp + 120
    signature = consent_rules.sign_consent(
        consent_rules.Consent(coupon=3, nonce=0, expiry=expiry, merchant=ZERO,
                              max_amount=MAX_ORDER_AMOUNT),
        boa.env.evm.patch.chain_id, new.address, holder.key)
    token.mint(merchants[0], 10**6)
    with boa.env.prank(merchants[0]):
        token.approve(new.address, 10**6)
        assert new.write_off(3, 1_000, 0, expiry, ZERO, MAX_ORDER_AMOUNT, signature) == 50


def test_nothing_is_invented_and_nothing_left_behind(old_deployers, platform):
    old_registry, _, old, merchants, tills, people, creditors = _promotions_ledger(
        old_deployers, platform)
    addrs = [p.address for p in people]
    registry = _new_registry(platform, old_registry, [*merchants, *tills, *addrs])
    with boa.env.prank(platform):
        new = deployer("promotions").deploy(registry.address, erc20_deployer().deploy().address)
        with boa.reverts("promotions: no migration in progress"):
            new.import_rounds(1)
        new.begin_migration(old.address)
        with boa.reverts("promotions: migration needs an unused contract"):
            new.begin_migration(old.address)
        with boa.reverts("promotions: batch beyond the predecessor"):
            new.import_rounds(3)
        with boa.reverts("promotions: unknown round"):
            new.import_coupons([1])
        new.import_rounds(1)
        with boa.reverts("promotions: unknown round"):
            new.import_allowances(2, merchants)
        new.import_allowances(1, merchants)
        with boa.reverts("promotions: carried over already"):
            new.import_allowances(1, [merchants[0]])
        with boa.reverts("promotions: coupon not granted there, or carried over already"):
            new.import_coupons([6])  # issued, never granted
        new.import_coupons([1, 2, 3])
        with boa.reverts("promotions: coupon not granted there, or carried over already"):
            new.import_coupons([3])
        new.import_claims(creditors)
        with boa.reverts("promotions: carried over already"):
            new.import_claims([addrs[2]])
        with boa.reverts("promotions: state left to carry over"):
            new.finish_migration()  # round 2, coupons 4 and 5
        new.import_rounds(1)
        new.import_coupons([4, 5])
        with boa.reverts("promotions: state left to carry over"):
            new.finish_migration()  # round 2's allowance
        with boa.reverts("promotions: migration in progress"):
            new.open_round(keccak(text="x"), 5, RATE, DEFAULT_SHARES.as_tuple(), WINDOW, 300)
    for caller, call in ((merchants[0], lambda: new.grant(1, [addrs[1]], [1])),
                         (addrs[2], lambda: new.withdraw()),
                         (addrs[1], lambda: new.transfer(3, addrs[0]))):
        with boa.env.prank(caller), boa.reverts("promotions: migration in progress"):
            call()
    with boa.env.prank(merchants[0]), boa.reverts("promotions: caller is not the platform"):
        new.import_allowances(2, [merchants[0]])
    with boa.env.prank(platform):
        new.import_allowances(2, [merchants[0]])
        new.finish_migration()
        with boa.reverts("promotions: no migration in progress"):
            new.import_claims([platform])


def test_a_measured_round_of_todays_contract_is_carried_with_its_period(platform):
    """From today's contract to a later one: the measured period is read too."""
    merchant = boa.env.generate_address("pm-today")
    with boa.env.prank(platform):
        registry = deployer("registry").deploy()
        registry.register_batch([merchant], [Role.MERCHANT], [ZERO])
        token = erc20_deployer().deploy()
        old = deployer("promotions").deploy(registry.address, token.address)
        boa.env.time_travel(blocks=5)
        old.open_measured_round(keccak(text="inputs"), 9, RATE, DEFAULT_SHARES.as_tuple(),
                                WINDOW, 300, 1, 3, keccak(text="measured"))
        old.allocate(1, [merchant], [4])
        new = deployer("promotions").deploy(registry.address, token.address)
        new.begin_migration(old.address)
        new.import_rounds(1)
        new.import_allowances(1, [merchant])
        new.finish_migration()
    assert tuple(new.rounds(1)) == tuple(old.rounds(1))
    assert new.rounds(1).measured_hash == keccak(text="measured")
    assert new.allowance(1, merchant) == 4 and new.next_coupon_id() == 10
