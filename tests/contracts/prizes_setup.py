"""Shared set-up for the prizes contract tests (unit, fuzz, stateful).

`PrizeWorld` holds a registry with two merchants, three terminals (two bound to
`merchant`, one to `other_merchant`), a few consumers (whose keys the tests
hold, to sign their claims) and the prizes contract, plus helpers that act as
a merchant, a terminal or a winner would.
"""

from __future__ import annotations

from dataclasses import dataclass

import boa
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak

from conftest import deployer, quiet, register_all
from couponchain.domain import prize_claim_consent as claim_consent
from couponchain.domain.roles import Role

ZERO = "0x" + "00" * 20
DAY = 86_400

STATUS_NONE = 0
STATUS_AWARDED = 1
STATUS_CLAIMED = 2
STATUS_REVOKED = 3
#: What a claim carries for an award whose consumer no test key signs for.
NO_SIGNATURE = bytes(65)
#: Seconds a test claim signature stays valid.
CLAIM_LIFETIME = 3_600


def keyed_consumer(name: str) -> LocalAccount:
    """A deterministic consumer account whose key the tests hold."""
    return Account.from_key(keccak(text=f"couponchain prizes test consumer {name}"))


def claim_signature(prizes, account: LocalAccount, award_id: int, campaign_id: int,
                    merchant: str, expiry: int, *, chain_id: int | None = None,
                    contract: str | None = None) -> bytes:
    """`account`'s EIP-712 signature of a prize claim (domain/prize_claim_consent.py)."""
    claim = claim_consent.PrizeClaimConsent(award=award_id, campaign=campaign_id,
                                            merchant=merchant, expiry=expiry)
    return claim_consent.sign_claim(
        claim, boa.env.evm.patch.chain_id if chain_id is None else chain_id,
        contract or prizes.address, account.key)


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
    keys: dict[str, LocalAccount]

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

    def signed(self, award_ids: list[int]) -> tuple[list[int], list[bytes]]:
        """(expiries, signatures) of each award's consumer's claim signature, valid
        for an hour (`NO_SIGNATURE` for an unknown award)."""
        expiry = boa.env.timestamp + CLAIM_LIFETIME
        signatures = []
        for award_id in award_ids:
            award = self.prizes.award_of(award_id)
            key = self.keys.get(award.consumer)
            if award.status == STATUS_NONE or key is None:
                signatures.append(NO_SIGNATURE)
                continue
            merchant = self.prizes.campaign(award.campaign_id).merchant
            signatures.append(claim_signature(self.prizes, key, award_id, award.campaign_id,
                                              merchant, expiry))
        return [expiry] * len(award_ids), signatures

    def signed_one(self, award_id: int) -> tuple[int, bytes]:
        """(expiry, signature) of one award's claim, as `signed`."""
        expiries, signatures = self.signed([award_id])
        return expiries[0], signatures[0]

    def claim(self, award_ids: list[int], consumers: list[str], caller=None) -> None:
        """Claim a batch as `terminal` (or `caller`), each with its winner's signature."""
        expiries, signatures = self.signed(award_ids)
        with boa.env.prank(caller or self.terminal):
            self.prizes.claim_batch(award_ids, consumers, expiries[:len(consumers)],
                                    signatures[:len(consumers)])


def build_world(platform, merchant, other_merchant, terminal, consumers: int = 4) -> PrizeWorld:
    """Deploy a registry (the two merchants and `terminal`, bound to `merchant`,
    as in conftest's `registry`, plus a second terminal of `merchant`, one of
    `other_merchant` and `consumers` consumers) and the prizes contract."""
    second = boa.env.generate_address("prizes_second_terminal")
    other = boa.env.generate_address("prizes_other_terminal")
    keyed = [keyed_consumer(str(i)) for i in range(consumers)]
    people = [account.address for account in keyed]
    with boa.env.prank(platform):
        registry = deployer("registry").deploy()
        register_all(
            registry, platform,
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
        keys={account.address: account for account in keyed},
    )
