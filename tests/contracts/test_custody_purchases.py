"""Relayed purchases of self-custodied buyers (issue 23): `referrals.purchase_signed_batch`.

The buyer never sends a transaction: it signs a `Purchase` intent and an EIP-2612
permit of the real settlement token (token.vy) for exactly `quantity * max_price`;
a relayer submits both. Each check has its test: a wrong signer, an expired
intent, a replayed nonce, a price above the buyer's maximum, a changed batch, a
permit for less than the purchase, and a permit someone submitted first.
"""

from __future__ import annotations

from dataclasses import dataclass

import boa
import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from referrals_setup import CONTENT_HASH, MAX_REBATE_BPS, MAX_SHARE_BPS, MIN_SHARE_BPS, ZERO

from conftest import deployer
from couponchain.domain import intents, links
from couponchain.domain.eip712 import sign_typed
from couponchain.domain.roles import Role

PRICE = 10**6
PRICE2 = 2 * 10**6


@dataclass
class World:
    registry: object
    token: object
    referrals: object
    originator: str
    relayer: str
    buyers: list[LocalAccount]

    @property
    def chain_id(self) -> int:
        return boa.env.evm.patch.chain_id

    def intent(self, buyer: LocalAccount, product: int, quantity: int = 1, *,
               batch: int | None = None, max_price: int | None = None,
               promoter: str = ZERO, nonce: int = 1, lifetime: int = 600) -> intents.PurchaseIntent:
        current = self.referrals.product(product).batch_count
        return intents.PurchaseIntent(
            buyer=buyer.address, product=product, quantity=quantity,
            batch=current if batch is None else batch,
            max_price=self.referrals.batch(product, current).price if max_price is None
            else max_price, promoter=promoter, nonce=nonce,
            expiry=boa.env.evm.patch.timestamp + lifetime)

    def signed(self, intent: intents.PurchaseIntent, key: object = None,
               permit_key: object = None) -> tuple[bytes, bytes]:
        buyer = next(b for b in self.buyers if b.address == intent.buyer)
        signature = sign_typed(intents.purchase_message(intent, self.chain_id,
                                                        self.referrals.address),
                               key or buyer.key)
        permit = sign_typed(intents.permit_message(intent, self.token.nonces(intent.buyer),
                                                   self.chain_id, self.token.address,
                                                   self.referrals.address),
                            permit_key or buyer.key)
        return signature, permit

    def relay(self, *items: tuple[intents.PurchaseIntent, bytes, bytes, tuple]) -> int:
        """Submit (intent, signature, permit, (link expiry, link signature)) items."""
        columns = list(zip(*[
            (i.buyer, i.product, i.quantity, i.batch, i.max_price, i.promoter, link[0], link[1],
             i.nonce, i.expiry, sig, permit) for i, sig, permit, link in items], strict=True))
        with boa.env.prank(self.relayer):
            return self.referrals.purchase_signed_batch(*[list(c) for c in columns])

    def link(self, promoter: LocalAccount, product: int) -> tuple[int, bytes]:
        expiry = boa.env.evm.patch.timestamp + 86_400
        return expiry, links.sign_link(links.Link(product, promoter.address, expiry),
                                       self.chain_id, self.referrals.address, promoter.key)


@pytest.fixture(scope="module")
def world(platform, merchant):
    buyers = [Account.from_key(keccak(text=f"custody buyer {i}")) for i in range(3)]
    with boa.env.prank(platform):
        registry = deployer("registry").deploy()
        registry.register_batch([merchant, *[b.address for b in buyers]],
                                [Role.MERCHANT] + [Role.CONSUMER] * 3, [ZERO] * 4)
        token = deployer("token").deploy(registry.address)
        referrals = deployer("referrals").deploy(registry.address, token.address,
                                                 MAX_REBATE_BPS, MIN_SHARE_BPS, MAX_SHARE_BPS)
        token.mint_batch([b.address for b in buyers], [100 * PRICE2] * 3)
    return World(registry, token, referrals, merchant, platform, buyers)


def _product(w: World, circulation: int = 10) -> int:
    with boa.env.prank(w.originator):
        return w.referrals.register_product("Song", CONTENT_HASH, PRICE, circulation)


def test_a_signed_purchase_is_relayed_and_paid_through_its_exact_permit(world) -> None:
    w = world
    product = _product(w)
    buyer = w.buyers[0]
    intent = w.intent(buyer, product, 3)
    sig, permit = w.signed(intent)
    before = w.token.balanceOf(buyer.address)
    assert w.relay((intent, sig, permit, (0, b""))) == 3 * PRICE
    relayed = [e for e in w.referrals.get_logs() if type(e).__name__ == "IntentRelayed"]
    assert relayed and relayed[0].buyer == buyer.address and relayed[0].relayer == w.relayer
    assert w.token.balanceOf(buyer.address) == before - 3 * PRICE
    assert w.referrals.units_of(product, buyer.address) == 3
    # The allowance was exactly what the purchase needed: nothing is left to take.
    assert w.token.allowance(buyer.address, w.referrals.address) == 0
    assert w.referrals.intent_nonce_used(buyer.address, intent.nonce)


def test_a_batch_of_buyers_through_a_link(world) -> None:
    w = world
    product = _product(w, circulation=2)
    first = w.intent(w.buyers[0], product, 2)
    w.relay((first, *w.signed(first), (0, b"")))
    with boa.env.prank(w.originator):
        w.referrals.open_batch(product, PRICE2, 10, 1_000, 2_000)
    link = w.link(w.buyers[0], product)
    items = []
    for n, buyer in enumerate(w.buyers[1:], start=1):
        intent = w.intent(buyer, product, n, promoter=w.buyers[0].address, nonce=7)
        items.append((intent, *w.signed(intent), link))
    assert w.relay(*items) == 3 * PRICE2
    assert w.referrals.units_of(product, w.buyers[2].address) == 2


def test_wrong_signer_is_refused(world) -> None:
    w = world
    product = _product(w)
    intent = w.intent(w.buyers[0], product)
    sig, permit = w.signed(intent, key=w.buyers[1].key)
    with boa.reverts("referrals: intent not signed by the buyer"):
        w.relay((intent, sig, permit, (0, b"")))
    # Terms changed after signing (a relayer raising the quantity) fail the same way.
    sig, permit = w.signed(intent)
    raised = intents.PurchaseIntent(**{**intent.message(), "quantity": 2})
    with boa.reverts("referrals: intent not signed by the buyer"):
        w.relay((raised, sig, permit, (0, b"")))


def test_expired_intent_is_refused(world) -> None:
    w = world
    product = _product(w)
    intent = w.intent(w.buyers[0], product, lifetime=60)
    sig, permit = w.signed(intent)
    boa.env.time_travel(seconds=61)
    with boa.reverts("referrals: intent expired"):
        w.relay((intent, sig, permit, (0, b"")))


def test_replayed_nonce_is_refused(world) -> None:
    w = world
    product = _product(w)
    intent = w.intent(w.buyers[0], product)
    sig, permit = w.signed(intent)
    w.relay((intent, sig, permit, (0, b"")))
    again_sig, again_permit = w.signed(intent)  # a fresh permit: only the nonce is spent
    with boa.reverts("referrals: intent nonce already used"):
        w.relay((intent, again_sig, again_permit, (0, b"")))
    # The same nonce twice in one batch is refused too.
    other = w.intent(w.buyers[1], product, nonce=3)
    s1, p1 = w.signed(other)
    with boa.reverts("referrals: intent nonce already used"):
        w.relay((other, s1, p1, (0, b"")), (other, s1, p1, (0, b"")))


def test_price_above_the_buyers_maximum_is_refused(world) -> None:
    w = world
    product = _product(w, circulation=1)
    w.relay((i := w.intent(w.buyers[0], product), *w.signed(i), (0, b"")))
    with boa.env.prank(w.originator):
        w.referrals.open_batch(product, PRICE2, 10, 1_000, 2_000)
    link = w.link(w.buyers[0], product)
    cheap = w.intent(w.buyers[1], product, max_price=PRICE2 - 1, promoter=w.buyers[0].address)
    with boa.reverts("referrals: price above the buyer's maximum"):
        w.relay((cheap, *w.signed(cheap), link))
    stale = w.intent(w.buyers[1], product, batch=1, promoter=w.buyers[0].address, nonce=2)
    with boa.reverts("referrals: batch changed since the buyer saw it"):
        w.relay((stale, *w.signed(stale), link))


def test_the_permit_bounds_the_payment(world) -> None:
    w = world
    product = _product(w)
    intent = w.intent(w.buyers[0], product, 2)
    sig, _ = w.signed(intent)
    # A permit for one unit's price only (not what the intent needs): the token refuses it.
    short = intents.PurchaseIntent(**{**intent.message(), "quantity": 1})
    _, short_permit = w.signed(short)
    with boa.reverts("erc20: invalid signature"):
        w.relay((intent, sig, short_permit, (0, b"")))
    _, other_permit = w.signed(intent, permit_key=w.buyers[2].key)
    with boa.reverts("erc20: invalid signature"):
        w.relay((intent, sig, other_permit, (0, b"")))


def test_a_permit_submitted_first_by_someone_else_still_pays(world) -> None:
    w = world
    product = _product(w)
    buyer = w.buyers[1]
    intent = w.intent(buyer, product, 2)
    sig, permit = w.signed(intent)
    v, r, s = permit[64], permit[:32], permit[32:64]
    w.token.permit(buyer.address, w.referrals.address, intent.allowance, intent.expiry, v, r, s)
    assert w.relay((intent, sig, permit, (0, b""))) == 2 * PRICE
    assert w.token.allowance(buyer.address, w.referrals.address) == 0


def test_digest_matches_the_python_message(world) -> None:
    w = world
    intent = w.intent(w.buyers[0], _product(w), 4, nonce=2**200)
    message = intents.purchase_message(intent, w.chain_id, w.referrals.address)
    from eth_account.messages import encode_typed_data

    signable = encode_typed_data(full_message=message)
    expected = keccak(b"\x19" + signable.version + signable.header + signable.body)
    assert w.referrals.purchase_digest(*intent.message().values()) == expected
