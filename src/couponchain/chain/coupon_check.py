"""Checking a limited-edition coupon as an independent verifier would (no I/O).

`check_coupon` takes what the platform's API said (the `/proof` answer and the
coupon's JSON) and what a node the user trusts said (its chain id, head and the
proven block), plus the user's trust anchor (chain id and registry address),
and returns one verdict per check. Nothing the API says is believed without a
proof:

- the block: its hash is recomputed from the header, it must be the trusted
  node's block of that number and at most `max_age` blocks behind its head;
- the contract: the registry address is the anchor; the editions contract must
  be created by the account that created the registry (`create_address`:
  keccak256(rlp([deployer, nonce])), so no one else can put a contract there),
  and the proven account must be that address;
- the coupon: every slot is computed from the serial asked for, never taken from
  the answer; `_edition_by_prefix[keccak256(prefix)]` proves which edition the
  prefix names, so another coupon's or another edition's proof cannot pass;
- the JSON: each field the coupon's JSON shows is compared with the proven
  value; fields the storage does not hold are listed in `NOT_PROVEN`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from eth_utils import keccak, to_checksum_address

from couponchain.chain.proofs import (
    ProofError,
    Verdict,
    header_hash,
    rlp_encode,
    verify_account,
    verify_storage,
)
from couponchain.domain.edition_slots import (
    MAX_SERIAL,
    Channel,
    CouponStatus,
    EditionsLayout,
    coupon_id_of,
    decode_coupon_word,
    decode_string,
    slot_key,
    verification_slots,
)

#: Fields of the coupon JSON the contract's storage does not hold: shown, never proven.
NOT_PROVEN = (
    "price_paid", "seller", "order_ref_hash", "tx_hash", "block_number", "owner_id",
    "history (transfers, redemption, void)", "edition.merchant_id", "edition.reserved",
    "edition.remaining", "edition.registered_block", "edition.registered_tx",
)


class CheckError(ValueError):
    """The input cannot be checked at all (e.g. a serial that is not PREFIX-NUMBER)."""


@dataclass(frozen=True)
class Trusted:
    """What the user trusts: the deployment's anchor and a node's answers."""

    chain_id: int
    registry: str
    #: The node's own chain id, head number and its block at the proof's number;
    #: None for a check without a node (which can never pass as VERIFIED).
    node_chain_id: int | None = None
    head: int | None = None
    block: Mapping[str, Any] | None = None
    max_age: int = 8


@dataclass
class Outcome:
    """The verdicts, and whether the check was anchored to a trusted node."""

    verdicts: list[Verdict] = field(default_factory=list)
    anchored: bool = False
    #: The proven storage values by slot name (None: no valid proof).
    proven: dict[str, int | None] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Every check holds (anchored or not)."""
        return all(v.ok for v in self.verdicts)

    def add(self, claim: str, expected: Any, proven: Any, ok: bool | None = None,
            note: str = "") -> None:
        self.verdicts.append(Verdict(claim, expected, proven,
                                     expected == proven if ok is None else ok, note))


def create_address(sender: str, nonce: int) -> str:
    """The address of the contract `sender` creates with its transaction `nonce`."""
    raw = bytes.fromhex(sender.removeprefix("0x"))
    nonce_bytes = nonce.to_bytes((nonce.bit_length() + 7) // 8, "big")
    return to_checksum_address(keccak(rlp_encode([raw, nonce_bytes]))[12:])


def parse_serial(serial: str) -> tuple[str, int]:
    """(prefix, number) of `PREFIX-NUMBER`; CheckError otherwise."""
    prefix, _, number = serial.rpartition("-")
    if not prefix or not prefix.isascii() or not number.isdigit() \
            or not 1 <= int(number) <= MAX_SERIAL:
        raise CheckError(f"{serial!r} is not a serial (PREFIX-NUMBER, e.g. LATTE-000042)")
    return prefix, int(number)



def _iso(epoch: int | None) -> str | None:
    return None if epoch is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def check_coupon(serial: str, proof: Mapping[str, Any], coupon: Mapping[str, Any],
                 layout: EditionsLayout, trusted: Trusted) -> Outcome:
    """Check the coupon `serial` (as asked for) from the API's `/proof` answer and
    JSON against the trust anchor and node in `trusted`; one verdict per check."""
    prefix, number = parse_serial(serial)
    out = Outcome(anchored=trusted.block is not None)
    block = proof["block"]
    _check_block(out, block, trusted)
    storage_root = _check_contract(out, proof, trusted)
    if storage_root is None:
        return out
    edition_id = int(proof["edition_id"])
    slots = verification_slots(layout, edition_id, number, prefix)
    proofs = {str(e["slot"]).lower(): e["proof"] for e in proof["storage"]}
    proven = out.proven
    for name, slot in slots.items():
        entry = proofs.get(slot_key(slot))
        try:
            proven[name] = None if entry is None else verify_storage(storage_root, slot, entry)
        except ProofError:
            proven[name] = None
    missing = sorted(n for n, v in proven.items() if v is None)
    out.add("storage proofs hold for every slot of the serial asked for", [], missing,
            note="no valid proof of " + ", ".join(missing) if missing else "")
    # The serial asked for names the edition (prefix) and the coupon (number).
    out.add("prefix names the edition proven", edition_id, proven["edition_by_prefix"])
    out.add("answer is about the serial asked for", serial, proof.get("serial"))
    out.add("coupon id is the serial asked for", coupon_id_of(edition_id, number),
            proof.get("coupon_id"))
    _check_json(out, serial, edition_id, coupon, proven)
    return out


def _check_block(out: Outcome, block: Mapping[str, Any], trusted: Trusted) -> None:
    try:
        computed = "0x" + header_hash(block).hex()
    except (KeyError, ValueError, TypeError) as exc:
        computed = f"unhashable header: {exc}"
    out.add("block hash = keccak(rlp(header))", block.get("hash"), computed)
    if trusted.block is None:
        return
    out.add("chain id: the trusted node's is the anchor's", trusted.chain_id,
            trusted.node_chain_id)
    out.add("block is the trusted node's block of that number", trusted.block.get("hash"),
            block.get("hash"), trusted.block.get("hash") == block.get("hash")
            and trusted.block.get("stateRoot") == block.get("stateRoot"))
    number = int(block.get("number", "0x0"), 16)
    head = trusted.head if trusted.head is not None else number
    out.add(f"block is at most {trusted.max_age} blocks behind the trusted head ({head})",
            f">= {head - trusted.max_age}", number, head - number <= trusted.max_age,
            f"{head - number} blocks old")


def _check_contract(out: Outcome, proof: Mapping[str, Any], trusted: Trusted) -> bytes | None:
    """The proven storage root of the editions contract the anchor names, or None."""
    contract = str(proof.get("contract", ""))
    deployment = proof.get("deployment") or {}
    try:
        deployer = str(deployment["deployer"])
        registry = create_address(deployer, int(deployment["registry_nonce"]))
        editions = create_address(deployer, int(deployment["editions_nonce"]))
    except (KeyError, TypeError, ValueError) as exc:
        out.add("contract is the one the trusted registry's deployer created", contract, None,
                False, f"no usable deployment record ({exc})")
        return None
    out.add("chain id: the answer's is the anchor's", trusted.chain_id, proof.get("chain_id"))
    out.add("registry is the trusted one (created by the deployer)", trusted.registry.lower(),
            registry.lower())
    out.add("contract is the one the trusted registry's deployer created", editions.lower(),
            contract.lower())
    account = proof["account"]
    out.add("proven account is that contract", contract.lower(), str(account["address"]).lower())
    try:
        storage_root = verify_account(bytes.fromhex(str(proof["block"]["stateRoot"])[2:]),
                                      account)
    except (ProofError, ValueError, KeyError) as exc:
        out.add("contract account in the state root", contract, None, False, str(exc))
        return None
    out.add("contract account in the state root", contract, account["address"], True)
    return storage_root


def _check_json(out: Outcome, serial: str, edition_id: int, coupon: Mapping[str, Any],
                proven: Mapping[str, int | None]) -> None:
    """Each field of the coupon's JSON against the proven value."""
    word = proven.get("coupon")
    decoded = decode_coupon_word(word) if word else None
    out.add("json serial", serial, coupon.get("serial"))
    out.add("json edition_id", edition_id, coupon.get("edition_id"))
    out.add("json owner", decoded.owner.lower() if decoded else None,
            str(coupon.get("owner", "")).lower())
    status = decoded.status if decoded else CouponStatus.NONE
    out.add("json status", status.name.lower(), coupon.get("status"))
    channel = Channel(decoded.channel).name.lower() if decoded and decoded.channel in (1, 2) \
        else None
    out.add("json channel", channel, coupon.get("channel"))
    out.add("json sold_at", _iso(decoded.sold_at) if decoded else None, coupon.get("sold_at"))
    edition = coupon.get("edition") or {}
    merchant = proven.get("merchant")
    out.add("json edition.merchant",
            None if merchant is None else to_checksum_address(merchant.to_bytes(20, "big")),
            edition.get("merchant"))
    for name, key in (("total_pieces", "cap"), ("sold", "sold"), ("voided", "voided"),
                      ("redeemed", "redeemed"), ("price", "price")):
        out.add(f"json edition.{name}", proven.get(key), edition.get(name))
    for name in ("valid_from", "valid_until"):
        out.add(f"json edition.{name}", _iso(proven.get(name)), edition.get(name))
    for name, words in (("brand", 2), ("title", 4), ("prefix", 1)):
        length = proven.get(f"{name}_length")
        data = [proven.get(f"{name}_{i}") for i in range(words)]
        text = None if length is None or any(w is None for w in data) \
            else decode_string(length, [w for w in data if w is not None])
        out.add(f"json edition.{name}", text, edition.get(name))
    content = proven.get("content_hash")
    content_hex = None if content is None else "0x" + content.to_bytes(32, "big").hex()
    out.add("json edition.content_hash", content_hex, str(edition.get("content_hash")).lower())
    terms = edition.get("terms")
    shown = None if not isinstance(terms, str) else "0x" + keccak(terms.encode()).hex()
    out.add("terms shown hash to the proven content_hash", content_hex, shown)


#: topic0 of `CouponSold(edition_id, coupon_id, buyer, serial, price, channel, order_ref,
#: sold_at, seller)`, the first three indexed.
COUPON_SOLD = "0x" + keccak(
    b"CouponSold(uint256,uint256,address,uint256,uint256,uint8,bytes32,uint64,address)").hex()

#: What `check_sales` proves: taken off `NOT_PROVEN` when the sales were replayed.
SALE_FIELDS = ("price_paid", "seller", "order_ref_hash")


def sold_logs_filter(contract: str, edition_id: int, to_block: str) -> dict[str, Any]:
    """The `eth_getLogs` filter for every sale of an edition up to the proven block."""
    return {"address": contract, "fromBlock": "0x0", "toBlock": to_block,
            "topics": [COUPON_SOLD, "0x" + edition_id.to_bytes(32, "big").hex()]}


def check_sales(out: Outcome, logs: list[Mapping[str, Any]], proven_digest: int | None,
                coupon_id: int, coupon: Mapping[str, Any]) -> None:
    """Replay the edition's `CouponSold` logs (from the trusted node) into its sales
    digest; when it equals the proven `sales_digest`, the logs are the sales the
    contract hashed, and the coupon's own sale proves the JSON's sale fields."""
    from couponchain.domain.edition_slots import sales_digest_step

    digest, sale = bytes(32), None
    ordered = sorted(logs, key=lambda e: (int(e["blockNumber"], 16), int(e["logIndex"], 16)))
    for entry in ordered:
        topics, data = entry["topics"], bytes.fromhex(str(entry["data"])[2:])
        words = [int.from_bytes(data[i:i + 32], "big") for i in range(0, len(data), 32)]
        if len(topics) != 4 or len(words) != 6:
            continue
        cid, buyer = int(topics[2], 16), to_checksum_address("0x" + topics[3][-40:])
        _serial, price, channel, order_ref, sold_at, seller_word = words
        seller = to_checksum_address(seller_word.to_bytes(20, "big"))
        ref = order_ref.to_bytes(32, "big")
        digest = sales_digest_step(digest, cid, buyer, price, channel, ref, sold_at, seller)
        if cid == coupon_id:
            sale = {"price_paid": price, "seller": seller, "order_ref_hash": "0x" + ref.hex()}
    proven = None if proven_digest is None else proven_digest.to_bytes(32, "big")
    out.add("sales replayed from the node's CouponSold logs = proven sales_digest",
            None if proven is None else "0x" + proven.hex(), "0x" + digest.hex(),
            note=f"{len(ordered)} sales")
    if sale is None:
        out.add("the coupon's sale is among the edition's sales", coupon_id, None, False)
        return
    for name in SALE_FIELDS:
        shown = coupon.get(name)
        expected = sale[name]
        if isinstance(expected, str):
            out.add(f"json {name}", expected.lower(), str(shown).lower())
        else:
            out.add(f"json {name}", expected, shown)
