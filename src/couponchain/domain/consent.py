"""A holder's consent to write off a promotion coupon (EIP-712 typed data).

The holder signs

    Consent(uint256 coupon,uint256 nonce,uint256 expiry)

in the domain `{name: "CouponChain Promotions", version: "1", chainId,
verifyingContract}`; the signed code is shown as a QR, and a merchant or its
terminal submits it with the order amount. The contract accepts it once
(nonces are per holder), only before `expiry`, only while `expiry` is at most
the round's consent lifetime (<= 300 s) ahead, and only as a 65-byte
low-s (r, s, v) signature by the coupon's current holder. `check_consent`
applies the same rules off chain, so a terminal can refuse a bad code before
sending a transaction.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_account.messages import SignableMessage, encode_typed_data
from eth_keys.exceptions import BadSignature
from eth_utils import is_address, keccak, to_checksum_address

from couponchain.errors import InvalidInput

DOMAIN_NAME = "CouponChain Promotions"
DOMAIN_VERSION = "1"
MAX_CONSENT_LIFETIME = 300
"""Seconds: the longest lifetime any round allows."""

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_HALF_N = SECP256K1_N // 2
_UINT256_MAX = 2**256 - 1

CONSENT_TYPES: dict[str, list[dict[str, str]]] = {
    "EIP712Domain": [
        {"name": "name", "type": "string"},
        {"name": "version", "type": "string"},
        {"name": "chainId", "type": "uint256"},
        {"name": "verifyingContract", "type": "address"},
    ],
    "Consent": [
        {"name": "coupon", "type": "uint256"},
        {"name": "nonce", "type": "uint256"},
        {"name": "expiry", "type": "uint256"},
    ],
}


@dataclass(frozen=True, slots=True)
class Consent:
    """What the holder agrees to: writing off `coupon`, once (`nonce`), until `expiry`."""

    coupon: int
    nonce: int
    expiry: int

    def __post_init__(self) -> None:
        for field in ("coupon", "nonce", "expiry"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int):
                raise InvalidInput(f"{field} must be an integer", field=field)
            if not 0 <= value <= _UINT256_MAX:
                raise InvalidInput(f"{field} must fit in uint256", field=field)

    @classmethod
    def new(cls, coupon: int, nonce: int, *, now: int, lifetime: int) -> Consent:
        """A consent valid from `now` for `lifetime` seconds (1 to 300)."""
        if isinstance(lifetime, bool) or not isinstance(lifetime, int):
            raise InvalidInput("lifetime must be an integer", field="lifetime")
        if not 1 <= lifetime <= MAX_CONSENT_LIFETIME:
            raise InvalidInput(
                f"lifetime must be 1 to {MAX_CONSENT_LIFETIME} seconds", field="lifetime"
            )
        return cls(coupon=coupon, nonce=nonce, expiry=now + lifetime)


def typed_data(consent: Consent, chain_id: int, contract: str) -> dict[str, Any]:
    """The full EIP-712 message (`eth_signTypedData_v4` shape) for a consent."""
    if not is_address(contract):
        raise InvalidInput(f"{contract!r} is not a chain address", field="contract")
    return {
        "types": CONSENT_TYPES,
        "primaryType": "Consent",
        "domain": {
            "name": DOMAIN_NAME,
            "version": DOMAIN_VERSION,
            "chainId": chain_id,
            "verifyingContract": to_checksum_address(contract),
        },
        "message": {"coupon": consent.coupon, "nonce": consent.nonce, "expiry": consent.expiry},
    }


def signable(consent: Consent, chain_id: int, contract: str) -> SignableMessage:
    """The consent as an eth_account signable message."""
    return encode_typed_data(full_message=typed_data(consent, chain_id, contract))


def digest(consent: Consent, chain_id: int, contract: str) -> bytes:
    """The 32-byte hash the holder signs (the contract's `consent_digest`)."""
    message = signable(consent, chain_id, contract)
    return keccak(b"\x19" + message.version + message.header + message.body)


def sign_consent(consent: Consent, chain_id: int, contract: str, private_key: Any) -> bytes:
    """The holder's 65-byte (r, s, v) signature, v in {27, 28}, s in the low half."""
    signed = Account.sign_message(signable(consent, chain_id, contract), private_key)
    return bytes(signed.signature)


def recover_signer(consent: Consent, chain_id: int, contract: str, signature: bytes) -> str:
    """The checksummed address that signed, refusing what the contract refuses.

    Raises `InvalidInput` (field `signature`) for anything but 65 bytes,
    v other than 27/28, r or s out of range, or a high-s (malleated) s.
    """
    if len(signature) != 65:
        raise InvalidInput("signature must be 65 bytes", field="signature")
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:64], "big")
    v = signature[64]
    if v not in (27, 28):
        raise InvalidInput("signature v must be 27 or 28", field="signature")
    if not 0 < r < SECP256K1_N or not 0 < s <= _HALF_N:
        raise InvalidInput("malleable or invalid signature (high s)", field="signature")
    try:
        signer = Account.recover_message(signable(consent, chain_id, contract), signature=signature)
    except BadSignature as exc:
        raise InvalidInput("invalid signature", field="signature") from exc
    return to_checksum_address(signer)


def check_consent(
    consent: Consent,
    signature: bytes,
    *,
    chain_id: int,
    contract: str,
    holder: str,
    now: int,
    max_lifetime: int = MAX_CONSENT_LIFETIME,
) -> None:
    """Raise `InvalidInput` unless the contract would accept this consent now.

    Checks expiry (`now <= expiry <= now + max_lifetime`), the signature's
    form and that `holder` signed it. Whether the nonce is still unused is
    chain state: ask the contract's `nonce_used(holder, nonce)`.
    """
    if consent.expiry < now:
        raise InvalidInput("consent expired", field="expiry")
    if consent.expiry - now > max_lifetime:
        raise InvalidInput(f"consent lifetime longer than {max_lifetime} seconds", field="expiry")
    signer = recover_signer(consent, chain_id, contract, signature)
    if signer.lower() != holder.lower():
        raise InvalidInput("consent not signed by the holder", field="signature")


CODE_PREFIX = "CCP1"
"""Leads every consent code, so a scanner can tell it from other QR codes."""

_MAX_CODE_LENGTH = 400


def encode_code(consent: Consent, signature: bytes) -> str:
    """The text a holder shows as a QR: `CCP1.<coupon>.<nonce>.<expiry>.<signature>`.

    The numbers are decimal and the 65-byte signature is unpadded base64url,
    so the code stays short (about 130 characters) and URL-safe.
    """
    sig = base64.urlsafe_b64encode(signature).rstrip(b"=").decode()
    return f"{CODE_PREFIX}.{consent.coupon}.{consent.nonce}.{consent.expiry}.{sig}"


def decode_code(text: str) -> tuple[Consent, bytes]:
    """The consent and signature of a code; `InvalidInput` (field `code`) if malformed."""
    text = text.strip()
    parts = text.split(".")
    if len(text) > _MAX_CODE_LENGTH or len(parts) != 5 or parts[0] != CODE_PREFIX:
        raise InvalidInput("not a consent code (CCP1.<coupon>.<nonce>.<expiry>.<signature>)",
                           field="code")
    if not all(p.isdigit() and p.isascii() for p in parts[1:4]):
        raise InvalidInput("coupon, nonce and expiry must be decimal numbers", field="code")
    try:
        signature = base64.urlsafe_b64decode(parts[4] + "=" * (-len(parts[4]) % 4))
    except (ValueError, binascii.Error):
        raise InvalidInput("the signature is not base64url", field="code") from None
    try:
        consent = Consent(coupon=int(parts[1]), nonce=int(parts[2]), expiry=int(parts[3]))
    except InvalidInput as exc:
        raise InvalidInput(exc.message, field="code") from None
    return consent, signature
