"""A holder's consent to write off a promotion coupon (EIP-712 typed data).

The holder signs

    Consent(uint256 coupon,uint256 nonce,uint256 expiry,address merchant,uint256 max_amount)

in the domain `{name: "CouponChain Promotions", version: "1", chainId,
verifyingContract}`; the signed code is shown as a QR, and a merchant or its
terminal submits it with the order amount. The consent is bounded: `merchant`
is the one merchant (with its terminals) that may use it, or the zero address
when the holder chose any merchant, and `max_amount` is the largest order it
covers. The contract accepts it once (nonces are per holder), only from the
named merchant, only for an order up to `max_amount`, only before `expiry`,
only while `expiry` is at most the round's consent lifetime (<= 300 s) ahead,
and only as a 65-byte low-s (r, s, v) signature by the coupon's current holder. `check_consent`
applies the same rules off chain, so a terminal can refuse a bad code before
sending a transaction.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from eth_account.messages import SignableMessage
from eth_utils import is_address, to_checksum_address

from couponchain.domain import eip712
from couponchain.errors import ContractRevert, InvalidInput

DOMAIN_NAME = "CouponChain Promotions"
DOMAIN_VERSION = "1"
MAX_CONSENT_LIFETIME = 300
"""Seconds: the longest lifetime any round allows."""

_UINT256_MAX = 2**256 - 1
ERR_OTHER_MERCHANT = "promotions: consent is for another merchant"
ERR_ABOVE_MAXIMUM = "promotions: order amount above the consent's maximum"
ANY_MERCHANT = "0x" + "00" * 20
"""The `merchant` of a consent any merchant may use (the holder's explicit choice)."""

CONSENT_FIELDS: eip712.Fields = [
    {"name": "coupon", "type": "uint256"},
    {"name": "nonce", "type": "uint256"},
    {"name": "expiry", "type": "uint256"},
    {"name": "merchant", "type": "address"},
    {"name": "max_amount", "type": "uint256"},
]


@dataclass(frozen=True, slots=True)
class Consent:
    """What the holder agrees to: writing off `coupon`, once (`nonce`), until `expiry`,
    at `merchant` (or any merchant: `ANY_MERCHANT`), for an order up to `max_amount`."""

    coupon: int
    nonce: int
    expiry: int
    merchant: str
    max_amount: int

    def __post_init__(self) -> None:
        for field in ("coupon", "nonce", "expiry", "max_amount"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int):
                raise InvalidInput(f"{field} must be an integer", field=field)
            if not 0 <= value <= _UINT256_MAX:
                raise InvalidInput(f"{field} must fit in uint256", field=field)
        if not isinstance(self.merchant, str) or not is_address(self.merchant):
            raise InvalidInput("merchant must be a chain address", field="merchant")
        object.__setattr__(self, "merchant", to_checksum_address(self.merchant))

    @property
    def any_merchant(self) -> bool:
        """Whether the holder let any merchant use this consent."""
        return int(self.merchant, 16) == 0

    def allows(self, merchant: str, order_amount: int) -> None:
        """Raise `ContractRevert` (the contract's reason) unless `merchant` may write off
        `order_amount` under this consent: the two checks the contract makes first.
        """
        if not self.any_merchant and self.merchant.lower() != merchant.lower():
            refused = ContractRevert(ERR_OTHER_MERCHANT, field="code")
            refused.message = (f"this consent is for merchant {self.merchant} only; the holder "
                               "must show a consent for this merchant (or for any merchant)")
            raise refused
        if order_amount > self.max_amount:
            refused = ContractRevert(ERR_ABOVE_MAXIMUM, field="order_amount")
            refused.message = (f"order amount {order_amount} is above the {self.max_amount} "
                               "the holder's consent allows; the holder must show a consent "
                               "with a higher maximum")
            raise refused

    @classmethod
    def new(cls, coupon: int, nonce: int, *, now: int, lifetime: int, merchant: str,
            max_amount: int) -> Consent:
        """A consent valid from `now` for `lifetime` seconds (1 to 300)."""
        if isinstance(lifetime, bool) or not isinstance(lifetime, int):
            raise InvalidInput("lifetime must be an integer", field="lifetime")
        if not 1 <= lifetime <= MAX_CONSENT_LIFETIME:
            raise InvalidInput(
                f"lifetime must be 1 to {MAX_CONSENT_LIFETIME} seconds", field="lifetime"
            )
        return cls(coupon=coupon, nonce=nonce, expiry=now + lifetime, merchant=merchant,
                   max_amount=max_amount)


def typed_data(consent: Consent, chain_id: int, contract: str) -> dict[str, Any]:
    """The full EIP-712 message (`eth_signTypedData_v4` shape) for a consent."""
    return eip712.typed_data(
        "Consent", CONSENT_FIELDS, eip712.domain(DOMAIN_NAME, DOMAIN_VERSION, chain_id, contract),
        {"coupon": consent.coupon, "nonce": consent.nonce, "expiry": consent.expiry,
         "merchant": consent.merchant, "max_amount": consent.max_amount})


def signable(consent: Consent, chain_id: int, contract: str) -> SignableMessage:
    """The consent as an eth_account signable message."""
    return eip712.signable(typed_data(consent, chain_id, contract))


def digest(consent: Consent, chain_id: int, contract: str) -> bytes:
    """The 32-byte hash the holder signs (the contract's `consent_digest`)."""
    return eip712.digest(typed_data(consent, chain_id, contract))


def sign_consent(consent: Consent, chain_id: int, contract: str, private_key: Any) -> bytes:
    """The holder's 65-byte (r, s, v) signature, v in {27, 28}, s in the low half."""
    return eip712.sign_typed(typed_data(consent, chain_id, contract), private_key)


def recover_signer(consent: Consent, chain_id: int, contract: str, signature: bytes) -> str:
    """The checksummed address that signed, refusing what the contract refuses.

    Raises `eip712.SignatureRefused` (an `InvalidInput`, field `signature`) for
    anything but 65 bytes, v other than 27/28, r or s out of range, or a high-s
    (malleated) s.
    """
    return eip712.recover_typed(typed_data(consent, chain_id, contract), signature)


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


CODE_PREFIX = "CCP2"
"""Leads every consent code, so a scanner can tell it from other QR codes (CCP1 codes,
unbounded consents of the first contracts, are refused with a reason)."""
_OLD_PREFIX = "CCP1"

_MAX_CODE_LENGTH = 400


def encode_code(consent: Consent, signature: bytes) -> str:
    """The text a holder shows as a QR:
    `CCP2.<coupon>.<nonce>.<expiry>.<merchant>.<max_amount>.<signature>`.

    The numbers are decimal, the merchant is its 40 hex digits (`0` for any
    merchant) and the 65-byte signature is unpadded base64url, so the code
    stays short (under 200 characters) and URL-safe.
    """
    sig = base64.urlsafe_b64encode(signature).rstrip(b"=").decode()
    merchant = "0" if consent.any_merchant else consent.merchant[2:].lower()
    return (f"{CODE_PREFIX}.{consent.coupon}.{consent.nonce}.{consent.expiry}.{merchant}."
            f"{consent.max_amount}.{sig}")


def decode_code(text: str) -> tuple[Consent, bytes]:
    """The consent and signature of a code; `InvalidInput` (field `code`) if malformed."""
    text = text.strip()
    parts = text.split(".")
    if parts[0] == _OLD_PREFIX:
        raise InvalidInput("an old consent code (CCP1) names no merchant and no maximum; "
                           "the holder must show a fresh one", field="code")
    if len(text) > _MAX_CODE_LENGTH or len(parts) != 7 or parts[0] != CODE_PREFIX:
        raise InvalidInput("not a consent code (CCP2.<coupon>.<nonce>.<expiry>.<merchant>."
                           "<max_amount>.<signature>)", field="code")
    if not all(p.isdigit() and p.isascii() for p in (*parts[1:4], parts[5])):
        raise InvalidInput("coupon, nonce, expiry and max_amount must be decimal numbers",
                           field="code")
    merchant = parts[4]
    if merchant == "0":
        merchant = ANY_MERCHANT
    elif len(merchant) == 40 and all(c in "0123456789abcdef" for c in merchant):
        merchant = "0x" + merchant
    else:
        raise InvalidInput("the merchant must be 40 lowercase hex digits or 0 (any merchant)",
                           field="code")
    try:
        signature = base64.urlsafe_b64decode(parts[6] + "=" * (-len(parts[6]) % 4))
    except (ValueError, binascii.Error):
        raise InvalidInput("the signature is not base64url", field="code") from None
    try:
        consent = Consent(coupon=int(parts[1]), nonce=int(parts[2]), expiry=int(parts[3]),
                          merchant=merchant, max_amount=int(parts[5]))
    except InvalidInput as exc:
        raise InvalidInput(exc.message, field="code") from None
    return consent, signature
