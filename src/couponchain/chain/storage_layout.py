"""Where a contract keeps a value, from the Vyper compiler's own layout (no chain I/O).

A verifier computes every storage slot it asks a node to prove; it never takes
a slot from the platform's answer. The base slot of each state variable comes
from the compiler's storage layout (`vyper -f layout`, as `contracts.layout`
gives it); the offset of each member inside a struct comes from the compiler's
type checker (`StructT.members`, each member taking `storage_size_in_words`
slots in declaration order). Both are cached next to the compiled contract,
named by the same hash of the sources and compiler version, so a `verify`
with a warm cache neither imports nor runs the compiler.

Slots follow Vyper 0.4: `HashMap[K, V]` at base `b` keeps key `k` at
`keccak256(b . k)` (both 32-byte words; an address or bytes32 key is its
32-byte word), nested maps hash again, and a struct value's member `m` sits at
that slot plus the member's offset.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

from couponchain.chain import contract_sources
from couponchain.chain.contract_sources import SOURCES, cache_dir
from couponchain.domain.edition_slots import LayoutError, mapping_slot


@dataclass(frozen=True)
class StorageLayout:
    """One contract's state variables (base slot and type) and struct member offsets."""

    contract: str
    variables: Mapping[str, tuple[int, str]]
    #: struct name -> member name -> slot offset from the struct's first slot.
    structs: Mapping[str, Mapping[str, int]]

    def base(self, variable: str, kind: str | None = None) -> int:
        """The base slot of `variable`; LayoutError when it is missing or (with
        `kind`) of another type than the verifier was written for."""
        entry = self.variables.get(variable)
        if entry is None:
            raise LayoutError(f"{self.contract}: storage layout has no `{variable}`")
        if kind is not None and entry[1] != kind:
            raise LayoutError(f"{self.contract}: `{variable}` is `{entry[1]}`, not `{kind}`")
        return entry[0]

    def slot(self, variable: str, *keys: int | str, member: str | None = None) -> int:
        """The slot of `variable[keys...]` (and of `.member` of the struct kept there)."""
        slot = self.base(variable)
        for key in keys:
            slot = mapping_slot(slot, _key_word(key))
        if member is None:
            return slot
        struct = self.variables[variable][1].rpartition(", ")[2].rstrip("]")
        try:
            return slot + self.structs[struct][member]
        except KeyError:
            raise LayoutError(f"{self.contract}: struct {struct} has no member "
                              f"`{member}`") from None


def _key_word(key: int | str) -> int:
    """A HashMap key as its 32-byte word: ints as they are, `0x` hex (addresses,
    bytes32) as the number they spell."""
    if isinstance(key, int):
        return key
    return int(key, 16)


def _digest(name: str) -> str | None:
    """`contracts.source_hash(name)` without importing the compiler (None when the
    compiler's version cannot be read: the caller then compiles as usual)."""
    try:
        return contract_sources.source_hash(name, metadata.version("vyper"))
    except metadata.PackageNotFoundError:
        return None


def cached_layout(name: str) -> dict[str, Any] | None:
    """`contracts.layout(name)` from its cache file, or None when there is none."""
    import orjson

    digest = _digest(name)
    if digest is None:
        return None
    try:
        return dict(orjson.loads((cache_dir() / f"{name}-{digest[:16]}.json")
                                 .read_bytes())["layout"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def compiler_layout(name: str) -> dict[str, Any]:
    """The compiler's storage layout of `contracts/<name>.vy` (cache first)."""
    cached = cached_layout(name)
    if cached is None:
        from couponchain.chain import contracts

        cached = contracts.layout(name)
    return cached


def _struct_members(name: str) -> dict[str, dict[str, int]]:
    """Member offsets of every struct the contract declares, from the type checker."""
    import orjson

    digest = _digest(name)
    cached = None if digest is None else cache_dir() / f"{name}-{digest[:16]}-structs.json"
    if cached is not None:
        try:
            return dict(orjson.loads(cached.read_bytes()))
        except (OSError, ValueError):
            pass
    from vyper.cli.vyper_compile import get_search_paths
    from vyper.compiler.input_bundle import FileInput, FilesystemInputBundle
    from vyper.compiler.phases import CompilerData

    source = SOURCES / f"{name}.vy"
    data = CompilerData(FileInput(0, Path(source.name), source, source.read_text()),
                        input_bundle=FilesystemInputBundle(get_search_paths([str(SOURCES)])))
    module = data.annotated_vyper_module._metadata["type"]
    structs: dict[str, dict[str, int]] = {}
    for node in module.struct_defs:
        struct_name, struct = node.name, node._metadata["struct_type"]
        offset, members = 0, {}
        for member, typ in struct.members.items():
            members[member] = offset
            offset += typ.storage_size_in_words
        structs[struct_name] = members
    if cached is not None:
        try:
            cached.parent.mkdir(parents=True, exist_ok=True)
            tmp = cached.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_bytes(orjson.dumps(structs))
            tmp.replace(cached)
        except OSError:
            pass  # a read-only cache only costs the next run the type check again
    return structs


@cache
def storage_layout(name: str) -> StorageLayout:
    """The storage layout of the platform's contract `name` (e.g. "promotions")."""
    storage = compiler_layout(name).get("storage_layout", {})
    variables = {var: (int(entry["slot"]), str(entry["type"]))
                 for var, entry in storage.items()
                 if isinstance(entry, Mapping) and "slot" in entry}
    return StorageLayout(name, variables, _struct_members(name))
