"""Shared set-up for the prizes contract tests (unit, fuzz, stateful).

`PrizeWorld` holds a registry with two merchants, three terminals (two bound to
`merchant`, one to `other_merchant`), a few consumers and the prizes contract,
plus helpers that act as a merchant or a terminal would.
"""

from __future__ import annotations

from dataclasses import dataclass

import boa

from conftest import deployer, quiet
from couponchain.domain.roles import Role

ZERO = "0x" + "00" * 20
DAY = 86_400

STATUS_NONE = 0
STATUS_AWARDED = 1
STATUS_CLAIMED = 2
STATUS_REVOKED = 3


_COUNTER_BITS = 64
_COUNTER_MASK = 2**_COUNTER_BITS - 1


def prize_counters(word: int) -> tuple[int, int, int, int]:
    """(quantity, awarded, claimed, revoked) of a prize's packed storage word
    (`_prizes[campaign][index]`: 64 bits each, in that order; see prizes.vy)."""
    return tuple((word >> (_COUNTER_BITS * i)) & _COUNTER_MASK for i in range(4))


@dataclass
class PrizeWorld:
    """Contracts and participants of one prizes test."""

    registry: object
    prizes: object
    merchant: str
    other_merchant: str
    terminal: str
    second_terminal: str
    other_terminal: str
    consumers: list[str]

    def create(self, caller: str | None = None, **overrides) -> int:
        """Create a campaign (default: two prizes of 5 and 2, `terminal` only,
        window from now for a day, limit 1); returns its id."""
        now = boa.env.timestamp
        args = {
            "title": "Summer draw",
            "prize_names": ["Mug", "Tote"],
            "quantities": [5, 2],
            "terminals": [self.terminal],
            "all_terminals": False,
            "starts": now,
            "ends": now + DAY,
            "per_consumer_limit": 1,
        } | overrides
        with boa.env.prank(caller or self.merchant):
            return self.prizes.create_campaign(*args.values())

    def award(self, campaign_id: int, consumers: list[str], indexes: list[int], caller=None) -> int:
        """Award as the campaign's merchant (or `caller`); returns the first id."""
        with boa.env.prank(caller or self.merchant):
            return self.prizes.award(campaign_id, consumers, indexes)

    def claim(self, award_ids: list[int], consumers: list[str], caller=None) -> None:
        """Claim a batch as `terminal` (or `caller`)."""
        with boa.env.prank(caller or self.terminal):
            self.prizes.claim_batch(award_ids, consumers)


def build_world(platform, merchant, other_merchant, terminal, consumers: int = 4) -> PrizeWorld:
    """Deploy a registry (the two merchants and `terminal`, bound to `merchant`,
    as in conftest's `registry`, plus a second terminal of `merchant`, one of
    `other_merchant` and `consumers` consumers) and the prizes contract."""
    second = boa.env.generate_address("prizes_second_terminal")
    other = boa.env.generate_address("prizes_other_terminal")
    people = [boa.env.generate_address(f"prizes_consumer_{i}") for i in range(consumers)]
    with boa.env.prank(platform):
        registry = deployer("registry").deploy()
        registry.register_batch(
            [merchant, other_merchant, terminal, second, other, *people],
            [Role.MERCHANT, Role.MERCHANT, Role.TERMINAL, Role.TERMINAL, Role.TERMINAL]
            + [Role.CONSUMER] * consumers,
            [ZERO, ZERO, merchant, merchant, other_merchant] + [ZERO] * consumers,
        )
    prizes = quiet(deployer("prizes").deploy(registry.address))
    return PrizeWorld(
        registry=registry,
        prizes=prizes,
        merchant=merchant,
        other_merchant=other_merchant,
        terminal=terminal,
        second_terminal=second,
        other_terminal=other,
        consumers=people,
    )
