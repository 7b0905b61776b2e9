"""Promotion links of peer-to-peer batch sales (EIP-712 typed data).

A holder of an earlier batch promotes a product by signing

    Link(uint256 product,address promoter,uint256 expiry)

in the domain `{name: "CouponChain Referrals", version: "1", chainId,
verifyingContract}`, so a link is bound to one product, one promoter, one
chain and one contract. A buyer's purchase carries the link; the contract
accepts it until `expiry`, only as a 65-byte low-s (r, s, v) signature by the
promoter, only if the promoter is not the buyer and holds units of a batch
before the current one. `check_link` applies the off-chain part of those rules,
so the purchase page can show a verified product and promoter before anyone
pays; whether the promoter holds earlier units is chain state (the contract's
`holds_earlier_batch`).

`encode_link` packs a signed link into URL-safe text (base64url, no padding)
for a `?link=` query parameter:

    version (1 byte, 1) | chain id (8) | contract (20) | product (8) |
    promoter (20) | expiry (8) | signature (65)

130 bytes, 174 characters. Product ids, chain ids and expiries above 2**64 - 1
cannot be encoded.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from eth_account.messages import SignableMessage
from eth_utils import is_address, to_bytes, to_checksum_address

from couponchain.domain import eip712
from couponchain.errors import InvalidInput

DOMAIN_NAME = "CouponChain Referrals"
DOMAIN_VERSION = "1"
ENCODING_VERSION = 1

_UINT256_MAX = 2**256 - 1
_UINT64_MAX = 2**64 - 1
_ENCODED_BYTES = 1 + 8 + 20 + 8 + 20 + 8 + 65

LINK_FIELDS: eip712.Fields = [
    {"name": "product", "type": "uint256"},
    {"name": "promoter", "type": "address"},
    {"name": "expiry", "type": "uint256"},
]


def _check_address(value: Any, field: str) -> str:
    if not isinstance(value, str) or not is_address(value):
        raise InvalidInput(f"{value!r} is not a chain address", field=field)
    return to_checksum_address(value)


@dataclass(frozen=True, slots=True)
class Link:
    """What the promoter vouches for: `product`, promoted by `promoter`, until `expiry`."""

    product: int
    promoter: str
    expiry: int

    def __post_init__(self) -> None:
        for name in ("product", "expiry"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise InvalidInput(f"{name} must be an integer", field=name)
            if not 0 <= value <= _UINT256_MAX:
                raise InvalidInput(f"{name} must fit in uint256", field=name)
        object.__setattr__(self, "promoter", _check_address(self.promoter, "promoter"))


@dataclass(frozen=True, slots=True)
class SignedLink:
    """A link with its signature and the chain and contract it was signed for."""

    link: Link
    chain_id: int
    contract: str
    signature: bytes


def typed_data(link: Link, chain_id: int, contract: str) -> dict[str, Any]:
    """The full EIP-712 message (`eth_signTypedData_v4` shape) for a link."""
    return eip712.typed_data(
        "Link", LINK_FIELDS,
        eip712.domain(DOMAIN_NAME, DOMAIN_VERSION, chain_id, _check_address(contract, "contract")),
        {"product": link.product, "promoter": link.promoter, "expiry": link.expiry})


def signable(link: Link, chain_id: int, contract: str) -> SignableMessage:
    """The link as an eth_account signable message."""
    return eip712.signable(typed_data(link, chain_id, contract))


def digest(link: Link, chain_id: int, contract: str) -> bytes:
    """The 32-byte hash the promoter signs (the contract's `link_digest`, and
    the `link_hash` of the `Purchased` event)."""
    return eip712.digest(typed_data(link, chain_id, contract))


def sign_link(link: Link, chain_id: int, contract: str, private_key: Any) -> bytes:
    """The promoter's 65-byte (r, s, v) signature, v in {27, 28}, s in the low half."""
    return eip712.sign_typed(typed_data(link, chain_id, contract), private_key)


def recover_signer(link: Link, chain_id: int, contract: str, signature: bytes) -> str:
    """The checksummed address that signed, refusing what the contract refuses.

    Raises `eip712.SignatureRefused` (an `InvalidInput`, field `signature`) for
    anything but 65 bytes, v other than 27/28, r or s out of range, or a high-s
    (malleated) s.
    """
    return eip712.recover_typed(typed_data(link, chain_id, contract), signature)


def check_link(
    signed: SignedLink,
    *,
    chain_id: int,
    contract: str,
    now: int,
    product: int | None = None,
    buyer: str | None = None,
) -> None:
    """Raise `InvalidInput` unless the contract would accept this link from `buyer` now.

    The link must be for this chain and contract (and `product`, when given),
    not expired, signed by its promoter, and the promoter must not be the
    buyer. Whether the promoter holds earlier units is chain state: ask the
    contract's `holds_earlier_batch(product, promoter)`.
    """
    link = signed.link
    if signed.chain_id != chain_id:
        raise InvalidInput("link is for another chain", field="chain_id")
    if _check_address(signed.contract, "contract") != _check_address(contract, "contract"):
        raise InvalidInput("link is for another contract", field="contract")
    if product is not None and link.product != product:
        raise InvalidInput("link is for another product", field="product")
    if link.expiry < now:
        raise InvalidInput("link expired", field="expiry")
    if buyer is not None and _check_address(buyer, "buyer") == link.promoter:
        raise InvalidInput("self-referral", field="promoter")
    if recover_signer(link, chain_id, contract, signed.signature) != link.promoter:
        raise InvalidInput("link not signed by the promoter", field="signature")


def encode_link(signed: SignedLink) -> str:
    """The signed link as URL-safe text (base64url without padding)."""
    link = signed.link
    for name, value in (
        ("chain_id", signed.chain_id),
        ("product", link.product),
        ("expiry", link.expiry),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _UINT64_MAX:
            raise InvalidInput(f"{name} must be from 0 to 2**64 - 1 to encode", field=name)
    if len(signed.signature) != eip712.SIGNATURE_LENGTH:
        raise eip712.SignatureRefused(eip712.SignatureRule.LENGTH)
    raw = b"".join(
        (
            bytes([ENCODING_VERSION]),
            signed.chain_id.to_bytes(8, "big"),
            to_bytes(hexstr=_check_address(signed.contract, "contract")),
            link.product.to_bytes(8, "big"),
            to_bytes(hexstr=link.promoter),
            link.expiry.to_bytes(8, "big"),
            bytes(signed.signature),
        )
    )
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_link(text: str) -> SignedLink:
    """Parse `encode_link`'s text; raises `InvalidInput` (field `link`) if malformed.

    Decoding does not verify the signature: use `check_link`.
    """
    if not isinstance(text, str) or not text or len(text) > 2 * _ENCODED_BYTES:
        raise InvalidInput("malformed link", field="link")
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput("malformed link", field="link") from exc
    if len(raw) != _ENCODED_BYTES:
        raise InvalidInput("malformed link", field="link")
    if raw[0] != ENCODING_VERSION:
        raise InvalidInput("unknown link version", field="link")
    chain_id = int.from_bytes(raw[1:9], "big")
    contract = to_checksum_address(raw[9:29])
    product = int.from_bytes(raw[29:37], "big")
    promoter = to_checksum_address(raw[37:57])
    expiry = int.from_bytes(raw[57:65], "big")
    signed = SignedLink(
        link=Link(product=product, promoter=promoter, expiry=expiry),
        chain_id=chain_id,
        contract=contract,
        signature=raw[65:],
    )
    if encode_link(signed) != text:
        # Non-canonical base64 (e.g. stray bits in the last character).
        raise InvalidInput("malformed link", field="link")
    return signed
