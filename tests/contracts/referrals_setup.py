"""Shared set-up for the referrals contract tests (unit, fuzz, stateful).

`World` holds a deployed registry, a test ERC-20 and the referrals contract,
with consumers whose private keys are known (so they can sign promotion
links), and helpers that act as an originator, a buyer or a promoter would.
"""

from __future__ import annotations

from dataclasses import dataclass

import boa
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from promotions_setup import erc20_deployer

from conftest import deployer, register_all
from couponchain.domain import links
from couponchain.domain.roles import Role

ZERO = "0x" + "00" * 20
MAX_REBATE_BPS = 3_000
# The platform's bounds on a batch's promoter share at deployment.
MIN_SHARE_BPS = 500
MAX_SHARE_BPS = 5_000
SHARE_BPS = 2_000  # the share the helpers give a batch unless told
CONTENT_HASH = keccak(text="test product content")
LINK_LIFETIME = 7 * 86_400


def keyed_consumers(count: int) -> list[LocalAccount]:
    """Deterministic consumer accounts whose keys the tests hold."""
    return [
        Account.from_key(keccak(text=f"couponchain referrals test consumer {i}"))
        for i in range(count)
    ]


@dataclass
class World:
    """Contracts and participants of one referrals test."""

    registry: object
    token: object
    referrals: object
    platform: str
    originator: str
    other_merchant: str
    terminal: str
    consumers: list[LocalAccount]

    # --- originator -----------------------------------------------------
    def register(
        self, price: int = 10**6, circulation: int = 100, *, name: str = "Song", by=None
    ) -> int:
        """Register a product as the originator; returns its id."""
        with boa.env.prank(by or self.originator):
            return self.referrals.register_product(name, CONTENT_HASH, price, circulation)

    def open_batch(
        self,
        product_id: int,
        price: int = 2 * 10**6,
        circulation: int = 100,
        rebate_bps=1_000,
        promoter_share_bps=SHARE_BPS,
    ) -> int:
        """Open the product's next batch as the originator; returns its number."""
        with boa.env.prank(self.originator):
            return self.referrals.open_batch(
                product_id, price, circulation, rebate_bps, promoter_share_bps
            )

    def close_batch(self, product_id: int) -> None:
        with boa.env.prank(self.originator):
            self.referrals.close_batch(product_id)

    # --- buyers and promoters -------------------------------------------
    def seen(self, product_id: int) -> tuple[int, int]:
        """(batch, price) of the product's current batch: what a buyer sees and
        sends with its purchase as (seen_batch, max_price)."""
        current = self.referrals.product(product_id).batch_count
        return current, self.referrals.batch(product_id, current).price

    def fund(self, buyer: str, amount: int) -> None:
        """Mint `amount` to `buyer` and approve the referrals contract for it."""
        self.token.mint(buyer, amount)
        with boa.env.prank(buyer):
            self.token.approve(self.referrals.address, amount)

    def link(
        self,
        promoter: LocalAccount,
        product_id: int,
        *,
        expiry: int | None = None,
        chain_id: int | None = None,
        contract: str | None = None,
        key=None,
    ) -> tuple[int, bytes]:
        """(expiry, signature) of a link for `product_id` naming `promoter`,
        signed with `key` (the promoter's own by default)."""
        expiry = boa.env.timestamp + LINK_LIFETIME if expiry is None else expiry
        chain_id = boa.env.evm.patch.chain_id if chain_id is None else chain_id
        contract = contract or self.referrals.address
        link = links.Link(product=product_id, promoter=promoter.address, expiry=expiry)
        return expiry, links.sign_link(link, chain_id, contract, key or promoter.key)

    def buy(
        self,
        buyer: LocalAccount,
        product_id: int,
        quantity: int = 1,
        promoter: LocalAccount | None = None,
    ) -> int:
        """Buy through `promoter`'s fresh link (none in batch 1), funding the buyer
        with exactly the price first; returns the amount paid."""
        current = self.referrals.product(product_id).batch_count
        price = self.referrals.batch(product_id, current).price
        self.fund(buyer.address, price * quantity)
        if promoter is None:
            args = (ZERO, 0, b"")
        else:
            expiry, signature = self.link(promoter, product_id)
            args = (promoter.address, expiry, signature)
        with boa.env.prank(buyer.address):
            return self.referrals.purchase(product_id, quantity, *self.seen(product_id), *args)


def build_world(platform, merchant, other_merchant, terminal, consumers=6) -> World:
    """Deploy a registry (two merchants, a terminal of `merchant`, `consumers`
    keyed consumers), the test token and the referrals contract with a
    `MAX_REBATE_BPS` cap and promoter shares of `MIN_SHARE_BPS` to
    `MAX_SHARE_BPS`. `merchant` is the originator."""
    accounts = keyed_consumers(consumers)
    with boa.env.prank(platform):
        registry = deployer("registry").deploy()
        register_all(
            registry, platform,
            [merchant, other_merchant, terminal],
            [Role.MERCHANT, Role.MERCHANT, Role.TERMINAL],
            [ZERO, ZERO, merchant],
        )
        registry.register_batch(
            [a.address for a in accounts], [Role.CONSUMER] * consumers, [ZERO] * consumers
        )
        token = erc20_deployer().deploy()
        referrals = deployer("referrals").deploy(
            registry.address, token.address, MAX_REBATE_BPS, MIN_SHARE_BPS, MAX_SHARE_BPS
        )
    return World(
        registry=registry,
        token=token,
        referrals=referrals,
        platform=platform,
        originator=merchant,
        other_merchant=other_merchant,
        terminal=terminal,
        consumers=accounts,
    )
