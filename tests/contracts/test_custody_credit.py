"""Credit transfers a holder signs (issue 23): EIP-3009 `transferWithAuthorization` on token.vy.

A self-custodied consumer's credit used to move by an EIP-2612 permit to the
platform's relaying account followed by `transferFrom`: the permit bounded the
amount, not the recipient, so a stolen platform key could send it anywhere
before the deadline. An EIP-3009 authorization names the recipient and the
amount itself. Each rule has its test: every signed field is bound (a
redirected recipient is refused), a used or cancelled nonce is refused, the
validity window is strict at both ends, another key or a malleated signature is
refused. The messages are built by domain/intents.py, as the server builds them
for the browser, so the typed data matches the EIP's type strings exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import boa
import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak

from conftest import ZERO, deployer
from couponchain.domain import eip712, intents
from couponchain.domain.eip712 import sign_typed
from couponchain.domain.roles import Role

FUNDS = 50_000_000
NONCE = b"\x11" * 32
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


@dataclass
class World:
    token: object
    ann: LocalAccount
    bob: str
    thief: str
    relayer: str

    def authorization(self, *, frm: LocalAccount | None = None, to: str | None = None,
                      value: int = 2_000_000, valid_after: int = 0,
                      valid_before: int | None = None, nonce: bytes = NONCE,
                      key: object = None) -> tuple:
        """`transferWithAuthorization`'s arguments, signed by `key` (the payer's own)."""
        frm = frm or self.ann
        to = to or self.bob
        valid_before = boa.env.timestamp + 600 if valid_before is None else valid_before
        message = intents.credit_authorization_message(
            frm.address, to, value, valid_after, valid_before, nonce,
            boa.env.evm.patch.chain_id, self.token.address)
        v, r, s = eip712.split(sign_typed(message, key or frm.key))
        return (frm.address, to, value, valid_after, valid_before, nonce, v, r, s)

    def cancellation(self, nonce: bytes = NONCE, key: object = None) -> tuple:
        message = intents.cancel_authorization_message(
            self.ann.address, nonce, boa.env.evm.patch.chain_id, self.token.address)
        v, r, s = eip712.split(sign_typed(message, key or self.ann.key))
        return (self.ann.address, nonce, v, r, s)

    def relay(self, args: tuple) -> None:
        with boa.env.prank(self.relayer):
            self.token.transferWithAuthorization(*args)


@pytest.fixture(scope="module")
def world(platform) -> World:
    ann = Account.from_key(keccak(text="credit holder ann"))
    bob, thief = boa.env.generate_address("bob"), boa.env.generate_address("thief")
    with boa.env.prank(platform):
        registry = deployer("registry").deploy()
        registry.register_batch([ann.address, bob], [Role.CONSUMER] * 2, [ZERO] * 2)
        token = deployer("token").deploy(registry.address)
        token.mint(ann.address, FUNDS)
    return World(token, ann, bob, thief, platform)


def test_the_type_strings_are_eip_3009s() -> None:
    # The EIP's own strings, hashed as the contract hashes them: a wallet that
    # knows EIP-3009 shows and signs the same struct.
    encoded = ",".join(f"{f['type']} {f['name']}"
                       for f in intents.TRANSFER_WITH_AUTHORIZATION_TYPE)
    assert encoded == ("address from,address to,uint256 value,uint256 validAfter,"
                       "uint256 validBefore,bytes32 nonce")
    assert ",".join(f"{f['type']} {f['name']}" for f in intents.CANCEL_AUTHORIZATION_TYPE) \
        == "address authorizer,bytes32 nonce"


def test_a_signed_transfer_pays_exactly_the_signed_recipient(world) -> None:
    w = world
    assert not w.token.authorizationState(w.ann.address, NONCE)
    w.relay(w.authorization())
    gas = w.token._computation.get_gas_used()
    print(f"transferWithAuthorization: {gas} execution gas")
    logs = [(type(e).__name__, e) for e in w.token.get_logs()]
    assert [name for name, _ in logs] == ["AuthorizationUsed", "Transfer"]
    assert logs[0][1].authorizer == w.ann.address and logs[0][1].nonce == NONCE
    assert w.token.balanceOf(w.bob) == 2_000_000
    assert w.token.balanceOf(w.ann.address) == FUNDS - 2_000_000
    assert w.token.authorizationState(w.ann.address, NONCE)
    # No allowance is left behind for the relayer to spend elsewhere later.
    assert w.token.allowance(w.ann.address, w.relayer) == 0
    # Execution gas: one ecrecover, a fresh nonce slot, a fresh recipient balance.
    assert gas < 80_000


@pytest.mark.parametrize("field", ["from", "to", "value", "validAfter", "validBefore", "nonce"])
def test_every_signed_field_is_bound(world, field: str) -> None:
    # The relaying platform key rewrites one term: a thief as recipient above all.
    w = world
    args = list(w.authorization())
    position = ["from", "to", "value", "validAfter", "validBefore", "nonce"].index(field)
    args[position] = {"from": w.bob, "to": w.thief, "value": 2_000_001, "validAfter": 1,
                      "validBefore": args[4] + 1, "nonce": b"\x12" * 32}[field]
    with boa.reverts("token: invalid signature"):
        w.relay(tuple(args))
    assert w.token.balanceOf(w.thief) == 0 and w.token.balanceOf(w.ann.address) == FUNDS


def test_another_key_or_a_malleated_signature_is_refused(world) -> None:
    w = world
    with boa.reverts("token: invalid signature"):
        w.relay(w.authorization(key=Account.create().key))
    *head, v, r, s = w.authorization()
    high_s = (SECP256K1_N - int.from_bytes(s, "big")).to_bytes(32, "big")
    with boa.reverts("token: invalid signature s value"):
        w.relay((*head, 55 - v, r, high_s))  # the same signature's high-s twin
    with boa.reverts("token: invalid signature"):
        w.relay((*head, 29, r, s))  # v outside {27, 28}: ecrecover yields nothing
    assert w.token.balanceOf(w.ann.address) == FUNDS


def test_a_used_authorization_cannot_be_replayed(world) -> None:
    w = world
    signed = w.authorization()
    w.relay(signed)
    with boa.reverts("token: authorization is used or canceled"):
        w.relay(signed)
    # The nonce is spent for every other transfer of this payer too.
    with boa.reverts("token: authorization is used or canceled"):
        w.relay(w.authorization(to=w.thief, value=1))
    with boa.reverts("token: authorization is used or canceled"):
        w.token.cancelAuthorization(*w.cancellation())
    assert w.token.balanceOf(w.bob) == 2_000_000


def test_a_cancelled_authorization_is_refused(world) -> None:
    w = world
    signed = w.authorization()
    with boa.reverts("token: invalid signature"):  # only the payer may cancel
        w.token.cancelAuthorization(*w.cancellation(key=Account.create().key))
    w.token.cancelAuthorization(*w.cancellation())
    (event,) = w.token.get_logs()
    assert type(event).__name__ == "AuthorizationCanceled" and event.nonce == NONCE
    assert w.token.authorizationState(w.ann.address, NONCE)
    with boa.reverts("token: authorization is used or canceled"):
        w.relay(signed)
    with boa.reverts("token: authorization is used or canceled"):
        w.token.cancelAuthorization(*w.cancellation())
    assert w.token.balanceOf(w.bob) == 0


def test_the_validity_window_is_strict_at_both_ends(world) -> None:
    w = world
    now = boa.env.timestamp
    with boa.reverts("token: authorization is not yet valid"):
        w.relay(w.authorization(valid_after=now, valid_before=now + 60))
    with boa.reverts("token: authorization is not yet valid"):
        w.relay(w.authorization(valid_after=now + 30, valid_before=now + 60))
    with boa.reverts("token: authorization is expired"):
        w.relay(w.authorization(valid_after=0, valid_before=now))
    later = w.authorization(valid_after=now + 30, valid_before=now + 60, nonce=b"\x21" * 32)
    boa.env.time_travel(seconds=31)
    w.relay(later)  # inside the window it goes through
    stale = w.authorization(valid_before=boa.env.timestamp + 10, nonce=b"\x22" * 32)
    boa.env.time_travel(seconds=10)
    with boa.reverts("token: authorization is expired"):
        w.relay(stale)
    assert w.token.balanceOf(w.bob) == 2_000_000


def test_the_erc20_rules_still_hold(world) -> None:
    w = world
    with boa.reverts("erc20: transfer amount exceeds balance"):
        w.relay(w.authorization(value=FUNDS + 1))
    with boa.reverts("erc20: transfer to the zero address"):
        w.relay(w.authorization(to=ZERO))
    # A refused transfer leaves its nonce unused (the whole call reverted).
    assert not w.token.authorizationState(w.ann.address, NONCE)
