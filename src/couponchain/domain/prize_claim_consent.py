"""A prize winner's signed word that an award may be recorded as claimed (EIP-712).

The winner signs

    PrizeClaim(uint256 award,uint256 campaign,address merchant,uint256 expiry)

in the domain `{name: "CouponChain Prizes", version: "1", chainId,
verifyingContract: the prizes contract}`. The signature travels inside the
rotating code the phone shows (`domain/prize_codes.py`, CCPZ2), through the
scan, the offline terminal's queue and the claim row, to `claim_batch_at`,
where the prizes contract recovers it and refuses a claim not signed by the
award's consumer: neither the merchant nor any terminal can mark an award
claimed without a code its winner showed. It is bound to one award (claimed at
most once, so it cannot be replayed), its campaign and merchant, and expires
at `expiry`, at most `MAX_CLAIM_LIFETIME` after the contract records it.

Signing and recovery are `domain/eip712.py`'s: 65-byte (r, s, v), low s only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_utils import is_address, to_checksum_address

from couponchain.domain import eip712
from couponchain.errors import InvalidInput

DOMAIN_NAME = "CouponChain Prizes"
DOMAIN_VERSION = "1"
MAX_CLAIM_LIFETIME = 8 * 86_400
"""Seconds: the longest a claim signature may be valid when the contract records it."""
RECORD_MARGIN = 86_400
"""Seconds a claim signature outlives the offline window: time for the recorder
to put a synced claim on chain (a node away for longer gets it refused)."""

CLAIM_FIELDS: eip712.Fields = [
    {"name": "award", "type": "uint256"},
    {"name": "campaign", "type": "uint256"},
    {"name": "merchant", "type": "address"},
    {"name": "expiry", "type": "uint256"},
]


@dataclass(frozen=True, slots=True)
class PrizeClaimConsent:
    """What the winner agrees to: award `award` of campaign `campaign`, run by
    `merchant`, may be recorded as claimed until `expiry` (epoch seconds)."""

    award: int
    campaign: int
    merchant: str
    expiry: int

    def __post_init__(self) -> None:
        for field in ("award", "campaign", "expiry"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**256:
                raise InvalidInput(f"{field} must fit in uint256", field=field)
        if not isinstance(self.merchant, str) or not is_address(self.merchant):
            raise InvalidInput("merchant must be a chain address", field="merchant")
        object.__setattr__(self, "merchant", to_checksum_address(self.merchant))


def claim_lifetime(offline_window: int) -> int:
    """Seconds from a code's issue to its claim signature's expiry: the
    deployment's offline window plus `RECORD_MARGIN`, within the contract's bound."""
    return min(offline_window + RECORD_MARGIN, MAX_CLAIM_LIFETIME)


def typed_data(claim: PrizeClaimConsent, chain_id: int, contract: str) -> dict[str, Any]:
    """The full EIP-712 message (`eth_signTypedData_v4` shape) of a claim."""
    return eip712.typed_data(
        "PrizeClaim", CLAIM_FIELDS,
        eip712.domain(DOMAIN_NAME, DOMAIN_VERSION, chain_id, contract),
        {"award": claim.award, "campaign": claim.campaign, "merchant": claim.merchant,
         "expiry": claim.expiry})


def sign_claim(claim: PrizeClaimConsent, chain_id: int, contract: str, private_key: Any) -> bytes:
    """The winner's 65-byte (r, s, v) signature of the claim."""
    return eip712.sign_typed(typed_data(claim, chain_id, contract), private_key)


def check_claim(claim: PrizeClaimConsent, signature: bytes, *, chain_id: int, contract: str,
                consumer: str, now: int) -> None:
    """Raise `InvalidInput` unless the contract would accept this claim signature
    now: not expired, at most `MAX_CLAIM_LIFETIME` ahead, signed by `consumer`."""
    if claim.expiry < now:
        raise InvalidInput("the winner's claim signature expired", field="code")
    if claim.expiry - now > MAX_CLAIM_LIFETIME:
        raise InvalidInput(f"the winner's claim signature is valid for longer than "
                           f"{MAX_CLAIM_LIFETIME} s", field="code")
    try:
        signer = eip712.recover_typed(typed_data(claim, chain_id, contract), signature)
    except InvalidInput as exc:
        raise InvalidInput(exc.message, field="code") from None
    if signer.lower() != consumer.lower():
        raise InvalidInput("the code is not signed by the award's consumer", field="code")
