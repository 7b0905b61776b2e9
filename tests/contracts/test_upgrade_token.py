"""Migration of the settlement token from the release at commit 1feec7f (issue
23): every balance is read by the new token from the old one, a balance an old
capability contract held goes to the contract replacing it, allowances to an
old capability become allowances to the new one, and the supply stays equal."""

import boa
import pytest
from test_upgrade_editions import _old
from test_upgrade_prizes import _new_registry

from conftest import ZERO, deployer
from couponchain.domain.roles import Role

ERR_LEFT = "token: balances left to carry over"


@pytest.fixture(scope="module")
def old_deployers():
    return _old("registry"), _old("token"), _old("editions")


def _ledger(old_deployers, platform):
    """The release's registry and token with balances, a transfer, an
    allowance to a capability contract and a balance held by it."""
    registry_d, token_d, editions_d = old_deployers
    merchant, till = boa.env.generate_address("m"), boa.env.generate_address("t")
    people = [boa.env.generate_address(f"c{i}") for i in range(3)]
    with boa.env.prank(platform):
        registry = registry_d.deploy()
        registry.register_batch([merchant, till, *people],
                                [Role.MERCHANT, Role.TERMINAL] + [Role.CONSUMER] * 3,
                                [ZERO, merchant, ZERO, ZERO, ZERO])
        token = token_d.deploy(registry.address)
        capability = editions_d.deploy(registry.address)  # stands for any capability
        token.mint_batch([merchant, *people], [9_000_000, 1_000_000, 2_000_000, 3])
    with boa.env.prank(people[0]):
        token.transfer(people[2], 400_000)
    with boa.env.prank(merchant):
        token.approve(capability.address, 5_000_000)
        token.approve(people[1], 7)
        token.transfer(capability.address, 1_500_000)  # funds an old capability held
    return registry, token, capability, merchant, till, people


def test_balances_holders_and_allowances_are_carried_over(old_deployers, platform):
    old_registry, old, old_cap, merchant, till, people = _ledger(old_deployers, platform)
    registry = _new_registry(platform, old_registry, [merchant, till, *people])
    with boa.env.prank(platform):
        token = deployer("token").deploy(registry.address)
        capability = deployer("editions").deploy(registry.address)
        token.begin_migration(old.address)
        with boa.reverts("token: migration in progress"):
            token.mint(people[0], 1)
        token.import_balances([merchant, *people[:2]])
        with boa.reverts("token: balance already carried over"):
            token.import_balances([people[1]])
        with boa.reverts("token: a contract's balance goes through import_holder"):
            token.import_balances([old_cap.address])
        with boa.reverts("token: holder names no predecessor"):
            token.import_holder(capability.address)  # its own migration has not begun
        capability.begin_migration(old_cap.address)
        token.import_balances([people[2]])
        with boa.reverts(ERR_LEFT):
            token.finish_migration()
        token.import_holder(capability.address)
        with boa.reverts("token: balance already carried over"):
            token.import_holder(capability.address)
        token.import_allowances([merchant, merchant], [capability.address, people[1]])
        token.finish_migration()
    assert token.totalSupply() == old.totalSupply() == 12_000_003
    for account in (merchant, *people):
        assert token.balanceOf(account) == old.balanceOf(account)
    assert token.balanceOf(capability.address) == old.balanceOf(old_cap.address) == 1_500_000
    assert token.balanceOf(old_cap.address) == 0, "nothing left at the retired address"
    assert token.allowance(merchant, capability.address) == 5_000_000
    assert token.allowance(merchant, people[1]) == 7
    # Over for good: the platform mints again, and imports are refused.
    with boa.env.prank(platform):
        with boa.reverts("token: no migration in progress"):
            token.import_balances([till])
        token.mint(till, 1)
        with boa.reverts("token: a migration starts on an unused token"):
            token.begin_migration(old.address)


def test_only_the_platform_migrates_and_figures_come_from_the_predecessor(
        old_deployers, platform):
    old_registry, old, _, merchant, till, people = _ledger(old_deployers, platform)
    registry = _new_registry(platform, old_registry, [merchant, till, *people])
    with boa.env.prank(platform):
        token = deployer("token").deploy(registry.address)
    with boa.env.prank(merchant), boa.reverts("token: caller is not the platform"):
        token.begin_migration(old.address)
    with boa.env.prank(platform):
        token.begin_migration(old.address)
        # A release without till credits has no till figures to read.
        with boa.reverts():
            token.import_till_limits([merchant])
    with boa.env.prank(till), boa.reverts("token: migration in progress"):
        token.till_credit(people[0], 1, b"\x00" * 32)


def test_till_limits_and_credits_carry_over_from_a_token_with_tills(platform, registry,
                                                                    merchant, consumer):
    """From today's token (which has till credits) to another: limits and what
    the tills used are read from it."""
    with boa.env.prank(platform):
        old = deployer("token").deploy(registry.address)
        old.set_till_limit(merchant, 500)
    with boa.env.prank(merchant):
        old.till_credit(consumer, 120, b"\x01" * 32)
    with boa.env.prank(platform):
        token = deployer("token").deploy(registry.address)
        token.begin_migration(old.address)
        token.import_balances([consumer])
        token.import_till_limits([merchant])
        token.finish_migration()
    assert (token.till_limit(merchant), token.till_credited(merchant),
            token.till_remaining(merchant)) == (500, 120, 380)
    assert token.balanceOf(consumer) == 120
