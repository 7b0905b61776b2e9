"""The Vyper contracts: compiled on first use, cached by source hash, ABI helpers.

No compiled artifact is committed. The cache key covers every contract and
interface source, the imported snekmate modules and the compiler version, so a
changed source can never run stale bytecode.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache, cached_property, lru_cache
from typing import Any

import eth_abi
import vyper
from eth_hash.auto import keccak as keccak256
from eth_utils import keccak
from vyper.cli.vyper_compile import get_search_paths
from vyper.compiler.input_bundle import FilesystemInputBundle

from couponchain.chain import contract_sources
from couponchain.chain.contract_sources import SOURCES, cache_dir
from couponchain.errors import ConfigurationError


def _type_str(param: dict[str, Any]) -> str:
    """The canonical ABI type of a parameter (tuples spelled out)."""
    kind: str = param["type"]
    if kind.startswith("tuple"):
        inner = ",".join(_type_str(c) for c in param["components"])
        return f"({inner}){kind[5:]}"
    return kind


@dataclass(frozen=True)
class EventSpec:
    """How to decode one event's log."""

    name: str
    topic: bytes
    indexed: list[tuple[str, str]]
    data: list[tuple[str, str]]

    @cached_property
    def fast(self) -> list[tuple[str, Callable[[bytes], Any]]] | None:
        """Word decoders for topics then data, when every field is one static word."""
        decoders = []
        for name, kind in self.indexed + self.data:
            decoder = _word_decoder(kind)
            if decoder is None:
                return None
            decoders.append((name, decoder))
        return decoders


@dataclass(frozen=True)
class FunctionSpec:
    """How to encode a call to one function."""

    name: str
    selector: bytes
    inputs: list[str]
    outputs: list[str]


@dataclass
class CompiledContract:
    """A compiled contract with encoders for its calls and decoders for its events."""

    name: str
    abi: list[dict[str, Any]]
    bytecode: bytes
    source_hash: str
    #: The runtime code the compiler produces (what the chain stores, before
    #: the immutables' values the constructor appends).
    runtime: bytes = b""
    functions: dict[str, FunctionSpec] = field(default_factory=dict)
    events: dict[bytes, EventSpec] = field(default_factory=dict)
    constructor_inputs: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        for item in self.abi:
            if item["type"] == "function":
                inputs = [_type_str(p) for p in item["inputs"]]
                sig = f"{item['name']}({','.join(inputs)})"
                self.functions[item["name"]] = FunctionSpec(
                    item["name"], keccak(text=sig)[:4], inputs,
                    [_type_str(p) for p in item.get("outputs", [])],
                )
            elif item["type"] == "event":
                types = [_type_str(p) for p in item["inputs"]]
                topic = keccak(text=f"{item['name']}({','.join(types)})")
                self.events[topic] = EventSpec(
                    item["name"], topic,
                    [(p["name"], _type_str(p)) for p in item["inputs"] if p["indexed"]],
                    [(p["name"], _type_str(p)) for p in item["inputs"] if not p["indexed"]],
                )
            elif item["type"] == "constructor":
                self.constructor_inputs = [_type_str(p) for p in item["inputs"]]

    @property
    def code_hash(self) -> str:
        """SHA-256 of the runtime code: what decides whether a deployed contract is
        this one. A comment or docstring edit leaves it unchanged (unlike the init
        code, whose metadata carries a hash of the source)."""
        return hashlib.sha256(self.runtime).hexdigest()

    def runs_on_chain(self, deployed: bytes) -> bool:
        """Whether `deployed` (an address's code, `eth_getCode`) is this runtime code
        followed by its immutables' values, one 32-byte word each."""
        extra = len(deployed) - len(self.runtime)
        return bool(self.runtime) and deployed.startswith(self.runtime) and extra >= 0 \
            and extra % 32 == 0

    def encode_call(self, function: str, *args: Any) -> bytes:
        """Calldata for `function(*args)`."""
        spec = self.functions[function]
        return spec.selector + eth_abi.encode(spec.inputs, args)

    def decode_result(self, function: str, data: bytes) -> Any:
        """The decoded return value of `function` (a tuple when it returns several)."""
        outputs = self.functions[function].outputs
        values = eth_abi.decode(outputs, data)
        return values[0] if len(values) == 1 else values

    def deploy_data(self, *args: Any) -> bytes:
        """Init code plus encoded constructor arguments."""
        return self.bytecode + eth_abi.encode(self.constructor_inputs, args)

    def decode_log(self, topics: list[bytes], data: bytes) -> tuple[str, dict[str, Any]] | None:
        """(event name, arguments) of a log of this contract, or None if unknown."""
        spec = self.events.get(topics[0]) if topics else None
        if spec is None:
            return None
        fast = spec.fast
        if fast is not None:
            words = topics[1:] + [data[i : i + 32] for i in range(0, len(data), 32)]
            return spec.name, {name: decode(w) for (name, decode), w in zip(fast, words,
                                                                           strict=True)}
        args: dict[str, Any] = {}
        for (name, kind), topic in zip(spec.indexed, topics[1:], strict=True):
            args[name] = _checksummed(kind, eth_abi.decode([kind], topic)[0])
        if spec.data:
            values = eth_abi.decode([kind for _, kind in spec.data], data)
            for (name, kind), value in zip(spec.data, values, strict=True):
                args[name] = _checksummed(kind, value)
        return spec.name, args


@lru_cache(maxsize=1 << 16)
def checksum(address: str) -> str:
    """EIP-55 form of an address (cached: the same accounts recur in every batch)."""
    plain = address.lower().removeprefix("0x")
    digest = keccak256(plain.encode()).hex()
    return "0x" + "".join(
        c.upper() if c > "9" and digest[i] > "7" else c for i, c in enumerate(plain)
    )


def _word_decoder(kind: str) -> Callable[[bytes], Any] | None:
    """A fast decoder of one 32-byte ABI word, for the static types events use most."""
    if "[" in kind:  # an array (`uint256[]`, `uint8[3]`) is no single word
        return None
    if kind == "address":
        return lambda w: checksum(w[12:].hex())
    if kind.startswith("uint"):
        return lambda w: int.from_bytes(w, "big")
    if kind.startswith("int"):
        return lambda w: int.from_bytes(w, "big", signed=True)
    if kind == "bool":
        return lambda w: w[-1] == 1
    if kind == "bytes32":
        return bytes
    return None


def _checksummed(kind: str, value: Any) -> Any:
    """Addresses as EIP-55 checksummed strings, the form used everywhere else."""
    if kind == "address":
        return checksum(value)
    if kind.startswith("address["):
        return [checksum(v) for v in value]
    return value


def source_hash(name: str) -> str:
    """Hash of a contract's source, the interfaces and the compilers that build it."""
    return contract_sources.source_hash(name, vyper.__version__)


@cache
def load(name: str) -> CompiledContract:
    """The compiled `contracts/<name>.vy`, from the cache when its sources are unchanged."""
    source = SOURCES / f"{name}.vy"
    if not source.exists():
        raise ConfigurationError(f"no contract named {name!r} in {SOURCES}")
    digest = source_hash(name)
    cached = cache_dir() / f"{name}-{digest[:16]}.json"
    data = json.loads(cached.read_text()) if cached.exists() else {}
    if "bytecode_runtime" not in data:  # not cached, or cached before it was kept
        bundle = FilesystemInputBundle(get_search_paths([str(SOURCES)]))
        out = vyper.compile_code(
            source.read_text(), contract_path=source.name, resolved_path=source,
            input_bundle=bundle,
            output_formats=["abi", "bytecode", "bytecode_runtime", "layout"],
        )
        data = {"abi": out["abi"], "bytecode": out["bytecode"],
                "bytecode_runtime": out["bytecode_runtime"], "layout": out["layout"]}
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        tmp.replace(cached)
    return CompiledContract(name, data["abi"], bytes.fromhex(data["bytecode"][2:]), digest,
                            bytes.fromhex(data["bytecode_runtime"][2:]))


@cache
def layout(name: str) -> dict[str, Any]:
    """The compiler's storage layout of a contract (for storage proofs)."""
    load(name)
    cached = cache_dir() / f"{name}-{source_hash(name)[:16]}.json"
    return dict(json.loads(cached.read_text())["layout"])
