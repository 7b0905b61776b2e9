"""Incentive pools of promotion coupons: the charge and its exact split.

A write-off charges the redeeming merchant `order_amount * incentive_bps //
10_000` (rounded down, in the merchant's favour) into the pool bound to the
coupon. After the round's rollback window the pool is split by the round's
shares, in basis points summing to 10,000, among

- the platform,
- the issuing merchant (the one that granted the coupon),
- the redeeming merchant,
- the final holder, and
- the earlier holders: one entry per recorded transfer (its sender), each
  receiving an equal part of that share, so an account that held the coupon
  twice takes two parts. With no earlier holders the share goes to the
  platform.

Every part is rounded down and the platform takes the remainder, so the parts
always add up to the pool exactly. This is the same integer arithmetic as
`contracts/promotions.vy`; the tests check the two against each other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from couponchain.errors import InvalidInput

BPS = 10_000
"""Basis points in a whole."""

MAX_EARLIER_HOLDERS = 16
"""Recorded transfers per coupon; the contract refuses the 17th."""

MAX_ORDER_AMOUNT = 2**96 - 1
"""Largest order amount (token's smallest unit) a write-off accepts."""


@dataclass(frozen=True, slots=True)
class Shares:
    """A round's pool split in basis points; the five fields sum to 10,000.

    The field order is the contract's `Shares` struct order.
    """

    platform: int
    issuer: int
    redeemer: int
    holder: int
    earlier: int

    def __post_init__(self) -> None:
        for name in ("platform", "issuer", "redeemer", "holder", "earlier"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= BPS:
                raise InvalidInput(
                    f"share {name} must be an integer from 0 to {BPS} bps", field=f"shares.{name}"
                )
        if sum(self.as_tuple()) != BPS:
            raise InvalidInput(f"shares must sum to {BPS} bps", field="shares")

    def as_tuple(self) -> tuple[int, int, int, int, int]:
        """The shares in contract order (platform, issuer, redeemer, holder, earlier)."""
        return (self.platform, self.issuer, self.redeemer, self.holder, self.earlier)


@dataclass(frozen=True, slots=True)
class PoolSplit:
    """How one pool is split; `earlier_each` goes to each earlier-holder entry."""

    pool: int
    platform: int
    issuer: int
    redeemer: int
    holder: int
    earlier_count: int
    earlier_each: int

    @property
    def total(self) -> int:
        """The sum of all parts (always equal to `pool`)."""
        return (
            self.platform
            + self.issuer
            + self.redeemer
            + self.holder
            + self.earlier_each * self.earlier_count
        )


def incentive(order_amount: int, incentive_bps: int) -> int:
    """The incentive a write-off charges: `order_amount * incentive_bps // 10_000`.

    Rounds down. `order_amount` is 1 to `MAX_ORDER_AMOUNT`, `incentive_bps`
    0 to 10,000; anything else raises `InvalidInput`.
    """
    _check_int(order_amount, "order_amount", 1, MAX_ORDER_AMOUNT)
    _check_int(incentive_bps, "incentive_bps", 0, BPS)
    return order_amount * incentive_bps // BPS


def split_pool(pool: int, shares: Shares, earlier_count: int) -> PoolSplit:
    """Split `pool` among the parties of a coupon's path.

    `earlier_count` is the number of recorded transfers (0 to 16). Each part
    is `pool * share // 10_000` rounded down; each earlier-holder entry gets
    the earlier share divided by `earlier_count`, rounded down; the platform
    gets the rest (including the whole earlier share when `earlier_count` is 0).
    """
    _check_int(pool, "pool", 0, MAX_ORDER_AMOUNT)
    _check_int(earlier_count, "earlier_count", 0, MAX_EARLIER_HOLDERS)
    issuer = pool * shares.issuer // BPS
    redeemer = pool * shares.redeemer // BPS
    holder = pool * shares.holder // BPS
    earlier_each = pool * shares.earlier // BPS // earlier_count if earlier_count else 0
    platform = pool - issuer - redeemer - holder - earlier_each * earlier_count
    return PoolSplit(
        pool=pool,
        platform=platform,
        issuer=issuer,
        redeemer=redeemer,
        holder=holder,
        earlier_count=earlier_count,
        earlier_each=earlier_each,
    )


def payouts(
    pool: int,
    shares: Shares,
    *,
    platform: str,
    issuer: str,
    redeemer: str,
    holder: str,
    earlier: Sequence[str],
) -> dict[str, int]:
    """What each account is credited when a pool is distributed.

    Accounts that play several parts (a merchant that granted and redeemed
    the coupon, a consumer on the path twice) get the sum of their parts.
    Addresses are compared case-insensitively and returned lower-cased;
    accounts credited nothing are left out.
    """
    split = split_pool(pool, shares, len(earlier))
    credits: dict[str, int] = {}
    parts = [
        (platform, split.platform),
        (issuer, split.issuer),
        (redeemer, split.redeemer),
        (holder, split.holder),
        *((account, split.earlier_each) for account in earlier),
    ]
    for account, amount in parts:
        if amount:
            key = account.lower()
            credits[key] = credits.get(key, 0) + amount
    return credits


def _check_int(value: int, field: str, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput(f"{field} must be an integer from {low} to {high}", field=field)
