"""Access-log records, their canonical encoding, and the Merkle tree of a batch.

A terminal service node reports each access to a merchant's pages or coupons:
who (the visitor's IP, pseudonymised, and the account if logged in), when
(epoch seconds, UTC), which merchant (its number), how (browser, desktop
client or app) and what (view, claim, redeem, purchase, ...).

The raw IP never leaves `pseudonymise_ip`: it is replaced by
HMAC-SHA256(platform key, normalised IP), so equal IPs give equal visitor keys
(unique-visitor counts work) while the IP cannot be recovered without the
platform's key.

Merkle tree (what `marketing.vy` anchors and verifies):

- leaf = keccak256(keccak256(encode_record(record))). Hashing twice keeps a
  leaf's pre-image at 32 bytes, so a leaf can never pass for an inner node
  (whose pre-image is 64 bytes), as in OpenZeppelin's standard tree.
- node = keccak256(min(a, b) || max(a, b)): pairs are sorted, so a proof is
  the sibling hashes alone, with no left/right flags: the scheme of
  OpenZeppelin's `MerkleProof` and snekmate's `merkle_proof_verification`,
  which the contract uses on chain. A proof shows that a record is in the
  batch, not at which position.
- Leaves stay in batch order; on a level of odd size the last node moves up
  unchanged (it is never paired with itself), so a proof may be shorter than
  the tree's height.
"""

from __future__ import annotations

import hmac
import ipaddress
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from hashlib import sha256

from couponchain.errors import InvalidInput

try:  # safe-pysha3's C keccak hashes ~6x faster than eth-hash's pycryptodome backend,
    # and a batch of 50,000 records takes ~150,000 hashes: it sets the ingest rate.
    from sha3 import keccak_256
except ImportError:  # pragma: no cover - same results, only slower
    from eth_utils import keccak as _eth_keccak

    class keccak_256:  # type: ignore[no-redef]  # noqa: N801 - hashlib's naming
        """The slice of hashlib's interface the tree uses."""

        def __init__(self, data: bytes) -> None:
            self._digest = _eth_keccak(data)

        def digest(self) -> bytes:
            return self._digest


def keccak(data: bytes) -> bytes:
    """keccak256 of `data` (Ethereum's hash, not SHA3-256)."""
    return keccak_256(data).digest()


MAX_BATCH_RECORDS = 50_000
"""Most records one batch may hold."""

MAX_TIME = 2**40 - 1
"""Latest accepted record time (epoch seconds; far beyond any real clock)."""

MAX_MERCHANT_NUMBER = 2**63 - 1
MAX_ACCOUNT_LENGTH = 64
MIN_KEY_BYTES = 32

RECORD_TAG = b"CouponChain.AccessLog.v1"
"""Leads every encoded record, so a leaf names the encoding version."""


class AccessMethod(IntEnum):
    """How the visitor reached the merchant; the value is encoded in the leaf."""

    BROWSER = 1
    DESKTOP = 2
    APP = 3

    @property
    def label(self) -> str:
        return self.name.lower()


class Operation(IntEnum):
    """What the visitor did; the value is encoded in the leaf."""

    VIEW = 1
    SEARCH = 2
    CLICK = 3
    SHARE = 4
    CLAIM = 5
    REDEEM = 6
    PURCHASE = 7

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class AccessRecord:
    """One access, as stored and hashed.

    `visitor` is the 32-byte keyed hash of the IP (see `pseudonymise_ip`);
    `account` is the platform account id of a logged-in visitor or "" for an
    anonymous one; `time` is epoch seconds UTC; `merchant` the merchant number.
    """

    visitor: bytes
    account: str
    time: int
    merchant: int
    method: AccessMethod
    operation: Operation

    def __post_init__(self) -> None:
        if not isinstance(self.visitor, bytes) or len(self.visitor) != 32:
            raise InvalidInput("visitor must be a 32-byte keyed hash", field="visitor")
        if not isinstance(self.account, str) or len(self.account) > MAX_ACCOUNT_LENGTH:
            raise InvalidInput(
                f"account must be text of at most {MAX_ACCOUNT_LENGTH} characters",
                field="account",
            )
        if not self.account.isprintable() or self.account != self.account.strip():
            raise InvalidInput("account has control characters or padding", field="account")
        _check_int(self.time, "time", 0, MAX_TIME)
        _check_int(self.merchant, "merchant", 1, MAX_MERCHANT_NUMBER)
        object.__setattr__(self, "method", _member(AccessMethod, self.method, "method"))
        object.__setattr__(self, "operation", _member(Operation, self.operation, "operation"))

    @property
    def visitor_key(self) -> str:
        """Who the visitor is for counting: the account when logged in, else
        the pseudonymised IP."""
        return f"a:{self.account}" if self.account else "v:" + self.visitor.hex()


def pseudonymise_ip(ip: str, key: bytes) -> bytes:
    """The visitor key of an IP: HMAC-SHA256(key, normalised IP).

    IPv4 and IPv6 are normalised (`ipaddress` compressed form; IPv4-mapped
    IPv6 becomes IPv4), so one address always gives one key.
    """
    if not isinstance(key, bytes) or len(key) < MIN_KEY_BYTES:
        raise InvalidInput(f"the platform key needs at least {MIN_KEY_BYTES} bytes", field="key")
    if not isinstance(ip, str):  # ipaddress would read true or 5 as 0.0.0.1 or 0.0.0.5
        raise InvalidInput("must be text: an IP address (IPv4 or IPv6)", field="ip")
    try:
        address = ipaddress.ip_address(ip.strip())
    except ValueError:
        # The value is not repeated: a malformed address is still personal data.
        raise InvalidInput("not an IP address (IPv4 or IPv6, without port or prefix length)",
                           field="ip") from None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return hmac.new(key, address.compressed.encode("ascii"), sha256).digest()


def parse_record(data: Mapping[str, object], key: bytes) -> AccessRecord:
    """An `AccessRecord` from submitted fields: `ip`, `account` (optional),
    `time` (epoch seconds), `merchant` (number), `method` and `operation`
    (labels such as "app", "redeem"). The IP is pseudonymised here."""
    if not isinstance(data, Mapping):
        raise InvalidInput("a record must be an object", field=None)
    unknown = sorted(set(data) - {"ip", "account", "time", "merchant", "method", "operation"})
    if unknown:
        raise InvalidInput(f"unknown field {unknown[0]!r}", field=unknown[0])
    for name in ("ip", "time", "merchant", "method", "operation"):
        if name not in data:
            raise InvalidInput(f"{name} is required", field=name)
    account = data.get("account") or ""
    return AccessRecord(
        visitor=pseudonymise_ip(data["ip"], key),  # type: ignore[arg-type]
        account=account,  # type: ignore[arg-type]
        time=data["time"],  # type: ignore[arg-type]
        merchant=data["merchant"],  # type: ignore[arg-type]
        method=_label(AccessMethod, data["method"], "method"),
        operation=_label(Operation, data["operation"], "operation"),
    )


def parse_batch(items: Sequence[Mapping[str, object]], key: bytes) -> list[AccessRecord]:
    """Every record of a submitted batch, or `InvalidInput` for the first bad
    one, its field named `records.<index>.<field>` (nothing is kept then)."""
    if not isinstance(items, Sequence) or isinstance(items, (str, bytes)):
        raise InvalidInput("records must be a list", field="records")
    if not items:
        raise InvalidInput("a batch needs at least one record", field="records")
    if len(items) > MAX_BATCH_RECORDS:
        raise InvalidInput(f"a batch holds at most {MAX_BATCH_RECORDS} records", field="records")
    records = []
    for index, item in enumerate(items):
        try:
            records.append(parse_record(item, key))
        except InvalidInput as error:
            where = f"records.{index}" + (f".{error.field}" if error.field else "")
            raise InvalidInput(f"record {index}: {error.message}", field=where) from None
    return records


def encode_record(record: AccessRecord) -> bytes:
    """The canonical bytes of a record: tag, visitor (32 bytes), time and
    merchant (8 bytes each, big-endian), method and operation (1 byte each),
    account length (1 byte) and account (UTF-8)."""
    account = record.account.encode("utf-8")
    return b"".join(
        (
            RECORD_TAG,
            record.visitor,
            struct.pack(
                ">QQBBB",
                record.time,
                record.merchant,
                record.method,
                record.operation,
                len(account),
            ),
            account,
        )
    )


def leaf_hash(record: AccessRecord) -> bytes:
    """The record's Merkle leaf: keccak256(keccak256(encode_record(record)))."""
    return keccak(keccak(encode_record(record)))


def _hash_pair(a: bytes, b: bytes) -> bytes:
    return keccak(a + b) if a < b else keccak(b + a)


def tree_levels(leaves: Sequence[bytes]) -> list[list[bytes]]:
    """Every level of the tree, leaves first, root last."""
    if not leaves:
        raise InvalidInput("a Merkle tree needs at least one leaf", field="records")
    levels = [list(leaves)]
    while len(levels[-1]) > 1:
        level = levels[-1]
        # _hash_pair inlined: a 50,000-record batch hashes ~50,000 pairs.
        k = keccak_256
        parents = [k(a + b).digest() if a < b else k(b + a).digest()
                   for a, b in zip(level[0::2], level[1::2], strict=False)]
        if len(level) % 2:
            parents.append(level[-1])
        levels.append(parents)
    return levels


def root(records: Sequence[AccessRecord]) -> bytes:
    """The Merkle root of a batch (in batch order)."""
    return tree_levels([leaf_hash(r) for r in records])[-1][0]


def proof_from_levels(levels: Sequence[Sequence[bytes]], index: int) -> list[bytes]:
    """The inclusion proof of leaf `index` from a tree built by `tree_levels`
    (build once, prove many)."""
    if not 0 <= index < len(levels[0]):
        raise InvalidInput(f"no record {index} in a batch of {len(levels[0])}", field="index")
    proof = []
    for level in levels[:-1]:
        sibling = index ^ 1
        if sibling < len(level):
            proof.append(level[sibling])
        index //= 2
    return proof


def proof(records: Sequence[AccessRecord], index: int) -> list[bytes]:
    """The sibling hashes proving that `records[index]` is in the batch."""
    return proof_from_levels(tree_levels([leaf_hash(r) for r in records]), index)


def verify(leaf: bytes, proof: Iterable[bytes], root: bytes) -> bool:
    """Whether `proof` leads from `leaf` to `root` (what the contract's
    `verify_inclusion` computes)."""
    node = leaf
    for sibling in proof:
        node = _hash_pair(node, sibling)
    return node == root


def _check_int(value: object, field: str, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput(f"{field} must be an integer from {low} to {high}", field=field)


def _member(enum: type[IntEnum], value: object, field: str):
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{field} must be one of {_labels(enum)}", field=field)
    try:
        return enum(value)
    except ValueError:
        raise InvalidInput(f"{field} must be one of {_labels(enum)}", field=field) from None


def _label(enum: type[IntEnum], value: object, field: str):
    if isinstance(value, enum):
        return value
    if isinstance(value, str) and value.islower() and value.upper() in enum.__members__:
        return enum[value.upper()]
    raise InvalidInput(f"{field} must be one of {_labels(enum)}", field=field)


def _labels(enum: type[IntEnum]) -> str:
    return ", ".join(m.name.lower() for m in enum)
