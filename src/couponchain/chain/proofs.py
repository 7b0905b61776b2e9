"""Checking EIP-1186 storage proofs against a block header (no I/O).

A verifier trusts nothing the API says: it recomputes the block hash from the
header fields, checks the account proof against the header's state root, each
storage proof against the proven account's storage root, and compares the
proven values with the API's claims. `verify_coupon_proof` returns one verdict
per claim.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import rlp
from eth_utils import keccak, to_checksum_address
from trie import HexaryTrie

from couponchain.domain.edition_slots import (
    CouponStatus,
    EditionsLayout,
    decode_coupon_word,
    edition_slot,
    proof_slots,
    slot_key,
)

#: Header fields in RLP order; the trailing ones exist from the fork that added them.
HEADER_FIELDS = (
    "parentHash", "sha3Uncles", "miner", "stateRoot", "transactionsRoot", "receiptsRoot",
    "logsBloom", "difficulty", "number", "gasLimit", "gasUsed", "timestamp", "extraData",
    "mixHash", "nonce",
)
OPTIONAL_FIELDS = ("baseFeePerGas", "withdrawalsRoot", "blobGasUsed", "excessBlobGas",
                   "parentBeaconBlockRoot", "requestsHash")
_INT_FIELDS = {"difficulty", "number", "gasLimit", "gasUsed", "timestamp", "baseFeePerGas",
               "blobGasUsed", "excessBlobGas"}


class ProofError(ValueError):
    """A proof does not hold."""


@dataclass(frozen=True)
class Verdict:
    """One claim and whether the chain backs it."""

    claim: str
    expected: Any
    proven: Any
    ok: bool
    note: str = ""


def _bytes(value: str) -> bytes:
    return bytes.fromhex(value[2:] if value.startswith("0x") else value)


def header_hash(block: Mapping[str, Any]) -> bytes:
    """keccak256(rlp(header)) from the JSON-RPC block fields."""
    fields: list[Any] = []
    names = list(HEADER_FIELDS)
    for optional in OPTIONAL_FIELDS:  # present ones form a prefix of the list
        if block.get(optional) is None:
            break
        names.append(optional)
    for name in names:
        value = block[name]
        fields.append(int(value, 16) if name in _INT_FIELDS else _bytes(value))
    return keccak(rlp.encode(fields))


def _get(root: bytes, key: bytes, proof: list[str]) -> bytes:
    try:
        return bytes(HexaryTrie.get_from_proof(root, keccak(key), [
            rlp.decode(_bytes(node)) for node in proof]))
    except Exception as exc:  # the trie library raises several kinds on a bad proof
        raise ProofError(f"proof does not hold: {exc}") from exc


def verify_account(state_root: bytes, account: Mapping[str, Any]) -> bytes:
    """The proven storage root of `account`; raises ProofError unless it is proven."""
    encoded = _get(state_root, _bytes(account["address"]), account["accountProof"])
    if not encoded:
        raise ProofError("the account does not exist in this state")
    nonce, balance, storage_root, code_hash = rlp.decode(encoded)
    if (int.from_bytes(nonce, "big") != int(account["nonce"], 16)
            or int.from_bytes(balance, "big") != int(account["balance"], 16)
            or storage_root != _bytes(account["storageHash"])
            or code_hash != _bytes(account["codeHash"])):
        raise ProofError("the account fields differ from the proven account")
    return bytes(storage_root)


def verify_storage(storage_root: bytes, slot: int, proof: list[str]) -> int:
    """The proven value of a storage slot (0 when absent)."""
    encoded = _get(storage_root, slot.to_bytes(32, "big"), proof)
    return int.from_bytes(rlp.decode(encoded), "big") if encoded else 0


def verify_coupon_proof(
    response: Mapping[str, Any], layout: EditionsLayout, *,
    trusted_block: Mapping[str, Any] | None = None,
) -> list[Verdict]:
    """Check a `/v1/coupons/{serial}/proof` response; one verdict per claim.

    Slots are computed here from the serial, never taken from the response.
    With `trusted_block` (the same block from a node the user trusts) the
    header is anchored to it; without, only its own hash is checked.
    """
    verdicts: list[Verdict] = []
    block = response["block"]
    try:
        computed = "0x" + header_hash(block).hex()
    except (KeyError, ValueError, TypeError) as exc:
        computed = f"unhashable header: {exc}"
    verdicts.append(Verdict("block hash = keccak(rlp(header))", block.get("hash"), computed,
                            computed == block.get("hash")))
    if trusted_block is not None:
        verdicts.append(Verdict("block is on the trusted node", trusted_block.get("hash"),
                                block.get("hash"),
                                trusted_block.get("hash") == block.get("hash")
                                and trusted_block.get("stateRoot") == block.get("stateRoot")))
    account = response["account"]
    address_ok = account["address"].lower() == response["contract"].lower()
    try:
        storage_root = verify_account(_bytes(block["stateRoot"]), account)
        verdicts.append(Verdict("contract account in the state root", response["contract"],
                                account["address"], address_ok))
    except ProofError as exc:
        verdicts.append(Verdict("contract account in the state root", response["contract"],
                                None, False, str(exc)))
        return verdicts
    edition_id, coupon_id = int(response["edition_id"]), int(response["coupon_id"])
    serial = coupon_id & (2**32 - 1)
    if coupon_id >> 32 != edition_id:
        verdicts.append(Verdict("coupon belongs to the edition", edition_id, coupon_id >> 32,
                                False))
    slots = proof_slots(layout, edition_id, serial)
    slots["prefix_length"] = edition_slot(layout, edition_id, "prefix")
    slots["prefix_data"] = slots["prefix_length"] + 1
    proofs = {entry["slot"].lower(): entry["proof"] for entry in response["storage"]}
    proven: dict[str, int | None] = {}
    for name, slot in slots.items():
        proof = proofs.get(slot_key(slot))
        if proof is None:
            proven[name] = None
            continue
        try:
            proven[name] = verify_storage(storage_root, slot, proof)
        except ProofError:
            proven[name] = None
    claims = response["claims"]
    prefix = str(response["serial"]).rpartition("-")[0]
    verdicts.append(_prefix_verdict(prefix, proven))
    merchant = proven["merchant"]
    verdicts.append(Verdict(
        "merchant", claims["merchant"],
        None if merchant is None else to_checksum_address(merchant.to_bytes(20, "big")),
        merchant is not None and int(claims["merchant"], 16) == merchant))
    for claim, name in (("total_pieces", "cap"), ("sold", "sold"), ("voided", "voided"),
                        ("redeemed", "redeemed")):
        verdicts.append(Verdict(claim, claims[claim], proven[name],
                                proven[name] is not None and proven[name] == claims[claim]))
    word = proven["coupon"]
    coupon = decode_coupon_word(word) if word else None
    verdicts.append(Verdict("owner", claims["owner"], coupon.owner if coupon else None,
                            coupon is not None and coupon.owner.lower() == claims["owner"].lower()))
    status = coupon.status.name.lower() if coupon else CouponStatus.NONE.name.lower()
    verdicts.append(Verdict("status", claims["status"], status,
                            word is not None and status == claims["status"]))
    return verdicts


def _prefix_verdict(prefix: str, proven: Mapping[str, int | None]) -> Verdict:
    length, data = proven.get("prefix_length"), proven.get("prefix_data")
    if length is None or data is None:
        return Verdict("serial prefix", prefix, None, False, "no proof of the prefix")
    text = data.to_bytes(32, "big")[:length].decode("ascii", "replace") if length <= 32 else ""
    return Verdict("serial prefix", prefix, text, text == prefix)
