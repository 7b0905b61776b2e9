"""Contract logs, as JSON-RPC returns them, decoded into `IndexedEvent`s (the indexer's hot path).

`CompiledContract.decode_log` works on bytes and checksums each address with
eth-hash's keccak (pycryptodome through cffi: about 9 µs for an address not
seen before). A catch-up decodes hundreds of thousands of logs, most of them
naming a buyer or a consumer seen for the first time, so the events whose
fields are all single static words (`EventSpec.fast`, most of them) are
decoded here straight from the hex text, with `safe-pysha3`'s keccak for the
checksums. The values are exactly `decode_log`'s, made JSON-safe
(`projections.json_safe`); any other event still goes through `decode_log`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from sha3 import keccak_256

from couponchain.chain.contracts import CompiledContract, EventSpec
from couponchain.indexer.projections import IndexedEvent, json_safe

#: A field's decoder: one 64-digit hex word to its JSON-safe value.
WordDecoder = Callable[[str], Any]
#: How to decode one kind of log: contract name, and the event's name and word
#: decoders (topics then data), or its spec and code when it is not all static words.
_Plan = tuple[str, str, list[tuple[str, WordDecoder]] | None, EventSpec, CompiledContract]

_WORD_BITS = 256


@lru_cache(maxsize=1 << 16)
def checksum_hex(plain: str) -> str:
    """EIP-55 form of an address given as 40 lowercase hex digits (cached: the same
    sellers and merchants recur in every batch). Equal to `contracts.checksum`."""
    digest = keccak_256(plain.encode()).hexdigest()
    return "0x" + "".join([c.upper() if d > "7" else c
                           for c, d in zip(plain, digest[:40], strict=True)])


def _address(word: str) -> str:
    return checksum_hex(word[24:].lower())


def _uint(word: str) -> int:
    return int(word, 16)


def _int(word: str) -> int:
    value = int(word, 16)
    return value - (1 << len(word) * 4) if value >> (len(word) * 4 - 1) else value


def _bool(word: str) -> bool:
    return word[-2:] == "01"


def _bytes32(word: str) -> str:
    return "0x" + word.lower()


def word_decoder(kind: str) -> WordDecoder | None:
    """The hex twin of `contracts._word_decoder` for one ABI type, with the same rules."""
    if "[" in kind:  # an array (`uint256[]`, `uint8[3]`) is no single word
        return None
    if kind == "address":
        return _address
    if kind.startswith("uint"):
        return _uint
    if kind.startswith("int"):
        return _int
    if kind == "bool":
        return _bool
    if kind == "bytes32":
        return _bytes32
    return None


class LogDecoder:
    """Decodes the logs of the contracts `contracts` maps (lowercase address → name, code)."""

    def __init__(self, contracts: Mapping[str, tuple[str, CompiledContract]]) -> None:
        self._contracts = contracts
        self._plans: dict[tuple[str, str], _Plan | None] = {}

    def _plan(self, address: str, topic: str) -> _Plan | None:
        key = (address, topic)
        if key not in self._plans:
            name, code = self._contracts[address]
            spec = code.events.get(bytes.fromhex(topic[2:]))
            plan: _Plan | None = None
            if spec is not None:
                words: list[tuple[str, WordDecoder]] | None = None
                if spec.fast is not None:
                    words = []
                    for field, kind in spec.indexed + spec.data:
                        decoder = word_decoder(kind)
                        assert decoder is not None  # `fast` exists only when all have one
                        words.append((field, decoder))
                plan = (name, spec.name, words, spec, code)
            self._plans[key] = plan
        return self._plans[key]

    def decode(self, logs: list[dict[str, Any]],
               timestamps: Mapping[int, int]) -> list[IndexedEvent]:
        """The events of `logs` (unknown events skipped) in chain order; `timestamps`
        gives each block's time."""
        events = []
        for entry in logs:
            topics = entry["topics"]
            if not topics:
                continue
            plan = self._plan(entry["address"].lower(), topics[0].lower())
            if plan is None:
                continue
            contract, event, words, _spec, code = plan
            if words is not None:
                data = entry["data"]
                values = [t[2:] for t in topics[1:]]
                values += [data[i:i + 64] for i in range(2, len(data), 64)]
                args = {field: decoder(word)
                        for (field, decoder), word in zip(words, values, strict=True)}
            else:
                decoded = code.decode_log([bytes.fromhex(t[2:]) for t in topics],
                                          bytes.fromhex(entry["data"][2:]))
                assert decoded is not None  # the plan exists only for a known event
                args = {k: json_safe(v) for k, v in decoded[1].items()}
            number = int(entry["blockNumber"], 16)
            events.append(IndexedEvent(
                contract=contract, name=event, args=args, block_number=number,
                block_hash=entry["blockHash"], log_index=int(entry["logIndex"], 16),
                tx_hash=entry["transactionHash"], timestamp=timestamps[number],
            ))
        events.sort(key=lambda e: (e.block_number, e.log_index))
        return events
