"""Receipt proofs: a block's receipts rebuilt into the trie its header commits to (no I/O).

`eth_getProof` proves storage, not logs. A log is proven instead by its receipt:
the block header's `receiptsRoot` is the root of the Merkle-Patricia trie that maps
`rlp(transaction index)` to each receipt's consensus encoding (EIP-2718: a typed
receipt is its type byte followed by `rlp([status, cumulative gas, bloom, logs])`, a
legacy one the RLP list alone). `receipts_root` rebuilds that trie from the receipts
JSON-RPC returns; when it equals the header's root, every log in them is the chain's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from couponchain.chain.proofs import Rlp, rlp_encode


def _hex(value: str) -> bytes:
    return bytes.fromhex(value[2:] if value.startswith("0x") else value)


def _int(value: str | int) -> bytes:
    number = int(value, 16) if isinstance(value, str) else value
    return number.to_bytes((number.bit_length() + 7) // 8, "big")


def receipt_encoding(receipt: Mapping[str, Any]) -> bytes:
    """The consensus encoding of one JSON-RPC receipt (the trie's value)."""
    # Before Byzantium a receipt held the post-state root instead of a status.
    outcome = _hex(receipt["root"]) if receipt.get("root") else _int(receipt["status"])
    logs: list[Rlp] = [[_hex(log["address"]), [_hex(t) for t in log["topics"]],
                        _hex(log["data"])] for log in receipt["logs"]]
    body = rlp_encode([outcome, _int(receipt["cumulativeGasUsed"]),
                       _hex(receipt["logsBloom"]), logs])
    kind = int(receipt.get("type") or "0x0", 16)
    return body if kind == 0 else bytes([kind]) + body


def receipts_root(receipts: Sequence[Mapping[str, Any]]) -> bytes:
    """The root of the receipts trie of a block's receipts, in transaction order."""
    from trie import HexaryTrie

    trie = HexaryTrie({})
    for receipt in receipts:
        trie[rlp_encode(_int(receipt["transactionIndex"]))] = receipt_encoding(receipt)
    return bytes(trie.root_hash)


def log_in_receipts(log: Mapping[str, Any], receipts: Sequence[Mapping[str, Any]]) -> bool:
    """Whether `log` (address, topics, data, transaction and log index) is one of the
    receipts' logs."""
    def key(entry: Mapping[str, Any]) -> tuple[Any, ...]:
        return (str(entry["address"]).lower(), tuple(str(t).lower() for t in entry["topics"]),
                str(entry["data"]).lower(), str(entry["transactionHash"]).lower(),
                int(entry["logIndex"], 16))
    wanted = key(log)
    return any(key(entry) == wanted for receipt in receipts for entry in receipt["logs"])
