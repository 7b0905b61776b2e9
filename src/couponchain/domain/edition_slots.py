"""Where the editions contract keeps what a consumer can verify (no I/O).

A verifier asks the node for an EIP-1186 proof (`eth_getProof`) of the storage
slots computed here and checks them against a block header. The base slots of
the contract's state variables come from the compiler's storage layout
(`vyper -f layout editions.vy`), passed in by the caller; everything else is
fixed by the contract source:

- `_editions: HashMap[uint256, Edition]`: edition `id` starts at
  `keccak256(base . id)` (Vyper 0.4: `keccak256(concat(slot, key))`, both as
  32-byte big-endian words); each struct member takes whole slots in declaration
  order (`EDITION_FIELD_OFFSETS`; a `String[N]` takes 1 + ceil(N / 32) slots).
- `_coupons: HashMap[uint256, uint256]`: one packed word per sold coupon at
  `keccak256(base . coupon_id)`, decoded by `decode_coupon_word`.
- `_reserved: HashMap[uint256, uint256]` (declared after the others, so the
  slots above never moved): the pieces of edition `id` held by open capacity
  reservations, at `keccak256(base . id)` (`reserved_slot`). `sold + reserved
  <= cap` holds after every transaction.
- each edition's `sales_digest` chains every sale: `sales_digest_step` replays
  it from the `CouponSold` events.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from eth_abi import encode
from eth_utils import keccak, to_checksum_address

SERIAL_BITS = 32
MAX_SERIAL = 2**SERIAL_BITS - 1

EDITION_FIELD_OFFSETS: Mapping[str, int] = {
    "merchant": 0,
    "cap": 1,
    "sold": 2,
    "voided": 3,
    "redeemed": 4,
    "price": 5,
    "valid_from": 6,
    "valid_until": 7,
    "content_hash": 8,
    "sales_digest": 9,
    "brand": 10,  # String[64]: length, then 2 data slots
    "title": 13,  # String[128]: length, then 4 data slots
    "prefix": 18,  # String[16]: length, then 1 data slot
}
"""Slot offset of each `Edition` member from the start of the struct."""

_OWNER_MASK = 2**160 - 1
_STATUS_SHIFT = 160
_CHANNEL_SHIFT = 168
_SOLD_AT_SHIFT = 176


class CouponStatus(IntEnum):
    """A coupon's status, bits 160-167 of its storage word."""

    NONE = 0
    ACTIVE = 1
    REDEEMED = 2
    VOIDED = 3


class Channel(IntEnum):
    """Where a coupon was sold, bits 168-175 of its storage word."""

    ONLINE = 1
    OFFLINE = 2


class LayoutError(ValueError):
    """The storage layout does not describe the editions contract."""


@dataclass(frozen=True)
class EditionsLayout:
    """Base slots of the editions contract's mappings."""

    editions: int
    coupons: int
    #: `_reserved`; None for a layout of the contract before reservations.
    reserved: int | None = None
    #: `_edition_by_prefix: HashMap[bytes32, uint256]` (keccak256 of a prefix to its
    #: edition); None when the layout given did not name it.
    by_prefix: int | None = None


@dataclass(frozen=True)
class CouponWord:
    """A coupon's storage word, decoded."""

    owner: str
    status: CouponStatus
    channel: int
    sold_at: int


_EXPECTED_TYPES = {
    "_editions": "HashMap[uint256, Edition]",
    "_coupons": "HashMap[uint256, uint256]",
}
_RESERVED_TYPE = "HashMap[uint256, uint256]"


def layout_from_compiler(layout: Mapping[str, Any]) -> EditionsLayout:
    """Read the base slots from the compiler's layout output.

    Accepts the whole `vyper -f layout` document or its `storage_layout` part,
    and refuses one whose mappings are missing or of another type.
    """
    storage = layout.get("storage_layout", layout)
    slots: dict[str, int] = {}
    for name, expected in _EXPECTED_TYPES.items():
        entry = storage.get(name)
        if not isinstance(entry, Mapping) or entry.get("type") != expected:
            raise LayoutError(f"storage layout has no `{name}: {expected}`")
        slot = entry.get("slot")
        if not isinstance(slot, int) or slot < 0:
            raise LayoutError(f"storage layout gives `{name}` no slot number")
        slots[name] = slot
    reserved = storage.get("_reserved")
    reserved_slot_ = None
    if reserved is not None:
        if not isinstance(reserved, Mapping) or reserved.get("type") != _RESERVED_TYPE:
            raise LayoutError(f"storage layout has no `_reserved: {_RESERVED_TYPE}`")
        reserved_slot_ = reserved.get("slot")
        if not isinstance(reserved_slot_, int) or reserved_slot_ < 0:
            raise LayoutError("storage layout gives `_reserved` no slot number")
    by_prefix = storage.get("_edition_by_prefix")
    by_prefix_slot = None
    if isinstance(by_prefix, Mapping) and by_prefix.get("type") == "HashMap[bytes32, uint256]":
        by_prefix_slot = by_prefix.get("slot")
        if not isinstance(by_prefix_slot, int) or by_prefix_slot < 0:
            raise LayoutError("storage layout gives `_edition_by_prefix` no slot number")
    return EditionsLayout(editions=slots["_editions"], coupons=slots["_coupons"],
                          reserved=reserved_slot_, by_prefix=by_prefix_slot)


def mapping_slot(base: int, key: int) -> int:
    """The slot of `key` in a Vyper 0.4 HashMap whose base slot is `base`."""
    return int.from_bytes(keccak(base.to_bytes(32, "big") + key.to_bytes(32, "big")), "big")


def edition_slot(layout: EditionsLayout, edition_id: int, field: str) -> int:
    """The (first) slot of one member of an edition's struct."""
    try:
        offset = EDITION_FIELD_OFFSETS[field]
    except KeyError:
        raise LayoutError(f"Edition has no member `{field}`") from None
    return mapping_slot(layout.editions, edition_id) + offset


def coupon_slot(layout: EditionsLayout, coupon_id: int) -> int:
    """The slot of a coupon's packed word."""
    return mapping_slot(layout.coupons, coupon_id)


def reserved_slot(layout: EditionsLayout, edition_id: int) -> int:
    """The slot of an edition's reserved count (pieces held by open reservations)."""
    if layout.reserved is None:
        raise LayoutError("this layout has no `_reserved` (a contract before reservations)")
    return mapping_slot(layout.reserved, edition_id)


def proof_slots(layout: EditionsLayout, edition_id: int, serial: int) -> dict[str, int]:
    """Every slot a consumer's check of one coupon needs, by name."""
    slots = {
        name: edition_slot(layout, edition_id, name)
        for name in ("merchant", "cap", "sold", "voided", "redeemed", "sales_digest")
    }
    slots["coupon"] = coupon_slot(layout, coupon_id_of(edition_id, serial))
    return slots


#: Declared members a verifier proves besides the counters: (name, first slot, slots).
#: A `String[N]` is its length slot, then ceil(N / 32) data slots.
_DECLARED = (("price", 1), ("valid_from", 1), ("valid_until", 1), ("content_hash", 1),
             ("brand", 3), ("title", 5), ("prefix", 2))


def verification_slots(layout: EditionsLayout, edition_id: int, serial: int,
                       prefix: str) -> dict[str, int]:
    """Every slot `couponchain verify` proves for one coupon, by name: the counters
    and coupon word of `proof_slots`, every declared member of the edition (strings
    as `<name>_length` and `<name>_0`, `<name>_1`...), and `edition_by_prefix`, the
    edition the contract files under `prefix` (which ties the serial asked for to
    the edition proven)."""
    slots = proof_slots(layout, edition_id, serial)
    for name, count in _DECLARED:
        first = edition_slot(layout, edition_id, name)
        if count == 1:
            slots[name] = first
            continue
        slots[f"{name}_length"] = first
        for i in range(count - 1):
            slots[f"{name}_{i}"] = first + 1 + i
    if layout.by_prefix is None:
        raise LayoutError("this layout has no `_edition_by_prefix`")
    slots["edition_by_prefix"] = mapping_slot(
        layout.by_prefix, int.from_bytes(keccak(prefix.encode("ascii")), "big"))
    return slots


def decode_string(length: int, words: Sequence[int]) -> str | None:
    """A Vyper storage `String` from its length word and data words (None when the
    length does not fit the words or the bytes are not UTF-8)."""
    if length > 32 * len(words):
        return None
    data = b"".join(w.to_bytes(32, "big") for w in words)[:length]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def slot_key(slot: int) -> str:
    """A slot as the 32-byte hex storage key `eth_getProof` takes."""
    return "0x" + slot.to_bytes(32, "big").hex()


def coupon_id_of(edition_id: int, serial: int) -> int:
    """`edition_id * 2**32 + serial`; serials run from 1 to 2**32 - 1."""
    if not 1 <= serial <= MAX_SERIAL:
        raise ValueError(f"serial must be 1..{MAX_SERIAL}, got {serial}")
    if edition_id < 1:
        raise ValueError(f"edition_id must be at least 1, got {edition_id}")
    return (edition_id << SERIAL_BITS) | serial


def serial_text(prefix: str, serial: int) -> str:
    """The printed serial, e.g. `LATTE-000042` (at least six digits, as `serial_of`)."""
    return f"{prefix}-{serial:06d}"


def split_coupon_id(coupon_id: int) -> tuple[int, int]:
    """`(edition_id, serial)` of a coupon id."""
    return coupon_id >> SERIAL_BITS, coupon_id & MAX_SERIAL


def decode_coupon_word(word: int) -> CouponWord:
    """Unpack owner (bits 0-159), status, channel and sale time (bits 176-239)."""
    return CouponWord(
        owner=to_checksum_address((word & _OWNER_MASK).to_bytes(20, "big")),
        status=CouponStatus((word >> _STATUS_SHIFT) & 0xFF),
        channel=(word >> _CHANNEL_SHIFT) & 0xFF,
        sold_at=word >> _SOLD_AT_SHIFT,
    )


def sales_digest_step(
    digest: bytes,
    coupon_id: int,
    buyer: str,
    price: int,
    channel: int,
    order_ref: bytes,
    sold_at: int,
    seller: str,
) -> bytes:
    """The edition's sales digest after one more sale (as the contract hashes it).

    The digest starts at 32 zero bytes; each `CouponSold` event, in log order,
    moves it one step.
    """
    return keccak(
        encode(
            ["bytes32", "uint256", "address", "uint256", "uint8", "bytes32", "uint64", "address"],
            [digest, coupon_id, buyer, price, channel, order_ref, sold_at, seller],
        )
    )
