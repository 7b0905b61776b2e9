"""Shared set-up for the promotions contract tests (unit, fuzz, stateful).

`World` holds a deployed registry, a test ERC-20 and the promotions contract,
with consumers whose private keys are known (so they can sign consents), and
small helpers that act as the platform, a merchant or a holder would.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import boa
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak

from conftest import deployer, register_all
from couponchain.domain import consent as consent_rules
from couponchain.domain.roles import Role
from couponchain.domain.splits import MAX_ORDER_AMOUNT, Shares

ZERO = "0x" + "00" * 20
MOCKS = Path(__file__).resolve().parent / "mocks"

STATUS_NONE = 0
STATUS_ACTIVE = 1
STATUS_WRITTEN_OFF = 2
STATUS_DISTRIBUTED = 3

DEFAULT_SHARES = Shares(platform=1_000, issuer=2_000, redeemer=2_000, holder=3_000, earlier=2_000)
DEFAULT_INCENTIVE_BPS = 500
DEFAULT_WINDOW = 3_600
DEFAULT_LIFETIME = 300
INPUTS_HASH = keccak(text="test evaluation inputs")

_erc20 = None


def erc20_deployer():
    """The compiled test ERC-20 (tests/contracts/mocks/erc20.vy)."""
    global _erc20
    if _erc20 is None:
        _erc20 = boa.load_partial(str(MOCKS / "erc20.vy"))
    return _erc20


def keyed_consumers(count: int) -> list[LocalAccount]:
    """Deterministic consumer accounts whose keys the tests hold."""
    return [
        Account.from_key(keccak(text=f"couponchain promotions test consumer {i}"))
        for i in range(count)
    ]


@dataclass
class World:
    """Contracts and participants of one promotions test."""

    registry: object
    token: object
    promotions: object
    platform: str
    merchant: str
    other_merchant: str
    terminal: str
    holders: list[LocalAccount]
    nonces: dict[str, int] = field(default_factory=dict)

    # --- platform -------------------------------------------------------
    def open_round(
        self,
        total: int = 1_000,
        *,
        incentive_bps: int = DEFAULT_INCENTIVE_BPS,
        shares: Shares = DEFAULT_SHARES,
        window: int = DEFAULT_WINDOW,
        lifetime: int = DEFAULT_LIFETIME,
        inputs_hash: bytes = INPUTS_HASH,
    ) -> int:
        """Open a round as the platform; returns its id."""
        with boa.env.prank(self.platform):
            return self.promotions.open_round(
                inputs_hash, total, incentive_bps, shares.as_tuple(), window, lifetime
            )

    def allocate(self, round_id: int, merchant: str, count: int) -> None:
        """Allocate `count` coupons of the round to `merchant` as the platform."""
        with boa.env.prank(self.platform):
            self.promotions.allocate(round_id, [merchant], [count])

    # --- merchants ------------------------------------------------------
    def grant(self, round_id: int, merchant: str, consumers: list[str], counts: list[int]) -> int:
        """Grant as `merchant`; returns the first granted id."""
        with boa.env.prank(merchant):
            return self.promotions.grant(round_id, consumers, counts)

    def give(self, holder: LocalAccount, *, round_id: int | None = None, merchant=None) -> int:
        """One fresh coupon granted to `holder` (opening a round when none is given)."""
        merchant = merchant or self.merchant
        if round_id is None:
            round_id = self.open_round()
        self.allocate(round_id, merchant, 1)
        return self.grant(round_id, merchant, [holder.address], [1])

    def fund(self, merchant: str, amount: int) -> None:
        """Mint `amount` to `merchant` and approve the promotions contract for it."""
        self.token.mint(merchant, amount)
        with boa.env.prank(merchant):
            self.token.approve(self.promotions.address, amount)

    # --- holders --------------------------------------------------------
    def next_nonce(self, holder: LocalAccount) -> int:
        """A nonce the holder has not used yet (sequential per holder)."""
        nonce = self.nonces.get(holder.address, 0)
        self.nonces[holder.address] = nonce + 1
        return nonce

    def consent(
        self,
        holder: LocalAccount,
        coupon_id: int,
        *,
        nonce: int | None = None,
        expiry: int | None = None,
        chain_id: int | None = None,
        contract: str | None = None,
        merchant: str = ZERO,
        max_amount: int = MAX_ORDER_AMOUNT,
    ) -> tuple[int, int, str, int, bytes]:
        """(nonce, expiry, merchant, max_amount, signature) of a consent signed by
        `holder`: the write-off arguments after the order amount. By default any
        merchant may use it, for any order the contract takes."""
        nonce = self.next_nonce(holder) if nonce is None else nonce
        expiry = boa.env.timestamp + 120 if expiry is None else expiry
        chain_id = boa.env.evm.patch.chain_id if chain_id is None else chain_id
        contract = contract or self.promotions.address
        signed = consent_rules.Consent(
            coupon=coupon_id, nonce=nonce, expiry=expiry, merchant=merchant, max_amount=max_amount
        )
        signature = consent_rules.sign_consent(signed, chain_id, contract, holder.key)
        return nonce, expiry, merchant, max_amount, signature

    def transfer(self, coupon_id: int, sender: LocalAccount, receiver: LocalAccount) -> None:
        """Transfer a coupon between keyed consumers."""
        with boa.env.prank(sender.address):
            self.promotions.transfer(coupon_id, receiver.address)

    def write_off(
        self, coupon_id: int, holder: LocalAccount, amount: int, *, caller: str | None = None
    ) -> int:
        """Write a coupon off with a fresh consent; the paying merchant is funded first
        with exactly the incentive."""
        caller = caller or self.merchant
        payer = self.registry.merchant_of(caller)
        rate = self.promotions.rounds(self.promotions.coupon(coupon_id).round_id).incentive_bps
        self.fund(payer, amount * rate // 10_000)
        with boa.env.prank(caller):
            return self.promotions.write_off(coupon_id, amount, *self.consent(holder, coupon_id))


def build_world(platform, merchant, other_merchant, terminal, holders=6) -> World:
    """Deploy a registry (the two merchants and `terminal`, bound to `merchant`,
    registered as in conftest's `registry`), the token and the promotions
    contract, and register `holders` keyed consumers.

    Test modules build one world per module (deploying per test is most of a
    test's time); the autouse anchor still reverts every test's own changes.
    """
    accounts = keyed_consumers(holders)
    with boa.env.prank(platform):
        registry = deployer("registry").deploy()
        register_all(
            registry, platform,
            [merchant, other_merchant, terminal],
            [Role.MERCHANT, Role.MERCHANT, Role.TERMINAL],
            [ZERO, ZERO, merchant],
        )
        registry.register_batch(
            [a.address for a in accounts], [Role.CONSUMER] * holders, [ZERO] * holders
        )
        token = erc20_deployer().deploy()
        promotions = deployer("promotions").deploy(registry.address, token.address)
    return World(
        registry=registry,
        token=token,
        promotions=promotions,
        platform=platform,
        merchant=merchant,
        other_merchant=other_merchant,
        terminal=terminal,
        holders=accounts,
    )
