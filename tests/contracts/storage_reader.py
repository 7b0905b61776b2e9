"""Read a contract's storage variables straight from their slots (no EVM call).

A view call runs the interpreter for about 0.2 ms; reading a slot takes a few
microseconds. The state machines compare their whole ghost with the contract's
storage after every step through these reads, and call the views only for what
a step touched.

    state = StorageReader(contract)
    state.get("anchor_count")               # a value type
    state.get("_anchors", 3)                # a struct, as a dict of its members
    state.get("erc20.balanceOf", account)   # a variable of an initialized module
    state.word("_awards", award_id)         # the raw 256-bit word (packed values)
    state.words("_anchors", 3) == as_words(merchant, submitter, root, 5, 0, 9, now)

`get` decodes as boa decodes return values (about 0.1 ms for a struct: the
checksummed addresses); `word` and `words` return raw words (1-2 us each), to
compare with `as_words` of what the ghost expects, in the hot invariants.

Slots follow Vyper 0.4: the base slot of each variable comes from the
compiler's storage layout, `HashMap` entry `key` of a map at slot `s` lives at
`keccak256(s . key)` (both 32-byte words), and struct members take whole slots
in declaration order.
"""

from functools import lru_cache
from typing import Any

import boa
from boa.contracts.vyper.decoder_utils import ByteAddressableStorage, decode_vyper_object
from eth_utils import keccak
from vyper.semantics.types import AddressT, BoolT, BytesM_T, HashMapT, IntegerT, StructT


@lru_cache(maxsize=1 << 16)
def mapping_slot(base: int, key: int) -> int:
    """The slot of the entry `key` (as a 256-bit word) of a map at slot `base`."""
    return int.from_bytes(keccak(base.to_bytes(32, "big") + key.to_bytes(32, "big")), "big")


def as_word(value) -> int:
    """An address, bytes32, bool or unsigned integer as its storage word."""
    if isinstance(value, str):
        return int(value, 16)
    if isinstance(value, bytes):
        return int.from_bytes(value.ljust(32, b"\x00"), "big")
    return int(value)


def as_words(*values) -> tuple[int, ...]:
    """`as_word` of each value: what `StorageReader.words` returns for a struct."""
    return tuple(as_word(v) for v in values)


def _key_word(typ, key) -> int:
    """A HashMap key as the 256-bit word Vyper hashes."""
    if isinstance(typ, AddressT):
        return int(str(key), 16)
    if isinstance(typ, BytesM_T):
        return int.from_bytes(bytes(key).ljust(32, b"\x00"), "big")
    if isinstance(typ, (IntegerT, BoolT)):
        return int(key) % 2**256
    raise TypeError(f"storage_reader: unsupported HashMap key type {typ}")


def _variables(module_t, layout: dict, prefix: str = ""):
    """(name, base slot, type) of every storage variable, modules included."""
    for name, var in module_t.variables.items():
        entry = layout.get(name)
        if isinstance(entry, dict) and "slot" in entry:
            yield prefix + name, entry["slot"], var.typ
    for init in module_t.initialized_modules:
        alias = init.module_info.alias
        yield from _variables(init.module_info.module_t, layout.get(alias, {}), f"{prefix}{alias}.")


class StorageReader:
    """The storage variables of one deployed Vyper contract, by name."""

    def __init__(self, contract) -> None:
        self.address = contract.address
        self._evm = boa.env.evm
        layout = contract.compiler_data.storage_layout["storage_layout"]
        self._vars = {
            name: (slot, typ) for name, slot, typ in _variables(contract.module_t, layout)
        }
        self._slots: dict[tuple, tuple[int, Any]] = {}
        self._offsets: dict[str, list[int]] = {}

    def slot(self, name: str, *keys, member: str | None = None) -> tuple[int, Any]:
        """(slot, type) of a variable, one entry of a (nested) map, or one member
        of the struct found there."""
        cache_key = (name, keys, member)
        found = self._slots.get(cache_key)
        if found is None:
            slot, typ = self._vars[name]
            for key in keys:
                if not isinstance(typ, HashMapT):
                    raise TypeError(f"storage_reader: {name} takes {len(keys)} keys too many")
                slot, typ = mapping_slot(slot, _key_word(typ.key_type, key)), typ.value_type
            if member is not None:
                if not isinstance(typ, StructT):
                    raise TypeError(f"storage_reader: {name} holds no struct")
                for field, field_t in typ.tuple_items():
                    if field == member:
                        typ = field_t
                        break
                    slot += field_t.storage_size_in_words
                else:
                    raise KeyError(f"storage_reader: {typ} has no member {member}")
            found = self._slots[cache_key] = (slot, typ)
        return found

    def word(self, name: str, *keys, member: str | None = None) -> int:
        """The raw 256-bit word at a value's (first) slot."""
        return self._evm.get_storage(self.address, self.slot(name, *keys, member=member)[0])

    def words(self, name: str, *keys) -> tuple[int, ...]:
        """The first word of each member of a struct, in declaration order."""
        slot, typ = self.slot(name, *keys)
        if not isinstance(typ, StructT):
            raise TypeError(f"storage_reader: {name} holds no struct")
        offsets = self._offsets.get(typ.name)
        if offsets is None:
            offsets, at = [], 0
            for _, field_t in typ.tuple_items():
                offsets.append(at)
                at += field_t.storage_size_in_words
            self._offsets[typ.name] = offsets
        get = self._evm.get_storage
        return tuple(get(self.address, slot + offset) for offset in offsets)

    def get(self, name: str, *keys, member: str | None = None) -> Any:
        """A value decoded as boa decodes return values (a struct as a dict)."""
        slot, typ = self.slot(name, *keys, member=member)
        if isinstance(typ, HashMapT):
            raise TypeError(f"storage_reader: {name} needs more keys")
        return decode_vyper_object(ByteAddressableStorage(self._evm, self.address, slot), typ)
