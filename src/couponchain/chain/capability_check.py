"""Checking what the platform shows of promotions, prizes, referrals and reports
against the contracts' storage (no I/O).

Each `Capability` says which contract holds the item, which slots prove it
(computed from the item asked for and the compiler's layout, `storage_layout`;
a count the JSON claims only bounds how many slots are asked for, and is then
compared with the proven count) and how each field of the API's JSON compares
with the proven words. `check_item` runs the shared checks of `verification`
(block, pinned contract, storage proofs) and then the capability's comparison;
every JSON field no comparison used is listed as NOT PROVEN.

The packed words are decoded as the contracts pack them (their source comments
give the bit positions): promotions `_holding` holder (0-159) | status
(160-167) | transfers (168-175) | written-off time (176-255), `_origin` issuer
| round (160-), `_redemption` redeemer | pool (160-); prizes `_awards` consumer
| status (160-167) | prize index (168-175) | campaign (176-).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from eth_utils import keccak

from couponchain.chain.event_check import (
    AWARD_EVENTS,
    PATH_EVENTS,
    REBATE_EVENTS,
    REPORT_EVENTS,
    EventPlan,
)
from couponchain.chain.storage_layout import StorageLayout
from couponchain.chain.verification import (
    CheckError,
    Outcome,
    Trusted,
    address_of,
    check_block,
    check_contract,
    iso,
    prove_slots,
    word_hex,
)
from couponchain.domain.edition_slots import decode_string

Slots = dict[str, int]
_BYTE = 0xFF
#: A promotion coupon's path records at most this many transfers (the contract's bound).
MAX_EARLIER_HOLDERS = 16
#: Batches whose opening accumulator a referral check asks for (the newest ones).
MAX_BATCHES = 48


@dataclass(frozen=True)
class Capability:
    """How one kind of item is found, proven and compared."""

    #: The contract holding it, the item's name in messages, the API path of its JSON.
    contract: str
    what: str
    path: Callable[[tuple[Any, ...]], str]
    #: Named slots to prove, from the key asked for, the layout and the JSON's claims.
    slots: Callable[[StorageLayout, tuple[Any, ...], Mapping[str, Any]], Slots]
    #: Compares the JSON with `out.proven`; returns the JSON fields it compared.
    compare: Callable[[Outcome, tuple[Any, ...], Mapping[str, Any]], set[str]]
    #: The part of the API's answer that describes the item (None: all of it).
    select: Callable[[tuple[Any, ...], Mapping[str, Any]], Mapping[str, Any]] | None = None
    #: The logs that prove the item's past, checked once its storage is proven.
    events: EventPlan | None = None


def item_of(cap: Capability, key: tuple[Any, ...], answer: Mapping[str, Any]) -> Mapping[str, Any]:
    """The item's JSON within the API's answer; CheckError when it is not there."""
    return answer if cap.select is None else cap.select(key, answer)


def check_item(cap: Capability, key: tuple[Any, ...], item: Mapping[str, Any],
               proof: Mapping[str, Any], layout: StorageLayout, trusted: Trusted) -> Outcome:
    """Check one item's JSON against the proof answer and the trusted node."""
    out = Outcome(anchored=trusted.block is not None)
    check_block(out, proof["block"], trusted)
    out.add("answer is about the contract asked for", cap.contract, proof.get("contract_name"))
    if (proof.get("deployment") or {}).get("name") != cap.contract:
        out.add("deployment record names the contract asked for", cap.contract,
                (proof.get("deployment") or {}).get("name"), False)
        return out
    storage_root = check_contract(out, proof, trusted)
    if storage_root is None:
        return out
    prove_slots(out, storage_root, cap.slots(layout, key, item), proof.get("storage") or [],
                cap.what)
    compared = cap.compare(out, key, item)
    out.not_proven = sorted(k for k in item if k not in compared) + out.not_proven
    return out


def _string(proven: Mapping[str, int | None], name: str, words: int) -> str | None:
    length = proven.get(f"{name}_length")
    data = [proven.get(f"{name}_{i}") for i in range(words)]
    if length is None or any(w is None for w in data):
        return None
    return decode_string(length, [w for w in data if w is not None])


def _string_slots(slots: Slots, name: str, first: int, max_bytes: int) -> None:
    """A storage `String[max_bytes]` at `first`: its length, then its data words."""
    slots[f"{name}_length"] = first
    for i in range((max_bytes + 31) // 32):
        slots[f"{name}_{i}"] = first + 1 + i


def _claimed_int(item: Mapping[str, Any], name: str, cap: int) -> int:
    value = item.get(name)
    return min(value, cap) if isinstance(value, int) and value > 0 else 0


# -- promotion coupons ------------------------------------------------------------------

_PROMOTION_STATUS = {1: "active", 2: "written_off", 3: "distributed"}


def _promotion_slots(layout: StorageLayout, key: tuple[Any, ...],
                     item: Mapping[str, Any]) -> Slots:
    (coupon_id,) = key
    path = item.get("path")
    moves = sum(1 for s in path if isinstance(s, Mapping) and s.get("action") == "transferred") \
        if isinstance(path, list) else 0
    transfers = max(_claimed_int(item, "transfers", MAX_EARLIER_HOLDERS),
                    min(moves, MAX_EARLIER_HOLDERS))
    slots = {name: layout.slot(var, coupon_id) for name, var in (
        ("holding", "_holding"), ("origin", "_origin"), ("redemption", "_redemption"))}
    slots["next_coupon_id"] = layout.base("next_coupon_id", "uint256")
    for k in range(transfers):
        slots[f"earlier_{k}"] = layout.slot("_earlier", coupon_id, k)
    return slots


def _promotion_compare(out: Outcome, key: tuple[Any, ...], item: Mapping[str, Any]) -> set[str]:
    (coupon_id,) = key
    p = out.proven
    holding, origin, redemption = p.get("holding"), p.get("origin"), p.get("redemption")
    out.same("json id", coupon_id, item.get("id"))
    if holding is None or origin is None or redemption is None:
        return {"id"}
    status, transfers = (holding >> 160) & _BYTE, (holding >> 168) & _BYTE
    issued = 0 < coupon_id < (p.get("next_coupon_id") or 0)
    name = _PROMOTION_STATUS.get(status, "issued" if issued else "none")
    out.same("json status", name, item.get("status"))
    compared = {"id", "status", "transfers", "path"}
    if status == 0:
        # Not granted yet: storage holds nothing of it but that its id was issued.
        out.same("json transfers", 0, item.get("transfers") or 0)
    else:
        out.same("json holder", address_of(holding), item.get("holder"))
        out.same("json round_id", origin >> 160, item.get("round_id"))
        out.same("json issuer", address_of(origin), item.get("issuer"))
        out.same("json transfers", transfers, item.get("transfers"))
        written_off_at = holding >> 176
        out.add("json written_off_at", iso(written_off_at or None), item.get("written_off_at"))
        compared |= {"holder", "round_id", "issuer", "written_off_at"}
    if status in (2, 3):
        out.same("json redeemer", address_of(redemption), item.get("redeemer"))
        out.same("json pool", redemption >> 160, item.get("pool"))
    else:
        # Not written off (or reversed): the contract holds no redemption record.
        out.add("json redeemer and pool: none before a write-off", (0, None, None),
                (redemption, item.get("redeemer"), item.get("pool")),
                redemption == 0 and item.get("redeemer") is None
                and item.get("pool") in (None, 0))
    compared |= {"redeemer", "pool"}
    shown_path = item.get("path")
    path = shown_path if isinstance(shown_path, list) else []
    senders = [s.get("from") for s in path
               if isinstance(s, Mapping) and s.get("action") == "transferred"]
    earlier = [address_of(p.get(f"earlier_{k}")) for k in range(transfers)]
    out.add("path: the senders of its transfers are the proven earlier holders",
            earlier, senders, len(earlier) == len(senders) and all(
                e is not None and isinstance(s, str) and e.lower() == s.lower()
                for e, s in zip(earlier, senders, strict=False)))
    out.not_proven.append("path: its times, amounts and transactions (the senders are proven)")
    return compared


PROMOTION_COUPON = Capability(
    contract="promotions", what="promotion coupon",
    path=lambda key: f"/v1/promotion-coupons/{key[0]}",
    slots=_promotion_slots, compare=_promotion_compare, events=PATH_EVENTS)


# -- prize awards ---------------------------------------------------------------------

_AWARD_STATUS = {1: "awarded", 2: "claimed", 3: "revoked"}


def _award_slots(layout: StorageLayout, key: tuple[Any, ...], item: Mapping[str, Any]) -> Slots:
    (award_id,) = key
    slots = {"award": layout.slot("_awards", award_id)}
    campaign, index = item.get("campaign_id"), item.get("prize_index")
    if isinstance(campaign, int) and isinstance(index, int) and campaign > 0 and index >= 0:
        for member in ("merchant", "starts", "ends"):
            slots[f"campaign_{member}"] = layout.slot("_campaigns", campaign, member=member)
        _string_slots(slots, "title", layout.slot("_campaigns", campaign, member="title"), 64)
        _string_slots(slots, "prize_name", layout.slot("_prize_names", campaign, index), 32)
    return slots


def _award_compare(out: Outcome, key: tuple[Any, ...], item: Mapping[str, Any]) -> set[str]:
    (award_id,) = key
    p = out.proven
    word = p.get("award")
    out.same("json id", award_id, item.get("id"))
    if not word:
        out.add("the award exists in the contract", award_id, None, False)
        return {"id"}
    out.same("json consumer", address_of(word), item.get("consumer"))
    out.same("json status", _AWARD_STATUS.get((word >> 160) & _BYTE), item.get("status"))
    out.same("json prize_index", (word >> 168) & _BYTE, item.get("prize_index"))
    out.same("json campaign_id", word >> 176, item.get("campaign_id"))
    out.same("json campaign_title", _string(p, "title", 2), item.get("campaign_title"))
    out.same("json prize_name", _string(p, "prize_name", 1), item.get("prize_name"))
    out.same("json claim_starts_at", iso(p.get("campaign_starts")), item.get("claim_starts_at"))
    out.same("json claim_ends_at", iso(p.get("campaign_ends")), item.get("claim_ends_at"))
    return {"id", "consumer", "status", "prize_index", "campaign_id", "campaign_title",
            "prize_name", "claim_starts_at", "claim_ends_at"}


PRIZE_AWARD = Capability(
    contract="prizes", what="prize award", path=lambda key: f"/v1/prize-awards/{key[0]}",
    slots=_award_slots, compare=_award_compare, events=AWARD_EVENTS)


# -- referral holdings ----------------------------------------------------------------

_HOLDING = ("eligible", "recent", "recent_batch", "checkpoint")
_PRODUCT = ("originator", "content_hash", "batch_count", "units_sold", "reward_per_unit")
#: The current batch's terms a holding shows (`current`): the price and the rebate terms
#: its originator opened it with (issue 27), and its counters, each a member of the
#: contract's `Batch` (`closed` is read for the status).
_TERMS = ("price", "rebate_bps", "promoter_share_bps", "circulation", "sold", "eligible_units",
          "revenue", "rebates")
#: What of `current` only the batch's logs prove (`event_check._batch_events`).
CURRENT_FROM_LOGS = ("promoter_paid", "holders_paid", "originator_paid", "dust", "opened_at",
                     "opened_block", "opened_tx")
#: The NOT PROVEN line for them, taken off once the logs are checked.
CURRENT_NOT_PROVEN = ("current: " + ", ".join(CURRENT_FROM_LOGS)
                      + " (from the batch's logs; proven only with a trusted node)")


def _holding_select(key: tuple[Any, ...], answer: Mapping[str, Any]) -> Mapping[str, Any]:
    product_id, account = key
    if str(answer.get("account", "")).lower() != account.lower():
        raise CheckError(f"the API's holdings are of {answer.get('account')}, not {account}: "
                         "use the API key of the account asked for")
    for product in answer.get("products") or []:
        if isinstance(product, Mapping) and product.get("id") == product_id:
            return {**product, "account": answer.get("account")}
    raise CheckError(f"unknown holding: the API shows no units of product {product_id} "
                     f"for {account}")


def _holding_slots(layout: StorageLayout, key: tuple[Any, ...],
                   item: Mapping[str, Any]) -> Slots:
    product_id, account = key
    slots = {m: layout.slot("_holdings", product_id, account, member=m) for m in _HOLDING}
    slots |= {f"product_{m}": layout.slot("_products", product_id, member=m) for m in _PRODUCT}
    _string_slots(slots, "product_name", layout.slot("_products", product_id, member="name"), 64)
    batches = _claimed_int(item, "current_batch", 2**32)
    for b in range(max(2, batches - MAX_BATCHES + 1), batches + 1):
        slots[f"opened_{b}"] = layout.slot("_batches", product_id, b,
                                           member="reward_per_unit_at_open")
    # The batch the JSON calls current; `current_batch` is compared with the proven count.
    slots |= {f"current_{m}": layout.slot("_batches", product_id, batches, member=m)
              for m in (*_TERMS, "closed")}
    return slots


def _holding_compare(out: Outcome, key: tuple[Any, ...], item: Mapping[str, Any]) -> set[str]:
    product_id, account = key
    p = out.proven
    out.same("json id", product_id, item.get("id"))
    out.same("json account", account, item.get("account"))
    eligible, recent = p.get("eligible"), p.get("recent")
    units = None if eligible is None or recent is None else eligible + recent
    out.same("json units", units, item.get("units"))
    out.same("json originator", address_of(p.get("product_originator")), item.get("originator"))
    out.same("json content_hash", word_hex(p.get("product_content_hash")),
             item.get("content_hash"))
    out.same("json name", _string(p, "product_name", 2), item.get("name"))
    out.same("json current_batch", p.get("product_batch_count"), item.get("current_batch"))
    # The contract's `holds_earlier_batch` (`_earlier_units` != 0), from the proven holding.
    recent_batch, batch_count = p.get("recent_batch"), p.get("product_batch_count")
    earlier = None if units is None or recent_batch is None or batch_count is None \
        else (units if recent_batch < batch_count else eligible)
    out.same("json may_promote (the contract's holds_earlier_batch)",
             None if earlier is None else earlier != 0, item.get("may_promote"))
    out.same("json units_sold", p.get("product_units_sold"), item.get("units_sold"))
    shown_current = item.get("current")
    current = shown_current if isinstance(shown_current, Mapping) else {}
    out.same("json current.batch", p.get("product_batch_count"), current.get("batch"))
    for m in _TERMS:
        out.same(f"json current.{m}", p.get(f"current_{m}"), current.get(m))
    circulation, sold, closed = (p.get(f"current_{m}") for m in ("circulation", "sold", "closed"))
    out.same("json current.remaining (circulation - sold)",
             None if circulation is None or sold is None else circulation - sold,
             current.get("remaining"))
    # As the platform shows it: closed by the originator, else sold out, else open.
    status = None if closed is None or circulation is None or sold is None \
        else "closed" if closed else "sold_out" if sold == circulation else "open"
    out.same("json current.status (closed, sold out or open)", status, current.get("status"))
    out.not_proven.append(CURRENT_NOT_PROVEN)
    shown_rebates = item.get("rebates")
    rebates = shown_rebates if isinstance(shown_rebates, Mapping) else {}
    out.same("json rebates.holder_pending (the contract's unsettled rebate)",
             _owed(p), rebates.get("holder_pending"))
    out.not_proven.append("rebates: promoter, holder, holder_settled, total (holder_pending "
                          "is proven)")
    return {"id", "account", "units", "originator", "content_hash", "current_batch",
            "units_sold", "rebates", "current", "name", "may_promote"}


def _owed(p: Mapping[str, int | None]) -> int | None:
    """The contract's `_owed`: what the holding earned since it last settled."""
    eligible, recent, recent_batch, checkpoint, per_unit, batch_count = (
        p.get(n) for n in ("eligible", "recent", "recent_batch", "checkpoint",
                           "product_reward_per_unit", "product_batch_count"))
    if None in (eligible, recent, recent_batch, checkpoint, per_unit, batch_count):
        return None
    assert eligible is not None and recent is not None and recent_batch is not None
    assert checkpoint is not None and per_unit is not None and batch_count is not None
    owed = eligible * (per_unit - checkpoint)
    if recent and recent_batch < batch_count:
        opened = p.get(f"opened_{recent_batch + 1}")
        if opened is None:
            return None
        owed += recent * (per_unit - opened)
    return owed


REFERRAL_HOLDING = Capability(
    contract="referrals", what="referral holding", path=lambda key: "/v1/holdings/me",
    slots=_holding_slots, compare=_holding_compare, select=_holding_select,
    events=REBATE_EVENTS)


# -- reports --------------------------------------------------------------------------

_REPORT = ("merchant", "rules_version", "rule_index", "report_hash", "period_start",
           "period_end", "trigger", "published_at")
#: The members of the marketing contract's `Rule` a report is checked against.
_RULE = ("merchant", "rules_version", "rule_index", "start", "period")


def _report_slots(layout: StorageLayout, key: tuple[Any, ...], item: Mapping[str, Any]) -> Slots:
    chain_id = item.get("chain_report_id")
    if not isinstance(chain_id, int) or chain_id < 1:
        raise CheckError(f"report {key[0]} is not published on chain (no chain_report_id)")
    slots = {m: layout.slot("_reports", chain_id, member=m) for m in _REPORT}
    # The rule and period it answers (`report_rule`); the JSON's rule id and period only
    # say which rule and period slots to ask for, and are compared with the proven ones.
    slots["report_rule"] = layout.slot("_report_rules", chain_id)
    slots["report_period"] = layout.slot("_report_periods", chain_id)
    rule_id, period = item.get("rule_id"), item.get("period")
    if isinstance(rule_id, int) and rule_id > 0:
        slots |= {f"rule_{m}": layout.slot("_rule_defs", rule_id, member=m) for m in _RULE}
        if isinstance(period, int) and period > 0:
            slots["period_report"] = layout.slot("_period_reports", rule_id, period)
    body = item.get("json")
    if isinstance(body, str):
        slots["id_of_shown_hash"] = layout.slot("_report_ids", "0x" + keccak(
            body.encode()).hex())
    return slots


def _report_compare(out: Outcome, key: tuple[Any, ...], item: Mapping[str, Any]) -> set[str]:
    from couponchain.domain.indicator_reports import Trigger

    p = out.proven
    proven_hash = word_hex(p.get("report_hash"))
    body = item.get("json")
    shown_hash = "0x" + keccak(body.encode()).hex() if isinstance(body, str) else None
    out.same("json report_hash", proven_hash, item.get("report_hash"))
    out.same("the report's JSON hashes to the proven report_hash", proven_hash, shown_hash)
    out.same("the contract files the shown hash under chain_report_id",
             p.get("id_of_shown_hash"), item.get("chain_report_id"))
    out.same("json merchant", address_of(p.get("merchant")), item.get("merchant"))
    out.same("json rules_version", p.get("rules_version"), item.get("rules_version"))
    out.same("json rule_index", p.get("rule_index"), item.get("rule_index"))
    trigger = p.get("trigger")
    out.same("json trigger", Trigger(trigger).name.lower() if trigger in set(Trigger) else None,
             item.get("trigger"))
    out.same("json period_start", iso(p.get("period_start")), item.get("period_start"))
    out.same("json period_end", iso(p.get("period_end")), item.get("period_end"))
    _report_rule(out, item)
    try:
        document = json.loads(body) if isinstance(body, str) else None
    except ValueError:
        document = None
    hashed = document if isinstance(document, Mapping) else {}
    for name in ("report", "indicators"):
        shown = item.get(name)
        expected = hashed if name == "report" else hashed.get("indicators")
        out.add(f"json {name} is the hashed report's", "as in the hashed JSON",
                "same" if shown == expected else "differs", shown == expected)
    return {"report_hash", "json", "chain_report_id", "merchant", "rules_version",
            "rule_index", "trigger", "period_start", "period_end", "report", "indicators",
            "rule_id", "period"}


def _report_rule(out: Outcome, item: Mapping[str, Any]) -> None:
    """The report's rule and period (`report_rule`), the rule's merchant, version and
    index, and for a periodic report its period: the contract files the report under
    it (`period_report`, hence `period_published`) and the schedule gives its times."""
    p = out.proven
    out.same("json rule_id (the contract's report_rule)", p.get("report_rule"),
             item.get("rule_id"))
    period = p.get("report_period")
    out.same("json period (the contract's report_rule)", period or None, item.get("period"))
    if "rule_merchant" not in p:
        return  # no rule id shown: its verdict above failed already
    out.same("the rule's merchant is the report's", address_of(p.get("rule_merchant")),
             address_of(p.get("merchant")))
    rule = (p.get("rule_rules_version"), p.get("rule_rule_index"))
    report = (p.get("rules_version"), p.get("rule_index"))
    out.add("the rule's version and index are the report's", rule, report,
            None not in rule and rule == report)
    if not period:
        return
    out.same("the contract's period_report(rule, period) is this report (period_published)",
             p.get("period_report"), item.get("chain_report_id"))
    start, length = p.get("rule_start"), p.get("rule_period")
    bounds = None if start is None or length is None \
        else (iso(start + (period - 1) * length), iso(start + period * length))
    out.same("json period_start and period_end are the rule's period by its schedule",
             bounds, (item.get("period_start"), item.get("period_end")))


REPORT = Capability(
    contract="marketing", what="report", path=lambda key: f"/v1/reports/{key[0]}",
    slots=_report_slots, compare=_report_compare, events=REPORT_EVENTS)
