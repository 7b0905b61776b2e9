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

from collections.abc import Mapping
from typing import Any

from eth_utils import keccak, to_checksum_address

from couponchain.chain.verification import (
    CheckError,
    Outcome,
    Trusted,
    check_block,
    check_contract,
    create_address,
    iso,
    prove_slots,
)
from couponchain.domain.edition_slots import (
    MAX_SERIAL,
    Channel,
    CouponStatus,
    EditionsLayout,
    coupon_id_of,
    decode_coupon_word,
    decode_string,
    verification_slots,
)

__all__ = ["NOT_PROVEN", "CheckError", "Outcome", "Trusted", "check_coupon", "check_history",
           "check_receipts", "check_sales", "create_address", "history_filters", "parse_serial",
           "sold_logs_filter"]

#: Fields of the coupon JSON the contract's storage does not hold: shown, never proven.
#: (`check_sales` and `check_history` take theirs off when they hold.)
NOT_PROVEN = (
    "price_paid", "seller", "order_ref_hash", "tx_hash", "block_number", "owner_id",
    "history", "edition.merchant_id", "edition.reserved",
    "edition.remaining", "edition.registered_block", "edition.registered_tx",
)


def parse_serial(serial: str) -> tuple[str, int]:
    """(prefix, number) of `PREFIX-NUMBER`; CheckError otherwise."""
    prefix, _, number = serial.rpartition("-")
    if not prefix or not prefix.isascii() or not number.isdigit() \
            or not 1 <= int(number) <= MAX_SERIAL:
        raise CheckError(f"{serial!r} is not a serial (PREFIX-NUMBER, e.g. LATTE-000042)")
    return prefix, int(number)




def check_coupon(serial: str, proof: Mapping[str, Any], coupon: Mapping[str, Any],
                 layout: EditionsLayout, trusted: Trusted) -> Outcome:
    """Check the coupon `serial` (as asked for) from the API's `/proof` answer and
    JSON against the trust anchor and node in `trusted`; one verdict per check."""
    prefix, number = parse_serial(serial)
    out = Outcome(anchored=trusted.block is not None, not_proven=list(NOT_PROVEN))
    check_block(out, proof["block"], trusted)
    storage_root = check_contract(out, proof, trusted, nonce_key="editions_nonce")
    if storage_root is None:
        return out
    edition_id = int(proof["edition_id"])
    slots = verification_slots(layout, edition_id, number, prefix)
    prove_slots(out, storage_root, slots, proof["storage"], "serial")
    proven = out.proven
    # The serial asked for names the edition (prefix) and the coupon (number).
    out.add("prefix names the edition proven", edition_id, proven["edition_by_prefix"])
    out.add("answer is about the serial asked for", serial, proof.get("serial"))
    out.add("coupon id is the serial asked for", coupon_id_of(edition_id, number),
            proof.get("coupon_id"))
    _check_json(out, serial, edition_id, coupon, proven)
    return out


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
    out.add("json sold_at", iso(decoded.sold_at) if decoded else None, coupon.get("sold_at"))
    edition = coupon.get("edition") or {}
    merchant = proven.get("merchant")
    out.add("json edition.merchant",
            None if merchant is None else to_checksum_address(merchant.to_bytes(20, "big")),
            edition.get("merchant"))
    for name, key in (("total_pieces", "cap"), ("sold", "sold"), ("voided", "voided"),
                      ("redeemed", "redeemed"), ("price", "price")):
        out.add(f"json edition.{name}", proven.get(key), edition.get(name))
    for name in ("valid_from", "valid_until"):
        out.add(f"json edition.{name}", iso(proven.get(name)), edition.get(name))
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
    out.not_proven = [f for f in out.not_proven if f not in SALE_FIELDS]
    for name in SALE_FIELDS:
        shown = coupon.get(name)
        expected = sale[name]
        if isinstance(expected, str):
            out.add(f"json {name}", expected.lower(), str(shown).lower())
        else:
            out.add(f"json {name}", expected, shown)


def _topic(signature: bytes) -> str:
    return "0x" + keccak(signature).hex()


COUPON_TRANSFERRED = _topic(b"CouponTransferred(uint256,address,address,uint256)")
COUPON_REDEEMED = _topic(b"CouponRedeemed(uint256,uint256,address,address)")
COUPON_VOIDED = _topic(b"CouponVoided(uint256,uint256,address,address)")
_ACTIONS = {COUPON_SOLD: "sold", COUPON_TRANSFERRED: "transferred",
            COUPON_REDEEMED: "redeemed", COUPON_VOIDED: "voided"}


def history_filters(contract: str, coupon_id: int, to_block: str) -> list[dict[str, Any]]:
    """The `eth_getLogs` filters for every event of one coupon up to the proven block:
    sale, redemption and void (coupon id in topic 2), transfers (in topic 1)."""
    edition_id, coupon = coupon_id >> 32, "0x" + coupon_id.to_bytes(32, "big").hex()
    edition = "0x" + edition_id.to_bytes(32, "big").hex()
    return [
        {"address": contract, "fromBlock": "0x0", "toBlock": to_block,
         "topics": [[COUPON_SOLD, COUPON_REDEEMED, COUPON_VOIDED], edition, coupon]},
        {"address": contract, "fromBlock": "0x0", "toBlock": to_block,
         "topics": [COUPON_TRANSFERRED, coupon]},
    ]


def _entry(log: Mapping[str, Any], timestamps: Mapping[int, int]) -> dict[str, Any] | None:
    """A history entry as the API shows it, from one of the coupon's logs."""
    topics = [str(t).lower() for t in log.get("topics", [])]
    action = _ACTIONS.get(topics[0]) if topics else None
    if action is None or len(topics) != 4:
        return None
    data = bytes.fromhex(str(log.get("data", "0x"))[2:])
    words = [int.from_bytes(data[i:i + 32], "big") for i in range(0, len(data), 32)]

    def address(word: str | int) -> str:
        raw = int(word, 16) if isinstance(word, str) else word
        return to_checksum_address(raw.to_bytes(32, "big")[12:])
    block = int(log["blockNumber"], 16)
    if action == "sold":
        sender, receiver, by = None, address(topics[3]), address(words[5])
    elif action == "transferred":
        sender, receiver, by = address(topics[2]), address(topics[3]), address(topics[2])
    else:
        sender, receiver, by = address(topics[3]), None, address(words[0])
    return {"action": action, "from": sender, "to": receiver, "by": by,
            "at": iso(timestamps.get(block)), "tx_hash": str(log["transactionHash"]).lower(),
            "block_number": block}


def check_history(out: Outcome, logs: list[Mapping[str, Any]],
                  timestamps: Mapping[int, int], coupon: Mapping[str, Any]) -> None:
    """Each history entry of the coupon's JSON against the coupon's logs from the
    trusted node (`history_filters`, the pinned contract, up to the proven block),
    in chain order, with each block's time from the node; none may be added,
    dropped or altered."""
    ordered = sorted(logs, key=lambda e: (int(e["blockNumber"], 16), int(e["logIndex"], 16)))
    expected = [e for e in (_entry(log, timestamps) for log in ordered) if e is not None]
    shown = coupon.get("history")
    shown = shown if isinstance(shown, list) else []
    out.add("history has one entry per event of the coupon on the trusted node",
            len(expected), len(shown))
    for i, (want, got) in enumerate(zip(expected, shown, strict=False)):
        got = got if isinstance(got, Mapping) else {}
        differ = [k for k, v in want.items()
                  if (str(v).lower() != str(got.get(k)).lower() if isinstance(v, str)
                      else v != got.get(k))]
        out.add(f"history[{i}] ({want['action']}) is the trusted node's log",
                {k: want[k] for k in differ} or want["action"],
                {k: got.get(k) for k in differ} or got.get("action"), not differ,
                "differs in " + ", ".join(differ) if differ else "")
    out.not_proven = [f for f in out.not_proven if f not in ("history", "tx_hash",
                                                            "block_number")]
    sale = next((e for e in expected if e["action"] == "sold"), None)
    if sale is not None:
        out.add("json tx_hash", sale["tx_hash"], str(coupon.get("tx_hash")).lower())
        out.add("json block_number", sale["block_number"], coupon.get("block_number"))


def check_receipts(out: Outcome, logs: list[Mapping[str, Any]],
                   blocks: Mapping[int, Mapping[str, Any]],
                   receipts: Mapping[int, list[Mapping[str, Any]]],
                   engine: str = "auto") -> None:
    """Receipt proofs of the history's logs: each block's receipts (from the trusted
    node) rebuild the `receiptsRoot` of its header, whose hash is recomputed as the
    chain's engine hashes it (QBFT and IBFT 2.0 leave the seals out), and each of the
    coupon's logs is in its block's receipts."""
    from couponchain.chain import consensus
    from couponchain.chain.receipts import log_in_receipts, receipts_root

    for number in sorted(blocks):
        header, found = blocks[number], receipts.get(number) or []
        try:
            hashed = ("0x" + consensus.block_hash(header, consensus.engine_of(header, engine))
                      .hex() == str(header.get("hash")).lower())
            root = "0x" + receipts_root(found).hex()
        except (KeyError, ValueError, TypeError) as exc:
            out.add(f"block {number}: its receipts rebuild the header's receiptsRoot",
                    header.get("receiptsRoot"), None, False, str(exc))
            continue
        out.add(f"block {number}: its receipts rebuild the header's receiptsRoot",
                str(header.get("receiptsRoot")).lower(), root,
                hashed and root == str(header.get("receiptsRoot")).lower(),
                "" if hashed else "the header does not hash to its hash")
    missing = [int(log["logIndex"], 16) for log in logs
               if not log_in_receipts(log, receipts.get(int(log["blockNumber"], 16)) or [])]
    out.add("every history log is in its block's proven receipts", [], missing)
