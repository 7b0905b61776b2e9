"""State machine over relayed purchases and permits of self-custodied buyers (issue 23).

Random sequences of `referrals.purchase_signed_batch` calls (honest, or with
the intent signed by another key, a permit for another amount or by another
key, an expired intent, a replayed nonce, a stale batch, a price above the
buyer's maximum, more than the buyer holds), permits front-run alone, an
originator closing the batch and opening the next, and time passing; credit
sent between buyers by EIP-3009 authorizations (honest, redirected by the
relayer to a thief, signed by another key, expired, not yet valid, a replayed or
cancelled nonce) and cancellations; each rule predicts the exact revert, and
after every step the ghost must match the chain: balances, units, intent
nonces, token nonces, allowances and authorization states, and the thief holds
nothing.

It runs on the real token (token.vy, snekmate's EIP-2612 permit). Signing
costs about a millisecond per signature, so this machine keeps to few
examples under every profile (conftest's `MACHINE_EXAMPLES_BY_MACHINE`): its
rules are few and shallow.
"""

from __future__ import annotations

import boa
from eth_account import Account
from eth_utils import keccak
from hypothesis import event
from hypothesis import strategies as st
from hypothesis.stateful import invariant, precondition, rule
from referrals_setup import CONTENT_HASH, MAX_REBATE_BPS, MAX_SHARE_BPS, MIN_SHARE_BPS, ZERO

from conftest import ContractMachine, deployer, machine_settings, quiet
from couponchain.domain import intents
from couponchain.domain.eip712 import sign_typed
from couponchain.domain.roles import Role

PRICE = 1_000
CIRCULATION = 40
FUNDS = 4 * PRICE  # a buyer runs out within a run: "exceeds balance" is reachable
BUYERS = 3
NONCES = st.integers(0, 1)  # two, so replays happen often
TAMPER = ["none", "none", "none", "intent key", "permit key", "permit amount", "expired",
          "stale batch", "low price"]
CREDIT_TAMPER = ["none", "none", "redirect", "key", "expired", "not yet valid"]
AUTH_NONCES = st.integers(0, 2)  # three per payer, so replays and cancelled ones recur


class CustodyMachine(ContractMachine):
    """Relayed purchases of keyed buyers against ghost balances, units and nonces."""

    registry = token = referrals = originator = relayer = thief = None
    buyers: list = []

    @classmethod
    def deploy(cls) -> None:
        platform = boa.env.generate_address("custody_stateful_platform")
        cls.originator = boa.env.generate_address("custody_stateful_originator")
        cls.relayer = boa.env.generate_address("custody_stateful_relayer")
        cls.thief = boa.env.generate_address("custody_stateful_thief")
        cls.buyers = [Account.from_key(keccak(text=f"custody stateful buyer {i}"))
                      for i in range(BUYERS)]
        with boa.env.prank(platform):
            cls.registry = quiet(deployer("registry").deploy())
            cls.registry.register_batch([cls.originator, *[b.address for b in cls.buyers]],
                                        [Role.MERCHANT] + [Role.CONSUMER] * BUYERS,
                                        [ZERO] * (BUYERS + 1))
            cls.token = quiet(deployer("token").deploy(cls.registry.address))
            cls.referrals = quiet(deployer("referrals").deploy(
                cls.registry.address, cls.token.address, MAX_REBATE_BPS, MIN_SHARE_BPS,
                MAX_SHARE_BPS))
            cls.token.mint_batch([b.address for b in cls.buyers], [FUNDS] * BUYERS)
        with boa.env.prank(cls.originator):
            assert cls.referrals.register_product("Song", CONTENT_HASH, PRICE, CIRCULATION) == 1

    def __init__(self) -> None:
        super().__init__()
        addresses = [b.address for b in self.buyers]
        self.balance = dict.fromkeys(addresses, FUNDS)
        self.units = dict.fromkeys(addresses, 0)
        self.token_nonce = dict.fromkeys(addresses, 0)
        self.allowance = dict.fromkeys(addresses, 0)
        self.used: dict[str, set[int]] = {a: set() for a in addresses}
        self.auth_used: dict[str, set[int]] = {a: set() for a in addresses}
        self.batch = 1
        self.sold = 0

    # --- helpers --------------------------------------------------------
    def _signed(self, buyer, quantity: int, batch: int, max_price: int, nonce: int,
                expiry: int, tamper: str) -> tuple[intents.PurchaseIntent, bytes, bytes]:
        chain_id = boa.env.evm.patch.chain_id
        intent = intents.PurchaseIntent(buyer=buyer.address, product=1, quantity=quantity,
                                        batch=batch, max_price=max_price, promoter=ZERO,
                                        nonce=nonce, expiry=expiry)
        stranger = Account.from_key(keccak(text="custody stateful stranger")).key
        signature = sign_typed(intents.purchase_message(intent, chain_id,
                                                        self.referrals.address),
                               stranger if tamper == "intent key" else buyer.key)
        value = intent.allowance - (1 if tamper == "permit amount" else 0)
        permit = sign_typed(intents.credit_permit_message(
            buyer.address, self.referrals.address, value, self.token_nonce[buyer.address],
            expiry, chain_id, self.token.address),
            stranger if tamper == "permit key" else buyer.key)
        return intent, signature, permit

    def _expected(self, intent: intents.PurchaseIntent, tamper: str) -> str | None:
        """The revert the contract must give, in the order it checks."""
        buyer, now = intent.buyer, boa.env.timestamp
        if intent.expiry < now:
            return "referrals: intent expired"
        if tamper == "intent key":
            return "referrals: intent not signed by the buyer"
        if intent.nonce in self.used[buyer]:
            return "referrals: intent nonce already used"
        if self.allowance[buyer] < intent.allowance and tamper in ("permit key",
                                                                   "permit amount"):
            return "erc20: invalid signature"
        if intent.batch != self.batch:
            return "referrals: batch changed since the buyer saw it"
        if PRICE * (2 if self.batch > 1 else 1) > intent.max_price:
            return "referrals: price above the buyer's maximum"
        if intent.quantity > CIRCULATION - self.sold:
            return "referrals: not enough units left"
        if self.batch > 1:
            return "referrals: link required after batch 1"
        if PRICE * intent.quantity > self.balance[buyer]:
            return "erc20: transfer amount exceeds balance"
        return None

    # --- rules ----------------------------------------------------------
    @rule(who=st.integers(0, BUYERS - 1), quantity=st.integers(1, 3), nonce=NONCES,
          tamper=st.sampled_from(TAMPER), headroom=st.sampled_from([0, 0, 500]))
    def relay(self, who: int, quantity: int, nonce: int, tamper: str, headroom: int) -> None:
        buyer = self.buyers[who]
        now = boa.env.timestamp
        expiry = now - 1 if tamper == "expired" else now + 600
        batch = self.batch - 1 if tamper == "stale batch" and self.batch > 1 else self.batch
        max_price = PRICE * (2 if self.batch > 1 else 1) + headroom
        if tamper == "low price":
            max_price -= 1
        intent, signature, permit = self._signed(buyer, quantity, batch, max_price, nonce,
                                                 expiry, tamper)
        expected = self._expected(intent, tamper)
        event(f"relay: {expected or 'paid'}")  # --hypothesis-show-statistics shows the mix
        args = [[a] for a in (intent.buyer, 1, quantity, batch, max_price, ZERO, 0, b"",
                              nonce, expiry, signature, permit)]
        with boa.env.prank(self.relayer):
            if expected is not None:
                with boa.reverts(expected):
                    self.referrals.purchase_signed_batch(*args)
                return
            paid = self.referrals.purchase_signed_batch(*args)
        amount = PRICE * quantity
        assert paid == amount
        address = buyer.address
        if self.allowance[address] < intent.allowance:  # the permit was used
            self.allowance[address] = intent.allowance
            self.token_nonce[address] += 1
        self.allowance[address] -= amount
        self.balance[address] -= amount
        self.units[address] += quantity
        self.used[address].add(nonce)
        self.sold += quantity

    @rule(who=st.integers(0, BUYERS - 1), quantity=st.integers(1, 3))
    def permit_alone(self, who: int, quantity: int) -> None:
        """Someone submits a buyer's permit by itself first (it is public once signed):
        it sets exactly the signed allowance, which a later purchase uses."""
        buyer = self.buyers[who]
        value = quantity * PRICE * (2 if self.batch > 1 else 1)
        deadline = boa.env.timestamp + 600
        permit = sign_typed(intents.credit_permit_message(
            buyer.address, self.referrals.address, value, self.token_nonce[buyer.address],
            deadline, boa.env.evm.patch.chain_id, self.token.address), buyer.key)
        with boa.env.prank(self.relayer):
            self.token.permit(buyer.address, self.referrals.address, value, deadline,
                              permit[64], permit[:32], permit[32:64])
        self.allowance[buyer.address] = value
        self.token_nonce[buyer.address] += 1

    @rule(who=st.integers(0, BUYERS - 1), to=st.integers(1, BUYERS - 1),
          amount=st.integers(1, FUNDS), nonce=AUTH_NONCES,
          tamper=st.sampled_from(CREDIT_TAMPER))
    def send_credit(self, who: int, to: int, amount: int, nonce: int, tamper: str) -> None:
        """A buyer's signed credit transfer to another buyer, relayed (or rewritten by
        the relayer to pay a thief): only exactly what was signed ever moves."""
        payer = self.buyers[who]
        payee = self.buyers[(who + to) % BUYERS].address
        now = boa.env.timestamp
        after = now + 60 if tamper == "not yet valid" else 0
        before = now if tamper == "expired" else now + 600
        key = (Account.from_key(keccak(text="custody stateful stranger")).key
               if tamper == "key" else payer.key)
        nonce32 = nonce.to_bytes(32, "big")
        signed = sign_typed(intents.credit_authorization_message(
            payer.address, payee, amount, after, before, nonce32,
            boa.env.evm.patch.chain_id, self.token.address), key)
        recipient = self.thief if tamper == "redirect" else payee
        expected = ("token: authorization is not yet valid" if tamper == "not yet valid"
                    else "token: authorization is expired" if tamper == "expired"
                    else "token: authorization is used or canceled"
                    if nonce in self.auth_used[payer.address]
                    else "token: invalid signature" if tamper in ("key", "redirect")
                    else "erc20: transfer amount exceeds balance"
                    if amount > self.balance[payer.address] else None)
        event(f"send_credit: {expected or 'sent'}")
        args = (payer.address, recipient, amount, after, before, nonce32, signed[64],
                signed[:32], signed[32:64])
        with boa.env.prank(self.relayer):
            if expected is not None:
                with boa.reverts(expected):
                    self.token.transferWithAuthorization(*args)
                return
            self.token.transferWithAuthorization(*args)
        self.auth_used[payer.address].add(nonce)
        self.balance[payer.address] -= amount
        self.balance[payee] += amount

    @rule(who=st.integers(0, BUYERS - 1), nonce=AUTH_NONCES)
    def cancel_credit(self, who: int, nonce: int) -> None:
        """A buyer voids one of its authorization nonces (anyone submits it)."""
        payer = self.buyers[who]
        nonce32 = nonce.to_bytes(32, "big")
        signed = sign_typed(intents.cancel_authorization_message(
            payer.address, nonce32, boa.env.evm.patch.chain_id, self.token.address),
            payer.key)
        args = (payer.address, nonce32, signed[64], signed[:32], signed[32:64])
        with boa.env.prank(self.relayer):
            if nonce in self.auth_used[payer.address]:
                with boa.reverts("token: authorization is used or canceled"):
                    self.token.cancelAuthorization(*args)
                return
            self.token.cancelAuthorization(*args)
        self.auth_used[payer.address].add(nonce)

    # Batch 2 sells only through links, which this machine leaves out: it opens
    # once some units sold, so most runs buy in batch 1 first.
    @precondition(lambda self: self.batch == 1 and self.sold >= 3)
    @rule()
    def next_batch(self) -> None:
        """The originator closes the open batch and opens the next at twice the price:
        intents signed for the old batch are refused, never charged the new price."""
        with boa.env.prank(self.originator):
            self.referrals.close_batch(1)
            self.referrals.open_batch(1, 2 * PRICE, CIRCULATION, 1_000, 2_000)
        self.batch, self.sold = 2, 0

    @rule(seconds=st.sampled_from([1, 601]))
    def time_passes(self, seconds: int) -> None:
        boa.env.time_travel(seconds=seconds)

    # --- invariants -----------------------------------------------------
    @invariant()
    def ledgers_match(self) -> None:
        for buyer in self.buyers:
            a = buyer.address
            assert self.token.balanceOf(a) == self.balance[a]
            assert self.referrals.units_of(1, a) == self.units[a]
            assert self.token.nonces(a) == self.token_nonce[a]
            assert self.token.allowance(a, self.referrals.address) == self.allowance[a]
            for nonce in range(2):
                assert self.referrals.intent_nonce_used(a, nonce) == (nonce in self.used[a])
            for nonce in range(3):
                assert self.token.authorizationState(a, nonce.to_bytes(32, "big")) == (
                    nonce in self.auth_used[a])
        assert self.token.balanceOf(self.thief) == 0


class TestCustody(CustodyMachine.TestCase):  # type: ignore[name-defined]
    settings = machine_settings("custody")

    def setUp(self) -> None:
        CustodyMachine.deploy()
