"""A holder's short-lived code to redeem a limited-edition coupon at a till (EIP-712).

The holder signs

    Redemption(uint256 coupon,uint256 nonce,uint256 expiry)

in the domain `{name: "CouponChain Editions", version: "1", chainId,
verifyingContract: the editions contract}`, the same typed-data mechanism as a
promotion consent (`domain/consent.py`), and shows the signed code as a QR.
A merchant's terminal submits the code; the platform redeems only when the
code is unexpired, at most `MAX_LIFETIME` seconds long, and signed by the
coupon's *current* owner. A stranger who photographs the serial, or the code
of a coupon that has since changed hands, cannot redeem it.

The editions contract does not check this signature: `redeem_batch` trusts
the edition's merchant and its terminals (DESIGN §2.1). The holder's consent
is therefore checked by the service (`services/edition_codes.py`), not on
chain. A code needs no stored nonce: a coupon is redeemed at most once (the
contract refuses a second redemption), and a transfer makes every earlier
code's signer a former owner.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from couponchain.domain import eip712
from couponchain.errors import InvalidInput

DOMAIN_NAME = "CouponChain Editions"
DOMAIN_VERSION = "1"
PREFIX = "CCE1"
"""Leads every edition redemption code, so the till's scanner tells it from a
promotion consent (CCP2), a prize code (CCPZ2) or a customer number."""
MAX_LIFETIME = 300
"""Seconds: the longest a code may be valid."""
DEFAULT_LIFETIME = 120
_MAX_CODE_LENGTH = 200
_UINT256_MAX = 2**256 - 1

FIELDS: eip712.Fields = [
    {"name": "coupon", "type": "uint256"},
    {"name": "nonce", "type": "uint256"},
    {"name": "expiry", "type": "uint256"},
]


@dataclass(frozen=True, slots=True)
class Redemption:
    """What the holder agrees to: redeeming `coupon` until `expiry` (`nonce` keeps
    each code distinct)."""

    coupon: int
    nonce: int
    expiry: int

    def __post_init__(self) -> None:
        for name in ("coupon", "nonce", "expiry"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) \
                    or not 0 <= value <= _UINT256_MAX:
                raise InvalidInput(f"{name} must be an integer that fits uint256", field="code")


def typed_data(redemption: Redemption, chain_id: int, contract: str) -> dict[str, Any]:
    """The full EIP-712 message (`eth_signTypedData_v4` shape)."""
    return eip712.typed_data(
        "Redemption", FIELDS, eip712.domain(DOMAIN_NAME, DOMAIN_VERSION, chain_id, contract),
        {"coupon": redemption.coupon, "nonce": redemption.nonce, "expiry": redemption.expiry})


def sign(redemption: Redemption, chain_id: int, contract: str, private_key: Any) -> bytes:
    """The holder's 65-byte low-s signature."""
    return eip712.sign_typed(typed_data(redemption, chain_id, contract), private_key)


def check(redemption: Redemption, signature: bytes, *, chain_id: int, contract: str,
          owner: str, now: int) -> None:
    """Raise `InvalidInput` (field `code`) unless the code may redeem now: unexpired,
    at most `MAX_LIFETIME` ahead, and signed by `owner` (the coupon's current owner)."""
    if redemption.expiry < now:
        raise InvalidInput("the code has expired: the holder must show a fresh one",
                           field="code")
    if redemption.expiry - now > MAX_LIFETIME:
        raise InvalidInput(f"the code is valid for more than {MAX_LIFETIME} seconds",
                           field="code")
    try:
        signer = eip712.recover_typed(typed_data(redemption, chain_id, contract), signature)
    except InvalidInput as exc:
        raise InvalidInput(exc.message, field="code") from None
    if signer.lower() != owner.lower():
        raise InvalidInput("the code was not signed by the coupon's holder", field="code")


def encode(redemption: Redemption, signature: bytes) -> str:
    """`CCE1.<coupon>.<nonce>.<expiry>.<signature, unpadded base64url>` (about 120
    characters: a small QR)."""
    sig = base64.urlsafe_b64encode(signature).rstrip(b"=").decode()
    return f"{PREFIX}.{redemption.coupon}.{redemption.nonce}.{redemption.expiry}.{sig}"


def decode(text: str) -> tuple[Redemption, bytes]:
    """The redemption and signature of a code; `InvalidInput` (field `code`) if malformed."""
    parts = text.strip().split(".")
    if len(text) > _MAX_CODE_LENGTH or len(parts) != 5 or parts[0] != PREFIX:
        raise InvalidInput("not an edition coupon code (CCE1.<coupon>.<nonce>.<expiry>."
                           "<signature>)", field="code")
    if not all(p.isdigit() and p.isascii() for p in parts[1:4]):
        raise InvalidInput("coupon, nonce and expiry must be decimal numbers", field="code")
    try:
        signature = base64.b64decode(parts[4] + "=" * (-len(parts[4]) % 4), altchars=b"-_",
                                     validate=True)
    except (ValueError, binascii.Error):
        raise InvalidInput("the signature is not base64url", field="code") from None
    return Redemption(int(parts[1]), int(parts[2]), int(parts[3])), signature
