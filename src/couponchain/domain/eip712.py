"""EIP-712 typed data: the domain, signing, and signer recovery under the contracts' rules.

Every message a participant signs for the contracts (promotion consents and
coupon transfers, promotion links and purchase intents, prize claims, token
permits) and the off-chain `OwnKey` proof is built here as the full
`eth_signTypedData_v4` shape:

    message = typed_data("Link", LINK_FIELDS, domain("CouponChain Referrals", "1",
                                                     chain_id, referrals), {...})
    signature = sign_typed(message, key)          # 65 bytes (r, s, v), low s
    signer = recover_typed(message, signature)    # or SignatureRefused

The signature rules are the contracts' (snekmate's ecdsa and the modules'
length checks): exactly 65 bytes, v in {27, 28}, 0 < r < n and 0 < s <= n/2
(a high s is the malleated twin of a valid signature, refused so that one
consent cannot be spent under two encodings). `check_signature` applies them
alone, for a caller that recovers another kind of message (the prize codes'
EIP-191 `personal_sign`, via `recover`). eth-account does the cryptography.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from eth_account import Account
from eth_account.messages import SignableMessage, encode_typed_data
from eth_keys.exceptions import BadSignature
from eth_utils import is_address, keccak, to_checksum_address

from couponchain.errors import InvalidInput

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
"""The order of secp256k1's group: r and s lie in 1 .. n - 1."""
HALF_N = SECP256K1_N // 2
"""The largest s the contracts accept (EIP-2)."""
SIGNATURE_LENGTH = 65

Fields = list[dict[str, str]]

#: The domain of a message checked off chain only (no verifying contract).
DOMAIN_FIELDS: Fields = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
]
#: The domain of a message a contract checks.
CONTRACT_DOMAIN_FIELDS: Fields = [*DOMAIN_FIELDS, {"name": "verifyingContract",
                                                   "type": "address"}]


class SignatureRule(Enum):
    """The rule a refused signature broke; the value is a stable slug."""

    LENGTH = "length"
    V = "v"
    RANGE = "range"
    HIGH_S = "high-s"
    UNRECOVERABLE = "unrecoverable"


#: What the API answers for each rule (promotion consents, links, self-custody).
_MESSAGES = {
    SignatureRule.LENGTH: "signature must be 65 bytes",
    SignatureRule.V: "signature v must be 27 or 28",
    SignatureRule.RANGE: "malleable or invalid signature (high s)",
    SignatureRule.HIGH_S: "malleable or invalid signature (high s)",
    SignatureRule.UNRECOVERABLE: "invalid signature",
}


class SignatureRefused(InvalidInput):
    """A signature the contracts would refuse; `rule` names the rule it broke."""

    def __init__(self, rule: SignatureRule, *, field: str = "signature") -> None:
        super().__init__(_MESSAGES[rule], field=field)
        self.rule = rule


def domain(name: str, version: str, chain_id: int, contract: str | None = None) -> dict[str, Any]:
    """The EIP-712 domain `{name, version, chainId[, verifyingContract]}`.

    Raises `InvalidInput` (field `contract`) when `contract` is not a chain address.
    """
    built: dict[str, Any] = {"name": name, "version": version, "chainId": chain_id}
    if contract is not None:
        if not isinstance(contract, str) or not is_address(contract):
            raise InvalidInput(f"{contract!r} is not a chain address", field="contract")
        built["verifyingContract"] = to_checksum_address(contract)
    return built


def typed_data(primary_type: str, fields: Fields, domain: dict[str, Any],
               message: dict[str, Any]) -> dict[str, Any]:
    """The full message (`eth_signTypedData_v4` shape) of one `primary_type` struct
    with these `fields`, in `domain` (made by `domain`)."""
    domain_fields = CONTRACT_DOMAIN_FIELDS if "verifyingContract" in domain else DOMAIN_FIELDS
    return {
        "types": {"EIP712Domain": domain_fields, primary_type: fields},
        "primaryType": primary_type,
        "domain": domain,
        "message": message,
    }


def signable(full_message: dict[str, Any]) -> SignableMessage:
    """The message as an eth-account signable message."""
    return encode_typed_data(full_message=full_message)


def digest(full_message: dict[str, Any]) -> bytes:
    """The 32-byte hash that is signed (what a contract's `*_digest` view returns)."""
    message = signable(full_message)
    return keccak(b"\x19" + message.version + message.header + message.body)


def sign_typed(full_message: dict[str, Any], private_key: Any) -> bytes:
    """A 65-byte (r, s, v) signature of `full_message`, v in {27, 28}, s in the low
    half: the form the contracts accept. `private_key` is anything eth-account takes."""
    return bytes(Account.sign_message(signable(full_message), private_key).signature)


def check_signature(signature: bytes) -> None:
    """Raise `SignatureRefused` unless `signature` has the form the contracts accept:
    65 bytes, v in {27, 28}, 0 < r < n, 0 < s <= n/2 (checked in that order)."""
    if len(signature) != SIGNATURE_LENGTH:
        raise SignatureRefused(SignatureRule.LENGTH)
    if signature[64] not in (27, 28):
        raise SignatureRefused(SignatureRule.V)
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:64], "big")
    if not 0 < r < SECP256K1_N or not 0 < s < SECP256K1_N:
        raise SignatureRefused(SignatureRule.RANGE)
    if s > HALF_N:
        raise SignatureRefused(SignatureRule.HIGH_S)


def recover(message: SignableMessage, signature: bytes) -> str:
    """The checksummed address that signed `message` (typed data or EIP-191),
    once `signature` passes `check_signature`; `SignatureRefused` otherwise."""
    check_signature(signature)
    try:
        signer = Account.recover_message(message, signature=signature)
    except (BadSignature, ValueError) as exc:
        raise SignatureRefused(SignatureRule.UNRECOVERABLE) from exc
    return to_checksum_address(signer)


def recover_typed(full_message: dict[str, Any], signature: bytes) -> str:
    """The checksummed address that signed the EIP-712 `full_message`, refusing
    what the contracts refuse: `SignatureRefused` (an `InvalidInput`, field
    `signature`) for anything but 65 bytes, v other than 27/28, r or s out of
    range, a high (malleated) s, or a signature that recovers no key."""
    return recover(signable(full_message), signature)


def split(signature: bytes) -> tuple[int, bytes, bytes]:
    """(v, r, s) of a 65-byte signature: the arguments of an EIP-2612 `permit`."""
    if len(signature) != SIGNATURE_LENGTH:
        raise SignatureRefused(SignatureRule.LENGTH)
    return signature[64], signature[:32], signature[32:64]
