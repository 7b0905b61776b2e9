"""Checking what the platform shows of an item's past (awards, claims, paths,
rebates) against the pinned contract's logs (no I/O).

Storage holds an item's present; its past is in the contract's events. After the
storage checks held, `couponchain verify` asks the trusted node for the pinned
contract's logs of the item up to the proven block (`EventPlan.filters`), and
each log is proven three ways before it is believed:

- it is in its block's receipts, which rebuild the `receiptsRoot` of that block's
  header (`coupon_check.check_receipts`);
- that header is an ancestor of the proven block: where the chain keeps EIP-2935's
  history contract (Prague; geth), its hash is read from that contract's storage,
  proven against the proven block's state root (`check_history_hashes`), for
  blocks up to 8191 back; elsewhere (Hardhat, or older blocks) the headers from
  the oldest log's block up to the proven block hash into each other's
  `parentHash`, ending at the proven block's hash (`check_ancestry`). Either way a
  header from a fork (or from a node that answers another chain for old blocks)
  is refused;
- the set of logs agrees with what storage commits to (`EventPlan.compare`: one
  `Awarded` per award, a `Claimed` exactly when the proven status is claimed, as
  many `Transferred` as the proven transfer count, ...).

Then each field of the JSON is compared with the log (times are the block's
time from the proven header, or the time the event itself carries).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from eth_utils import keccak

from couponchain.chain.proofs import ProofError, verify_account, verify_storage
from couponchain.chain.verification import Outcome, address_of, iso

#: How many blocks back from the proven block `check_ancestry` walks by default
#: (`verify --max-ancestry-blocks`): beyond it the ancestry of older logs is listed as
#: not proven. The walk costs one header a block, about 1 ms each from a local node on
#: a busy machine, so the default keeps it well under a second.
MAX_ANCESTRY_BLOCKS = 256

#: EIP-2935 (Prague): a system contract keeps the last HISTORY_SERVE_WINDOW block hashes
#: in its storage, block n's hash (a 32-byte word) at slot n % HISTORY_SERVE_WINDOW.
#: Before a block's transactions, its `set` routine stores the parent's hash at slot
#: (number - 1) % 8191 (the code below: `5f35 611fff 6001 43 03 06 55`), so the state
#: after block B holds the hashes of blocks B - 8191 ... B - 1.
HISTORY_STORAGE_ADDRESS = "0x0000F90827F1C53a10cb7A02335B175320002935"
HISTORY_SERVE_WINDOW = 8191
#: The contract's code as EIP-2935 publishes it: a node whose account there has other
#: code (Hardhat deploys a stub that reverts) is not keeping the history.
HISTORY_STORAGE_CODE = bytes.fromhex(
    "3373fffffffffffffffffffffffffffffffffffffffe14604657602036036042575f35600143038111604257"
    "611fff81430311604257611fff9006545f5260205ff35b5f5ffd5b5f35611fff60014303065500")
HISTORY_CODE_HASH = "0x" + keccak(HISTORY_STORAGE_CODE).hex()


@dataclass(frozen=True)
class Event:
    """One decoded log of the pinned contract."""

    name: str
    args: dict[str, Any]
    block: int
    log_index: int
    tx_hash: str


#: (contract, key, item, proven storage, proven block number as hex) -> eth_getLogs filters.
Filters = Callable[[str, tuple[Any, ...], Mapping[str, Any], Mapping[str, int | None], str],
                   list[dict[str, Any]]]
#: (outcome, key, item, events in chain order, block times) -> the JSON fields compared.
Compare = Callable[[Outcome, tuple[Any, ...], Mapping[str, Any], list[Event], Mapping[int, int]],
                   set[str]]


@dataclass(frozen=True)
class EventPlan:
    """Which logs prove an item's past, and how the JSON compares with them."""

    filters: Filters
    compare: Compare


def decode(contract_name: str, logs: list[Mapping[str, Any]]) -> list[Event]:
    """The logs as events of `contract_name`, in chain order (unknown ones dropped)."""
    from couponchain.chain import contracts

    code = contracts.load(contract_name)
    events: list[Event] = []
    for log in logs:
        topics = [bytes.fromhex(str(t)[2:]) for t in log.get("topics", [])]
        decoded = code.decode_log(topics, bytes.fromhex(str(log.get("data", "0x"))[2:]))
        if decoded is not None:
            events.append(Event(decoded[0], decoded[1], int(log["blockNumber"], 16),
                                int(log["logIndex"], 16), str(log["transactionHash"]).lower()))
    return sorted(events, key=lambda e: (e.block, e.log_index))


def in_history_window(proven_number: int, numbers: list[int]) -> list[int]:
    """The blocks among `numbers` whose hashes the history contract holds in the state
    after the proven block (at most HISTORY_SERVE_WINDOW back, the proven one excluded)."""
    return sorted({n for n in numbers if proven_number - HISTORY_SERVE_WINDOW <= n < proven_number})


def history_slot(number: int) -> str:
    """The history contract's storage slot of block `number`'s hash, as eth_getProof takes it."""
    return "0x" + (number % HISTORY_SERVE_WINDOW).to_bytes(32, "big").hex()


def check_history_hashes(out: Outcome, proven: Mapping[str, Any], answer: Any,
                         headers: Mapping[int, Mapping[str, Any]], numbers: list[int],
                         engine: str = "ethash") -> list[int] | None:
    """Each header of `numbers` hashes (as `engine` does) to the hash the history
    contract holds for its number in the proven block's state (`answer`: the trusted
    node's eth_getProof of the contract at the proven block, every slot of `numbers`),
    which makes it an ancestor of the proven block. Returns the blocks proven so (a
    zero slot: a block before the contract kept hashes, left to the header walk), or
    None when the node says the contract is not there (then the walk does it all:
    a node that hides it costs time, never a false pass)."""
    from couponchain.chain import consensus

    if not isinstance(answer, Mapping) \
            or str(answer.get("codeHash", "")).lower() != HISTORY_CODE_HASH:
        return None
    top = int(str(proven["number"]), 16)
    claim = (f"history blocks {numbers[0]}–{numbers[-1]} are ancestors of the proven block "
             f"(their hashes in the EIP-2935 history contract at block {top})")
    try:
        storage_root = verify_account(bytes.fromhex(str(proven["stateRoot"])[2:]), answer)
        stored = {int(str(e["key"]), 16): e["proof"] for e in answer.get("storageProof") or []}
        values = {n: verify_storage(storage_root, n % HISTORY_SERVE_WINDOW,
                                    stored[n % HISTORY_SERVE_WINDOW]) for n in numbers}
    except (ProofError, KeyError, ValueError, TypeError) as exc:
        out.add(claim, "a proof of each block's slot", None, False,
                f"the history contract's proof does not hold: {exc}")
        return []
    kept = [n for n in numbers if values[n]]
    broken: list[int] = []
    for n in kept:
        try:
            computed = int.from_bytes(consensus.block_hash(headers[n], engine), "big")
        except (KeyError, ValueError, TypeError):
            computed = None
        if computed != values[n]:
            broken.append(n)
    if kept:
        out.add(claim, [], broken,
                note=f"block {broken[0]}'s header does not hash to the hash the proven state "
                     "holds for it (a header from a fork?)" if broken else "")
    return kept


def check_ancestry(out: Outcome, proven: Mapping[str, Any],
                   headers: Mapping[int, Mapping[str, Any]], lowest: int,
                   limit: int = MAX_ANCESTRY_BLOCKS, engine: str = "ethash") -> int:
    """The headers from `lowest` up to the proven block form one chain ending at the
    proven block's hash (each hashed as `engine` does); returns the lowest block whose
    ancestry is proven (blocks below it, more than `limit` back, are left to the
    caller to list)."""
    from couponchain.chain import consensus

    top = int(str(proven["number"]), 16)
    start = max(lowest, top - limit)
    # The proven block's header is checked already (its hash, and that it is the trusted
    # node's); each older header must hash to the parentHash of the one above it.
    child = str(proven.get("parentHash")).lower()
    broken: list[int] = []
    for number in range(top - 1, start - 1, -1):
        header = headers.get(number)
        try:
            computed = "0x" + consensus.block_hash(header, engine).hex() \
                if header is not None else None
        except (KeyError, ValueError, TypeError):
            computed = None
        if computed is None or computed != child:
            broken.append(number)
            break
        child = str(header.get("parentHash")).lower() if header is not None else ""
    out.add(f"history blocks {start}–{top - 1} are ancestors of the proven block "
            "(parentHash chain)", [], broken,
            note=f"block {broken[0]}'s header is not the parent of the next one "
                 "(a header from a fork?)" if broken else "")
    return start


def blocks_to_walk(proven_number: int, lowest: int,
                   limit: int = MAX_ANCESTRY_BLOCKS) -> list[int]:
    """The block numbers whose headers `check_ancestry` needs."""
    return list(range(max(lowest, proven_number - limit), proven_number))


def _topic(value: int) -> str:
    return "0x" + value.to_bytes(32, "big").hex()


def _event_topic(contract: str, name: str) -> str:
    from couponchain.chain import contracts

    code = contracts.load(contract)
    return "0x" + next(t for t, spec in code.events.items() if spec.name == name).hex()


def _same_entry(out: Outcome, claim: str, want: Mapping[str, Any],
                got: Mapping[str, Any]) -> None:
    differ = [k for k, v in want.items()
              if (str(v).lower() != str(got.get(k)).lower() if isinstance(v, str)
                  else v != got.get(k))]
    out.add(claim, {k: want[k] for k in differ} or "as the log",
            {k: got.get(k) for k in differ} or "as the log", not differ,
            "differs in " + ", ".join(differ) if differ else "")


# -- prize awards ---------------------------------------------------------------------

def _award_filters(contract: str, key: tuple[Any, ...], item: Mapping[str, Any],
                   proven: Mapping[str, int | None], to_block: str) -> list[dict[str, Any]]:
    names = ("Awarded", "Claimed", "AwardRevoked")
    return [{"address": contract, "fromBlock": "0x0", "toBlock": to_block,
             "topics": [[_event_topic("prizes", n) for n in names], _topic(key[0])]}]


def _award_events(out: Outcome, key: tuple[Any, ...], item: Mapping[str, Any],
                  events: list[Event], times: Mapping[int, int]) -> set[str]:
    word = out.proven.get("award") or 0
    status = (word >> 160) & 0xFF
    by = {n: [e for e in events if e.name == n] for n in ("Awarded", "Claimed", "AwardRevoked")}
    out.add("the award has one Awarded event (trusted node, pinned contract)", 1,
            len(by["Awarded"]))
    if len(by["Awarded"]) == 1:
        a = by["Awarded"][0]
        out.add("the Awarded event is the proven award's (consumer, campaign, prize)",
                (address_of(word), word >> 176, (word >> 168) & 0xFF),
                (a.args.get("consumer"), a.args.get("campaign_id"), a.args.get("prize_index")))
        _same_entry(out, "json awarded_at, awarded_block, awarded_tx are the Awarded log's",
                    {"awarded_at": iso(times.get(a.block)), "awarded_block": a.block,
                     "awarded_tx": a.tx_hash}, item)
    for name, proven_status, fields in (
            ("Claimed", 2, ("claimed_at", "claimed_by", "claim_tx")),
            ("AwardRevoked", 3, ("revoke_tx", "revoked_at", "revoked_reason"))):
        found = by[name]
        out.add(f"{name} events: one exactly when the proven status says so",
                1 if status == proven_status else 0, len(found))
        if len(found) == 1 and name == "Claimed":
            c = found[0]
            _same_entry(out, "json claimed_at, claimed_by, claim_tx are the Claimed log's",
                        {"claimed_at": iso(c.args.get("claimed_at")),
                         "claimed_by": c.args.get("terminal"), "claim_tx": c.tx_hash}, item)
        elif len(found) == 1:
            _award_revoked(out, word, found[0], item, times)
        elif not found:
            article = "an" if name[0] in "AEIOU" else "a"
            _same_entry(out, f"json {', '.join(fields)}: none without {article} {name} event",
                        dict.fromkeys(fields), item)
    compared = {"awarded_at", "awarded_block", "awarded_tx", "claimed_at", "claimed_by",
                "claim_tx", "revoke_tx", "revoked_at"}
    # Without a revocation the reason is proven absent; with one it is not proven.
    return compared | ({"revoked_reason"} if not by["AwardRevoked"] else set())


#: The NOT PROVEN line of a revoked award's reason: the contract does not log it.
REVOKED_REASON_NOT_PROVEN = ("revoked_reason (the AwardRevoked event carries neither the "
                             "reason nor its hash: the platform keeps it off chain)")


def _award_revoked(out: Outcome, word: int, e: Event, item: Mapping[str, Any],
                   times: Mapping[int, int]) -> None:
    """The AwardRevoked log is the proven award's; the revocation's transaction and
    time (its block's, from the proven header) are the log's. The event has no
    reason (nor its hash), so the reason shown stays NOT PROVEN."""
    out.add("the AwardRevoked event is the proven award's (consumer, campaign, prize)",
            (address_of(word), word >> 176, (word >> 168) & 0xFF),
            (e.args.get("consumer"), e.args.get("campaign_id"), e.args.get("prize_index")))
    _same_entry(out, "json revoke_tx, revoked_at are the AwardRevoked log's (its block's time)",
                {"revoke_tx": e.tx_hash, "revoked_at": iso(times.get(e.block))}, item)
    out.not_proven = [f for f in out.not_proven if f != "revoked_reason"]
    out.not_proven.append(REVOKED_REASON_NOT_PROVEN)


AWARD_EVENTS = EventPlan(_award_filters, _award_events)


# -- promotion coupons ----------------------------------------------------------------

_PATH_EVENTS = ("Transferred", "WrittenOff", "WriteOffReversed", "PoolDistributed")


def _path_filters(contract: str, key: tuple[Any, ...], item: Mapping[str, Any],
                  proven: Mapping[str, int | None], to_block: str) -> list[dict[str, Any]]:
    (coupon_id,) = key
    origin = proven.get("origin") or 0
    filters = [{"address": contract, "fromBlock": "0x0", "toBlock": to_block,
                "topics": [[_event_topic("promotions", n) for n in _PATH_EVENTS],
                           _topic(coupon_id)]}]
    if origin:  # the grant names the round (topic 1), the coupon is in its id range
        filters.append({"address": contract, "fromBlock": "0x0", "toBlock": to_block,
                        "topics": [_event_topic("promotions", "Granted"), _topic(origin >> 160),
                                   _topic(origin & (2**160 - 1))]})
    return filters


def _path_entry(e: Event, times: Mapping[int, int]) -> dict[str, Any]:
    a = e.args
    sender, receiver, by, amount = {
        "Granted": (a.get("merchant"), a.get("consumer"), a.get("merchant"), None),
        "Transferred": (a.get("sender"), a.get("receiver"), a.get("sender"), None),
        "WrittenOff": (a.get("holder"), a.get("merchant"), a.get("operator"), a.get("incentive")),
        "WriteOffReversed": (a.get("merchant"), a.get("holder"), a.get("operator"),
                             a.get("refund")),
        "PoolDistributed": (None, None, a.get("platform"), a.get("pool")),
    }[e.name]
    action = {"Granted": "granted", "Transferred": "transferred", "WrittenOff": "written_off",
              "WriteOffReversed": "reversed", "PoolDistributed": "distributed"}[e.name]
    return {"action": action, "from": sender, "to": receiver, "by": by, "amount": amount,
            "at": iso(times.get(e.block)), "tx_hash": e.tx_hash, "block_number": e.block}


def _path_events(out: Outcome, key: tuple[Any, ...], item: Mapping[str, Any],
                 events: list[Event], times: Mapping[int, int]) -> set[str]:
    (coupon_id,) = key
    holding = out.proven.get("holding") or 0
    status, transfers = (holding >> 160) & 0xFF, (holding >> 168) & 0xFF
    mine = [e for e in events if e.name != "Granted"
            or int(e.args.get("first_id", 0)) <= coupon_id <= int(e.args.get("last_id", -1))]
    count = {n: sum(1 for e in mine if e.name == n) for n in ("Granted", *_PATH_EVENTS)}
    out.add("path events agree with storage (granted once, one Transferred per proven "
            "transfer, write-offs less reversals, distributed only when distributed)",
            (1 if status else 0, transfers, 1 if status in (2, 3) else 0,
             1 if status == 3 else 0),
            (count["Granted"], count["Transferred"],
             count["WrittenOff"] - count["WriteOffReversed"], count["PoolDistributed"]))
    expected = [_path_entry(e, times) for e in mine]
    shown = item.get("path") if isinstance(item.get("path"), list) else []
    out.add("path has one entry per event of the coupon on the trusted node", len(expected),
            len(shown or []))
    for i, (want, got) in enumerate(zip(expected, shown or [], strict=False)):
        _same_entry(out, f"path[{i}] ({want['action']}) is the trusted node's log", want,
                    got if isinstance(got, Mapping) else {})
    granted = next((e for e in expected if e["action"] == "granted"), None)
    written = [e for e in mine if e.name == "WrittenOff"]
    out.same("json granted_at (the Granted log's block time)",
             granted["at"] if granted else None, item.get("granted_at"))
    order = int(written[-1].args["order_amount"]) if status in (2, 3) and written else None
    out.add("json order_amount (the last WrittenOff log's)", order, item.get("order_amount"))
    out.not_proven = [f for f in out.not_proven if not f.startswith("path: its times")]
    out.not_proven.append("path: the names of its actors (by_name)")
    return {"granted_at", "order_amount"}


PATH_EVENTS = EventPlan(_path_filters, _path_events)


# -- referral holdings ----------------------------------------------------------------

def _rebate_filters(contract: str, key: tuple[Any, ...], item: Mapping[str, Any],
                    proven: Mapping[str, int | None], to_block: str) -> list[dict[str, Any]]:
    product_id, account = key
    who = _topic(int(account, 16))
    batch = proven.get("product_batch_count") or 0
    # Every purchase of the product (the promoter's are among them; the current batch's
    # are summed into its payouts), the account's settlements, and the current batch's
    # opening and closing (the batch is topic 2, from the proven batch count).
    return [
        {"address": contract, "fromBlock": "0x0", "toBlock": to_block,
         "topics": [_event_topic("referrals", "Purchased"), _topic(product_id)]},
        {"address": contract, "fromBlock": "0x0", "toBlock": to_block,
         "topics": [_event_topic("referrals", "Settled"), _topic(product_id), who]},
        {"address": contract, "fromBlock": "0x0", "toBlock": to_block,
         "topics": [[_event_topic("referrals", n) for n in ("BatchOpened", "BatchClosed")],
                    _topic(product_id), _topic(batch)]},
        {"address": contract, "fromBlock": "0x0", "toBlock": to_block,
         "topics": [_event_topic("referrals", "ProductRegistered"), _topic(product_id)]},
    ]


def _rebate_events(out: Outcome, key: tuple[Any, ...], item: Mapping[str, Any],
                   events: list[Event], times: Mapping[int, int]) -> set[str]:
    product_id, account = key
    promoted = [e for e in events if e.name == "Purchased"
                and str(e.args.get("promoter")).lower() == account.lower()]
    settled = sum(int(e.args["amount"]) for e in events if e.name == "Settled"
                  and str(e.args.get("account")).lower() == account.lower())
    promoter = sum(int(e.args["promoter_amount"]) for e in promoted)
    shown = item.get("rebates") if isinstance(item.get("rebates"), Mapping) else {}
    rebates: Mapping[str, Any] = shown or {}
    pending = _pending(out)
    out.add("json rebates.promoter (the account's Purchased logs as promoter)", promoter,
            rebates.get("promoter"))
    out.add("json rebates.holder_settled (the account's Settled logs)", settled,
            rebates.get("holder_settled"))
    holder = None if pending is None else settled + pending
    out.add("json rebates.holder (settled + the proven pending)", holder, rebates.get("holder"))
    out.add("json rebates.total (promoter + holder)",
            None if holder is None else promoter + holder, rebates.get("total"))
    out.add("json promoted_sales (the Purchased logs naming the account as promoter)",
            len(promoted), item.get("promoted_sales"))
    out.not_proven = [f for f in out.not_proven if not f.startswith("rebates: promoter")]
    # The account's units per batch: its Purchased logs as buyer, as the indexer adds them.
    bought: dict[int, int] = {}
    for e in events:
        if e.name == "Purchased" and str(e.args.get("buyer")).lower() == account.lower():
            bought[int(e.args["batch"])] = bought.get(int(e.args["batch"]), 0) \
                + int(e.args["quantity"])
    out.add("json units_by_batch (the account's Purchased logs as buyer)",
            [{"batch": b, "units": u} for b, u in sorted(bought.items())],
            item.get("units_by_batch"))
    registered = [e for e in events if e.name == "ProductRegistered"]
    out.add("the product has one ProductRegistered event (trusted node, pinned contract)", 1,
            len(registered))
    if len(registered) == 1:
        r = registered[0]
        content = out.proven.get("product_content_hash")
        out.add("the ProductRegistered event is of the proven originator and content hash",
                (address_of(out.proven.get("product_originator")),
                 None if content is None else content.to_bytes(32, "big")),
                (r.args.get("originator"), r.args.get("content_hash")))
        _same_entry(out, "json registered_at, registered_block, registered_tx are the "
                    "ProductRegistered log's",
                    {"registered_at": iso(times.get(r.block)), "registered_block": r.block,
                     "registered_tx": r.tx_hash}, item)
    _batch_events(out, key, item, events, times)
    return {"promoted_sales", "units_by_batch", "registered_at", "registered_block",
            "registered_tx"}


def _batch_events(out: Outcome, key: tuple[Any, ...], item: Mapping[str, Any],
                  events: list[Event], times: Mapping[int, int]) -> None:
    """The current batch's opening, payouts and dust from its logs, as the platform's
    indexer sums them: one BatchOpened (its terms the proven ones), the batch's
    Purchased logs summing to the proven sold, revenue and rebates (so none is left
    out or added), and a BatchClosed exactly when the proven batch is closed."""
    from couponchain.chain.capability_check import CURRENT_NOT_PROVEN

    product_id, _ = key
    p = out.proven
    batch = p.get("product_batch_count") or 0
    shown = item.get("current") if isinstance(item.get("current"), Mapping) else {}
    current: Mapping[str, Any] = shown or {}
    mine = [e for e in events if int(e.args.get("product_id", -1)) == product_id
            and int(e.args.get("batch", -1)) == batch]
    opened = [e for e in mine if e.name == "BatchOpened"]
    closed = [e for e in mine if e.name == "BatchClosed"]
    bought = [e for e in mine if e.name == "Purchased"]
    out.add(f"batch {batch} has one BatchOpened event (trusted node, pinned contract)", 1,
            len(opened))
    if len(opened) == 1:
        o = opened[0]
        terms = ("price", "circulation", "rebate_bps", "promoter_share_bps")
        out.add("the BatchOpened event is of the proven batch's terms",
                tuple(p.get(f"current_{m}") for m in terms),
                tuple(o.args.get(m) for m in terms))
        _same_entry(out, "json current.opened_at, opened_block, opened_tx are the "
                    "BatchOpened log's",
                    {"opened_at": iso(times.get(o.block)), "opened_block": o.block,
                     "opened_tx": o.tx_hash}, current)
    out.add(f"batch {batch}'s Purchased logs sum to its proven sold, revenue and rebates",
            tuple(p.get(f"current_{m}") for m in ("sold", "revenue", "rebates")),
            tuple(sum(int(e.args[m]) for e in bought) for m in ("quantity", "amount", "rebate")))
    out.add(f"batch {batch}: a BatchClosed event exactly when the proven batch is closed",
            1 if p.get("current_closed") else 0, len(closed))
    flushed = sum(int(e.args["dust"]) for e in closed)
    paid = {m: sum(int(e.args[f"{m}_amount"]) for e in bought)
            for m in ("promoter", "holders", "originator")}
    # On sell-out the contract adds the holders' leftover buffer to the originator's part.
    left = sum(int(e.args["originator_amount"]) - (int(e.args["amount"]) - int(e.args["rebate"]))
               for e in bought)
    _same_entry(out, "json current.promoter_paid, holders_paid, originator_paid, dust are "
                "the batch's logs' sums",
                {"promoter_paid": paid["promoter"], "holders_paid": paid["holders"],
                 "originator_paid": paid["originator"] + flushed, "dust": left + flushed},
                current)
    out.not_proven = [f for f in out.not_proven if f != CURRENT_NOT_PROVEN]


def _pending(out: Outcome) -> int | None:
    from couponchain.chain.capability_check import _owed

    return _owed(out.proven)


REBATE_EVENTS = EventPlan(_rebate_filters, _rebate_events)


# -- reports --------------------------------------------------------------------------

def _report_filters(contract: str, key: tuple[Any, ...], item: Mapping[str, Any],
                    proven: Mapping[str, int | None], to_block: str) -> list[dict[str, Any]]:
    chain_id = item.get("chain_report_id")
    number = chain_id if isinstance(chain_id, int) and chain_id > 0 else 0
    return [{"address": contract, "fromBlock": "0x0", "toBlock": to_block,
             "topics": [_event_topic("marketing", "ReportPublished"), _topic(number)]}]


def _report_events(out: Outcome, key: tuple[Any, ...], item: Mapping[str, Any],
                   events: list[Event], times: Mapping[int, int]) -> set[str]:
    published = [e for e in events if e.name == "ReportPublished"]
    out.add("the report has one ReportPublished event (trusted node, pinned contract)", 1,
            len(published))
    if len(published) != 1:
        return set()
    e = published[0]
    proven_hash = out.proven.get("report_hash")
    out.add("the ReportPublished event is of the proven report hash",
            None if proven_hash is None else proven_hash.to_bytes(32, "big"),
            e.args.get("report_hash"))
    sources: list[tuple[str, int]] = [
        (str(a), int(b)) for a, b in zip(e.args.get("source_submitters") or [],
                                         e.args.get("source_batch_ids") or [], strict=False)]
    shown = item.get("sources") if isinstance(item.get("sources"), list) else None
    same = isinstance(shown, list) and len(shown) == len(sources) and all(
        isinstance(s, list) and len(s) == 2 and str(s[0]).lower() == a.lower() and s[1] == b
        for s, (a, b) in zip(shown, sources, strict=False))
    out.add("json sources are the ReportPublished event's (submitter, batch id)",
            [list(p) for p in sources], shown, same)
    _same_entry(out, "json tx_hash, block_number are the ReportPublished log's",
                {"tx_hash": e.tx_hash, "block_number": e.block}, item)
    return {"sources", "tx_hash", "block_number"}


REPORT_EVENTS = EventPlan(_report_filters, _report_events)
