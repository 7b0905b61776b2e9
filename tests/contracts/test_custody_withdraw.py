"""Relayed payout withdrawals (issue 23): `promotions.withdraw_for`.

`withdraw()` pays its caller, and an account with its own key holds no gas to
call it. With `withdraw_for(account, deadline, signature)` the account signs
`Withdraw(account, deadline)` (domain/intents.py builds the message the
browser signs) and anyone relays it; the payout always goes to the signer.
"""

from __future__ import annotations

import boa
import pytest
from eth_account import Account
from promotions_setup import DEFAULT_WINDOW, build_world

from couponchain.domain import intents
from couponchain.domain.eip712 import sign_typed

ORDER = 1_000_000


@pytest.fixture(scope="module")
def world(platform, merchant, other_merchant, terminal):
    return build_world(platform, merchant, other_merchant, terminal)


@pytest.fixture
def relayer() -> str:
    return boa.env.generate_address("relayer")


def _credited(world, holder) -> int:
    """A coupon of `holder` written off and distributed: what `holder` may withdraw."""
    coupon = world.give(holder)
    world.write_off(coupon, holder, ORDER)
    boa.env.time_travel(seconds=DEFAULT_WINDOW + 1)
    world.promotions.distribute([coupon])
    owed = world.promotions.claimable(holder.address)
    assert owed > 0
    return owed


def _signed(world, account: str, key, *, deadline: int | None = None) -> tuple:
    deadline = boa.env.timestamp + 600 if deadline is None else deadline
    message = intents.withdraw_message(account, deadline, boa.env.evm.patch.chain_id,
                                       world.promotions.address)
    return account, deadline, sign_typed(message, key)


def _relay(world, relayer: str, args: tuple) -> int:
    with boa.env.prank(relayer):
        return world.promotions.withdraw_for(*args)


def test_a_signed_withdrawal_pays_the_signer_not_the_relayer(world, relayer) -> None:
    ann = world.holders[0]
    owed = _credited(world, ann)
    assert _relay(world, relayer, _signed(world, ann.address, ann.key)) == owed
    (event,) = [e for e in world.promotions.get_logs() if type(e).__name__ == "Withdrawn"]
    assert (event.account, event.amount) == (ann.address, owed)
    assert world.token.balanceOf(ann.address) == owed
    assert world.token.balanceOf(relayer) == 0
    assert world.promotions.claimable(ann.address) == 0
    # Replayed before its deadline it pays nothing more: there is nothing left.
    with boa.reverts("promotions: nothing to withdraw"):
        _relay(world, relayer, _signed(world, ann.address, ann.key))


def test_only_the_account_itself_can_sign_its_withdrawal(world, relayer) -> None:
    ann, bob = world.holders[0], world.holders[1]
    owed = _credited(world, ann)
    # Bob (or any other key) signs Ann's withdrawal; Ann's signature names Ann only.
    for key in (bob.key, Account.create().key):
        with boa.reverts("promotions: withdrawal not signed by the account"):
            _relay(world, relayer, _signed(world, ann.address, key))
    account, deadline, signature = _signed(world, ann.address, ann.key)
    with boa.reverts("promotions: withdrawal not signed by the account"):
        _relay(world, relayer, (bob.address, deadline, signature))
    with boa.reverts("promotions: withdrawal not signed by the account"):
        _relay(world, relayer, (account, deadline + 1, signature))
    assert world.promotions.claimable(ann.address) == owed
    assert world.token.balanceOf(ann.address) == 0


def test_an_expired_or_too_long_or_malformed_signature_is_refused(world, relayer) -> None:
    ann = world.holders[0]
    owed = _credited(world, ann)
    stale = _signed(world, ann.address, ann.key, deadline=boa.env.timestamp + 60)
    boa.env.time_travel(seconds=61)
    with boa.reverts("promotions: withdrawal expired"):
        _relay(world, relayer, stale)
    with boa.reverts("promotions: withdrawal lifetime above 3600 s"):
        _relay(world, relayer, _signed(world, ann.address, ann.key,
                                       deadline=boa.env.timestamp + 3601))
    account, deadline, signature = _signed(world, ann.address, ann.key)
    with boa.reverts("promotions: signature must be 65 bytes"):
        _relay(world, relayer, (account, deadline, signature[:64]))
    # The last second of a signature's life still counts.
    assert _relay(world, relayer, _signed(world, ann.address, ann.key,
                                          deadline=boa.env.timestamp)) == owed


def test_no_relayed_withdrawal_during_a_migration(platform, merchant, other_merchant,
                                                  terminal, relayer) -> None:
    fresh = build_world(platform, merchant, other_merchant, terminal, holders=1)
    ann = fresh.holders[0]
    with boa.env.prank(platform):
        fresh.promotions.begin_migration(boa.env.generate_address("old promotions"))
    with boa.reverts("promotions: migration in progress"):
        _relay(fresh, relayer, _signed(fresh, ann.address, ann.key))


def test_the_code_fits_eip_170(world) -> None:
    # The deployed code: `vyper -f bytecode_runtime` (22,240 bytes) plus the
    # immutables Venom appends at deployment.
    size = len(boa.env.get_code(world.promotions.address))
    print(f"promotions.vy deployed code: {size} bytes")
    assert size <= 24_576
