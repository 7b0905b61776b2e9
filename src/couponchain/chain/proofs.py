"""Checking EIP-1186 storage proofs against a block header (no I/O).

A verifier trusts nothing the API says: it recomputes the block hash from the
header fields, checks the account proof against the header's state root and each
storage proof against the proven account's storage root. `coupon_check` builds
`couponchain verify`'s check of a coupon on these; the pages run the same check
in the browser (`web/static/proof-check.js`).

The RLP and Merkle-Patricia walk are done here, on the proof's bytes as sent:
each node is looked up by the keccak256 of its bytes, starting from the root,
so only nodes the root commits to are ever read. (py-trie's
`HexaryTrie.get_from_proof` does the same after decoding and re-encoding every
node, which made it most of a `couponchain verify`'s CPU time.)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

from eth_utils import keccak

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


#: The root of an empty trie: keccak256(rlp(b"")).
BLANK_ROOT = bytes.fromhex("56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421")

Rlp: TypeAlias = "bytes | list[Rlp]"


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
    fields: list[Rlp] = []
    names = list(HEADER_FIELDS)
    for optional in OPTIONAL_FIELDS:  # present ones form a prefix of the list
        if block.get(optional) is None:
            break
        names.append(optional)
    for name in names:
        value = block[name]
        fields.append(_int_bytes(int(value, 16)) if name in _INT_FIELDS else _bytes(value))
    return keccak(rlp_encode(fields))


def _int_bytes(value: int) -> bytes:
    """An RLP integer: big-endian without leading zeros (0 is empty)."""
    if value < 0:
        raise ValueError("RLP integers are not negative")
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def rlp_encode(item: Rlp) -> bytes:
    """The RLP encoding of bytes and (nested) lists of them."""
    if isinstance(item, bytes):
        if len(item) == 1 and item[0] < 0x80:
            return item
        return _rlp_length(len(item), 0x80) + item
    payload = b"".join(rlp_encode(child) for child in item)
    return _rlp_length(len(payload), 0xC0) + payload


def _rlp_length(length: int, offset: int) -> bytes:
    if length < 56:
        return bytes([offset + length])
    size = _int_bytes(length)
    return bytes([offset + 55 + len(size)]) + size


def rlp_decode(data: bytes) -> Rlp:
    """The item RLP-encoded in `data` (all of it); ProofError when it is not RLP."""
    item, end = _rlp_item(data, 0, 0)
    if end != len(data):
        raise ProofError("trailing bytes after an RLP item")
    return item


#: Lists nested deeper than this are refused: a trie node nests at most a few levels
#: (a branch holding an embedded node), and a forged node nested thousands deep would
#: otherwise exhaust Python's recursion limit instead of failing as a bad proof.
MAX_RLP_DEPTH = 16


def _rlp_item(data: bytes, pos: int, depth: int) -> tuple[Rlp, int]:
    """The item at `pos`, `depth` lists down, and the position after it."""
    if depth > MAX_RLP_DEPTH:
        raise ProofError(f"RLP lists nested deeper than {MAX_RLP_DEPTH}")
    if pos >= len(data):
        raise ProofError("truncated RLP")
    prefix = data[pos]
    if prefix < 0x80:
        return data[pos:pos + 1], pos + 1
    if prefix < 0xB8:
        start, length = pos + 1, prefix - 0x80
    elif prefix < 0xC0:
        size = prefix - 0xB7
        start, length = pos + 1 + size, int.from_bytes(data[pos + 1:pos + 1 + size], "big")
    elif prefix < 0xF8:
        start, length = pos + 1, prefix - 0xC0
    else:
        size = prefix - 0xF7
        start, length = pos + 1 + size, int.from_bytes(data[pos + 1:pos + 1 + size], "big")
    end = start + length
    if end > len(data):
        raise ProofError("truncated RLP")
    if prefix < 0xC0:
        return data[start:end], end
    items: list[Rlp] = []
    while start < end:
        child, start = _rlp_item(data, start, depth + 1)
        items.append(child)
    if start != end:
        raise ProofError("an RLP list overruns its length")
    return items, end


def _get(root: bytes, key: bytes, proof: list[str]) -> bytes:
    """The value stored under keccak256(key) in the trie with this root (b"" when the
    proof shows it absent); ProofError unless the proof's nodes lead there."""
    nodes: dict[bytes, bytes] = {}
    for text in proof:
        try:
            encoded = _bytes(text)
        except (ValueError, TypeError, AttributeError) as exc:
            raise ProofError(f"proof does not hold: a node is not hex ({exc})") from exc
        nodes[keccak(encoded)] = encoded
    return _walk(root, keccak(key).hex(), nodes)


def _walk(root: bytes, path: str, nodes: Mapping[bytes, bytes]) -> bytes:
    """Follow `path` (nibbles as hex digits, like the hex-prefix paths of the nodes)
    from `root` through `nodes` (by the keccak256 of their bytes) to its value."""
    if root == BLANK_ROOT:
        return b""
    ref: Rlp = root
    node: list[Rlp]
    while True:
        if isinstance(ref, list):  # a node under 32 bytes, embedded in its parent
            node = ref
        elif len(ref) == 32:
            raw = nodes.get(ref)
            if raw is None:
                raise ProofError("proof does not hold: a node on the key's path is missing")
            decoded = rlp_decode(raw)
            if not isinstance(decoded, list):
                raise ProofError("proof does not hold: a node is not an RLP list")
            node = decoded
        elif ref == b"":  # an empty branch slot: no value under this key
            return b""
        else:
            raise ProofError("proof does not hold: a malformed node reference")
        if len(node) == 17:  # branch
            if not path:
                return _value(node[16])
            ref, path = node[int(path[0], 16)], path[1:]
        elif len(node) == 2:  # leaf or extension, its path hex-prefix encoded
            prefixed = node[0]
            if not isinstance(prefixed, bytes) or not prefixed:
                raise ProofError("proof does not hold: a malformed node path")
            digits = prefixed.hex()
            flag = int(digits[0], 16)
            if flag > 3 or (not flag & 1 and digits[1] != "0"):
                raise ProofError("proof does not hold: a malformed node path")
            nibbles = digits[1:] if flag & 1 else digits[2:]
            if flag & 2:  # leaf
                return _value(node[1]) if nibbles == path else b""
            if not path.startswith(nibbles):
                return b""
            ref, path = node[1], path[len(nibbles):]
        else:
            raise ProofError("proof does not hold: a node is neither a branch nor a leaf")


def _value(item: Rlp) -> bytes:
    if not isinstance(item, bytes):
        raise ProofError("proof does not hold: a value is not a byte string")
    return item


def verify_account(state_root: bytes, account: Mapping[str, Any]) -> bytes:
    """The proven storage root of `account`; raises ProofError unless it is proven."""
    encoded = _get(state_root, _bytes(account["address"]), account["accountProof"])
    if not encoded:
        raise ProofError("the account does not exist in this state")
    account_fields = rlp_decode(encoded)
    if len(account_fields) != 4 or not all(isinstance(f, bytes) for f in account_fields):
        raise ProofError("the proven account is not [nonce, balance, storage root, code hash]")
    nonce, balance, storage_root, code_hash = account_fields
    assert isinstance(nonce, bytes) and isinstance(balance, bytes)  # for the type checker
    if (int.from_bytes(nonce, "big") != int(account["nonce"], 16)
            or int.from_bytes(balance, "big") != int(account["balance"], 16)
            or storage_root != _bytes(account["storageHash"])
            or code_hash != _bytes(account["codeHash"])):
        raise ProofError("the account fields differ from the proven account")
    return bytes(storage_root)


def verify_storage(storage_root: bytes, slot: int, proof: list[str]) -> int:
    """The proven value of a storage slot (0 when absent)."""
    encoded = _get(storage_root, slot.to_bytes(32, "big"), proof)
    if not encoded:
        return 0
    value = rlp_decode(encoded)
    if not isinstance(value, bytes):
        raise ProofError("the proven storage value is not a byte string")
    return int.from_bytes(value, "big")
