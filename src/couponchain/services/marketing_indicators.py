"""Merchant-defined indicators computed by DuckDB over access logs and ledger events.

An expression (`domain/indicator_language.py`) compiles to one DuckDB query
(`domain/indicator_sql.py`) over two relations: the merchant's anchored
access-log records (the Parquet files of `store/analytics.py`, read in
place) and the merchant's chain events as the indexer recorded them, loaded
from the read models into an Arrow table:

- `claim`, kind `prize`: `PrizeClaimed` of the merchant's campaigns (the
  consumer's account);
- `redeem`, kind `edition`: `CouponRedeemed` of the merchant's editions (the
  owner); kind `promotion`: `WrittenOff` with the merchant redeeming (the
  holder), and each reversal by the merchant as weight -1 (a write-off
  undone in the window does not count);
- `purchase`, kind `referral`: `Purchased` of the merchant's referral
  products (the buyer).

Accounts are lower-cased addresses; the access logs' `account` is compared
lower-cased, so a visitor who logged in with the address joins its events.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from decimal import Decimal, localcontext
from fractions import Fraction
from typing import Any

from eth_utils import to_checksum_address
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from couponchain.domain import indicator_language as lang
from couponchain.domain.indicator_rules import RuleSet, Threshold
from couponchain.domain.indicator_sql import earliest
from couponchain.errors import InvalidInput
from couponchain.services.marketing_engine import LedgerRow, run
from couponchain.services.marketing_views import merchant_number, source_batches
from couponchain.store.analytics import AccessLogStore
from couponchain.store.models import (
    ChainTx,
    CouponHistory,
    CouponRecord,
    EditionRecord,
    IndexedBlock,
    MarketingIndicator,
    MarketingIndicatorSet,
    MarketingRuleIndicators,
    MarketingRuleSchedule,
    MarketingRulesVersion,
    PrizeCampaign,
    PrizeClaimRecord,
    PromotionPath,
    ReferralProduct,
    ReferralPurchase,
)

#: A contract view call: (contract, function, *args) -> its value (`Runtime.view`).
View = Callable[..., Awaitable[Any]]
log = logging.getLogger(__name__)
#: Seconds a pending definition set is kept at least (see `forget_unconfirmed`):
#: far longer than a request takes from `stage` to its transaction's journal entry.
STAGE_GRACE = 86_400


async def ledger_rows(db: Any, merchant: str, since: int, end: int) -> list[LedgerRow]:
    """The merchant's chain events in `[since, end)` as (time, kind, action,
    account, weight) rows (see the module docstring)."""
    async with db.session() as s:
        claims = (await s.execute(
            select(PrizeClaimRecord.claimed_at, PrizeClaimRecord.consumer)
            .join(PrizeCampaign, PrizeCampaign.id == PrizeClaimRecord.campaign_id)
            .where(PrizeCampaign.merchant == merchant, PrizeClaimRecord.claimed_at >= since,
                   PrizeClaimRecord.claimed_at < end))).all()
        redeemed = (await s.execute(
            select(CouponHistory.timestamp, CouponHistory.sender)
            .join(CouponRecord, CouponRecord.id == CouponHistory.coupon_id)
            .join(EditionRecord, EditionRecord.id == CouponRecord.edition_id)
            .where(EditionRecord.merchant == merchant, CouponHistory.action == "redeemed",
                   CouponHistory.timestamp >= since, CouponHistory.timestamp < end))).all()
        steps = (await s.execute(
            select(PromotionPath.timestamp, PromotionPath.action, PromotionPath.sender,
                   PromotionPath.receiver)
            .where(((PromotionPath.action == "written_off") & (PromotionPath.receiver == merchant))
                   | ((PromotionPath.action == "reversed") & (PromotionPath.sender == merchant)),
                   PromotionPath.timestamp >= since, PromotionPath.timestamp < end))).all()
        purchases = (await s.execute(
            select(ReferralPurchase.timestamp, ReferralPurchase.buyer)
            .join(ReferralProduct, ReferralProduct.id == ReferralPurchase.product_id)
            .where(ReferralProduct.originator == merchant, ReferralPurchase.timestamp >= since,
                   ReferralPurchase.timestamp < end))).all()
    rows: list[LedgerRow] = [(int(t), "prize", "claim", a.lower(), 1) for t, a in claims]
    rows += [(int(t), "edition", "redeem", (a or "").lower(), 1) for t, a in redeemed]
    for t, action, sender, receiver in steps:
        # A write-off's sender is the holder; a reversal returns it to the holder.
        holder = sender if action == "written_off" else receiver
        rows.append((int(t), "promotion", "redeem", (holder or "").lower(),
                     1 if action == "written_off" else -1))
    rows += [(int(t), "referral", "purchase", a.lower(), 1) for t, a in purchases]
    return rows


async def evaluate(db: Any, store: AccessLogStore, merchant: str, tree: lang.Node,
                   start: int, end: int) -> object:
    """`run` for a merchant address over its anchored batches and its ledger events."""
    number = merchant_number(merchant)
    own, mixed = await source_batches(db, number, end)
    ledger = await ledger_rows(db, merchant, earliest(tree, start, end), end)
    return await asyncio.to_thread(run, store, own + mixed, number, ledger, tree, start, end)


def plain(value: object) -> object:
    """A value as JSON without floats: a fraction as {numerator, denominator, value}
    (the value a decimal string for display), an undefined one as null."""
    if isinstance(value, Fraction):
        # Decimal, not float: a fraction beyond a double's range (10^400 / 3) still shows.
        with localcontext() as context:
            context.prec = 6
            shown = Decimal(value.numerator) / Decimal(value.denominator)
        return {"numerator": value.numerator, "denominator": value.denominator,
                "value": str(shown)}
    return value



def describe(tree: lang.Node) -> dict[str, Any]:
    """What a valid expression reads, for the editor: its counts and shape."""
    return {"grouped": lang.is_grouped(tree),
            "counts": [{"source": c.source, "table": c.table,
                        "filters": [{"field": f.field, "values": list(f.values),
                                     "negated": f.negated} for f in c.filters],
                        "window_seconds": c.window, "by": c.by, "top": c.top}
                       for c in lang.counts(tree)]}


async def evaluate_in(db: Any, store: AccessLogStore, merchant: str, tree: lang.Node,
                      start: int, end: int, batches: Sequence[int]) -> object:
    """`run` over exactly `batches` (a report's sources) and the ledger events."""
    ledger = await ledger_rows(db, merchant, earliest(tree, start, end), end)
    return await asyncio.to_thread(run, store, batches, merchant_number(merchant), ledger,
                                   tree, start, end)


# -- the merchant's library and the rules' commitments ------------------------------------


def _row(row: MarketingIndicator) -> dict[str, Any]:
    return {"name": row.name, "expression": row.expression,
            "definition_hash": row.definition_hash, "updated_at": row.updated_at}


async def define(db: Any, merchant: str, name: str, expression: str) -> dict[str, Any]:
    """Store (or replace) one of the merchant's indicators after validating it.
    Rules set earlier keep the definitions they committed to."""
    lang.check_name(name)
    lang.parse(expression)
    digest = "0x" + lang.definitions_hash({name: expression}).hex()
    async with db.transaction() as s:
        row = await s.get(MarketingIndicator, (merchant, name))
        if row is None:
            row = MarketingIndicator(merchant=merchant, name=name)
            s.add(row)
        row.expression, row.definition_hash = expression, digest
        row.updated_at = int(time.time())
        await s.flush()
        return _row(row)


async def library(db: Any, merchant: str) -> list[dict[str, Any]]:
    """The merchant's indicators by name."""
    async with db.session() as s:
        rows = (await s.execute(select(MarketingIndicator).where(
            MarketingIndicator.merchant == merchant).order_by(MarketingIndicator.name)
        )).scalars().all()
    return [_row(r) for r in rows]


async def rule_definitions(db: Any, merchant: str, rules: RuleSet) -> list[dict[str, str]]:
    """Each rule's definitions ({name: expression}) from the merchant's library,
    or InvalidInput naming the rule's field when a name is not defined."""
    async with db.session() as s:
        rows = (await s.execute(select(MarketingIndicator).where(
            MarketingIndicator.merchant == merchant))).scalars().all()
    known = {r.name: r.expression for r in rows}
    out = []
    for i, rule in enumerate(rules.rules):
        for j, name in enumerate(rule.custom):
            if name not in known:
                raise InvalidInput(f"no indicator named {name!r}: define it first",
                                   field=f"rules.{i}.custom.{j}")
        out.append({name: known[name] for name in rule.custom})
        condition = rule.condition
        if isinstance(condition, Threshold) and condition.custom is not None \
                and lang.is_grouped(lang.parse(known[condition.custom])):
            raise InvalidInput(f"{condition.custom!r} is a table (by=), not one value to "
                               "compare", field=f"rules.{i}.condition.custom")
    return out


async def stage(db: Any, merchant: str, definitions: Sequence[Mapping[str, str]]) -> None:
    """Save each rule's definitions under their hash (`pending`) before the chain
    call that commits to the hash: whatever happens after the call (a crash, a
    lost answer), every hash a rule commits to has its definitions here.

    Idempotent: a retry, or another request with the same definitions, finds
    the row (the hash covers every byte of it) and leaves it as it is, but for
    a pending row's time, renewed so `forget_unconfirmed` keeps it for this call.
    """
    rows = {"0x" + lang.definitions_hash(d).hex(): lang.definitions_json(d).decode("utf-8")
            for d in definitions if d}
    if not rows:  # rules of catalogue indicators only commit to nothing
        return
    now = int(time.time())
    for _ in range(2):  # a concurrent twin may insert the same row first
        try:
            async with db.transaction() as s:
                # Renewed first: a clean-up that deletes it meanwhile leaves it
                # unseen below, so it is inserted again.
                await s.execute(update(MarketingIndicatorSet).where(
                    MarketingIndicatorSet.merchant == merchant,
                    MarketingIndicatorSet.indicators_hash.in_(rows),
                    MarketingIndicatorSet.status == "pending").values(created_at=now))
                known = set((await s.execute(select(MarketingIndicatorSet.indicators_hash).where(
                    MarketingIndicatorSet.merchant == merchant,
                    MarketingIndicatorSet.indicators_hash.in_(rows)))).scalars())
                s.add_all(MarketingIndicatorSet(
                    merchant=merchant, indicators_hash=digest, definitions=text,
                    status="pending", created_at=now)
                    for digest, text in rows.items() if digest not in known)
            return
        except IntegrityError:
            continue
    raise RuntimeError("indicator definitions could not be staged")  # pragma: no cover


#: The rules `record_committed` found no definitions for, already logged.
_UNRECOVERABLE: set[tuple[str, int, int, str]] = set()


async def record_committed(db: Any, merchant: str,
                           commitments: Iterable[tuple[int, int, str]]) -> int:
    """Keep, per (rules version, rule index, hash on chain), the definitions the
    rule committed to, found by the hash among those staged; returns how many
    rules it recorded. A hash staged by nobody (never the case for rules set
    through `stage`) is logged, once per process, and left out: it cannot be
    recomputed."""
    recorded = 0
    async with db.transaction() as s:
        for version, index, digest in commitments:
            if await s.get(MarketingRuleIndicators, (merchant, version, index)) is not None:
                continue
            staged = await s.get(MarketingIndicatorSet, (merchant, digest))
            if staged is None:
                # Once per process: `reconcile` meets it again every round (a rule
                # caught in the crash window before migration 0024 has no saved text).
                if (merchant, version, index, digest) not in _UNRECOVERABLE:
                    _UNRECOVERABLE.add((merchant, version, index, digest))
                    log.error("rule %s of rules v%s of %s commits to %s, which no staged "
                              "definitions hash to", index, version, merchant, digest)
                continue
            staged.status = "committed"
            s.add(MarketingRuleIndicators(
                merchant=merchant, rules_version=version, rule_index=index,
                definitions=staged.definitions, indicators_hash=digest))
            recorded += 1
    return recorded


def commitments(events: Iterable[Any]) -> list[tuple[int, int, str]]:
    """(rules version, rule index, hash) of each `RuleIndicators` of a
    `set_reporting_rules_with_indicators` transaction's events."""
    scheduled = {int(e.args["rule_id"]): (int(e.args["rules_version"]), int(e.args["rule_index"]))
                 for e in events if e.name == "RuleScheduled"}
    return [(*scheduled[int(e.args["rule_id"])], _hex(e.args["indicators_hash"]))
            for e in events if e.name == "RuleIndicators"]


async def reconcile(db: Any, view: View, merchant: str | None = None) -> int:
    """Record the definitions of every rule (of `merchant`, or of all) the chain
    holds but `marketing_rule_indicators` does not, e.g. after a crash between
    the chain call and `record_committed`: the hash is read from the contract
    and the definitions found among those staged. Returns how many it recorded."""
    query = (select(MarketingRuleSchedule.rule_id, MarketingRuleSchedule.merchant,
                    MarketingRuleSchedule.rules_version, MarketingRuleSchedule.rule_index,
                    MarketingRulesVersion.rules)
             .join(MarketingRulesVersion,
                   (MarketingRulesVersion.merchant == MarketingRuleSchedule.merchant)
                   & (MarketingRulesVersion.version == MarketingRuleSchedule.rules_version))
             .outerjoin(MarketingRuleIndicators,
                        (MarketingRuleIndicators.merchant == MarketingRuleSchedule.merchant)
                        & (MarketingRuleIndicators.rules_version
                           == MarketingRuleSchedule.rules_version)
                        & (MarketingRuleIndicators.rule_index
                           == MarketingRuleSchedule.rule_index))
             .where(MarketingRuleIndicators.merchant.is_(None),
                    # Only rules that name the merchant's own indicators commit to a hash.
                    MarketingRulesVersion.rules.contains('"custom"')))
    if merchant is not None:
        query = query.where(MarketingRuleSchedule.merchant == merchant)
    async with db.session() as s:
        rows = (await s.execute(query)).all()
    found: dict[str, list[tuple[int, int, str]]] = {}
    for rule_id, owner, version, index, text in rows:
        rules = json.loads(text).get("rules", [])
        if index >= len(rules) or not rules[index].get("custom"):
            continue
        digest = _hex(await view("marketing", "rule_indicators_hash", rule_id))
        if int(digest, 16):
            found.setdefault(owner, []).append((version, index, digest))
    recorded = sum([await record_committed(db, owner, items) for owner, items in found.items()])
    await forget_unconfirmed(db, merchant)
    return recorded


async def forget_unconfirmed(db: Any, merchant: str | None = None,
                             now: int | None = None) -> int:
    """Remove the pending definition sets (of `merchant`, or of all) that no rule
    can commit to any more; returns how many it removed.

    A set stays pending when the transaction of the rules that staged it never
    went on chain: refused or reverted, never sent (a crash before the call),
    superseded by later rules. Nothing reads such a set, and `stage` saves it
    again if rules name it again. It is removed only when it can no longer be
    needed: it is older than `STAGE_GRACE` (no request still between `stage`
    and its transaction), the merchant's account has no journaled transaction
    unconfirmed, and the indexer has read the blocks of all its confirmed ones,
    so `reconcile` would have found any rule on chain committing to it.
    """
    cutoff = (int(time.time()) if now is None else now) - STAGE_GRACE
    stale = (select(MarketingIndicatorSet.merchant).distinct()
             .where(MarketingIndicatorSet.status == "pending",
                    MarketingIndicatorSet.created_at <= cutoff))
    if merchant is not None:
        stale = stale.where(MarketingIndicatorSet.merchant == merchant)
    removed = 0
    async with db.transaction() as s:
        owners = (await s.execute(stale)).scalars().all()
        if not owners:
            return 0
        indexed = (await s.execute(select(func.max(IndexedBlock.number)))).scalar() or 0
        for owner in owners:
            account = ChainTx.account.in_({owner, owner.lower(), to_checksum_address(owner)})
            unconfirmed = (await s.execute(select(func.count()).select_from(ChainTx).where(
                account, ChainTx.status == "signed"))).scalar()
            last = (await s.execute(select(func.max(ChainTx.block_number)).where(account))
                    ).scalar()
            if unconfirmed or (last or 0) > indexed:
                continue
            # The same conditions again: a set `stage` renewed meanwhile stays.
            gone = await s.execute(delete(MarketingIndicatorSet).where(
                MarketingIndicatorSet.merchant == owner,
                MarketingIndicatorSet.status == "pending",
                MarketingIndicatorSet.created_at <= cutoff))
            removed += gone.rowcount or 0
    if removed:
        log.info("removed %s pending indicator definition sets no rule committed to", removed)
    return removed


def _hex(value: str | bytes) -> str:
    return value if isinstance(value, str) else "0x" + bytes(value).hex()


async def committed(db: Any, merchant: str, version: int) -> dict[int, dict[str, Any]]:
    """Per rule index of a rules version: its definitions and their hash."""
    async with db.session() as s:
        rows = (await s.execute(select(MarketingRuleIndicators).where(
            MarketingRuleIndicators.merchant == merchant,
            MarketingRuleIndicators.rules_version == version))).scalars().all()
    return {r.rule_index: {"definitions": json.loads(r.definitions),
                           "definitions_json": r.definitions,
                           "indicators_hash": r.indicators_hash} for r in rows}


async def custom_raw(db: Any, store: AccessLogStore, merchant: str, version: int,
                     index: int, start: int, end: int, batches: Sequence[int],
                     names: Iterable[str] | None = None) -> dict[str, object]:
    """The values of a rule's own indicators (or of `names` among them) over
    `[start, end)`, exact (see `run`), from the definitions the rule committed to."""
    rule = (await committed(db, merchant, version)).get(index)
    if rule is None:
        return {}
    wanted = None if names is None else set(names)
    return {d["name"]: await evaluate_in(db, store, merchant, lang.parse(d["expression"]),
                                         start, end, batches)
            for d in rule["definitions"] if wanted is None or d["name"] in wanted}


async def custom_values(db: Any, store: AccessLogStore, merchant: str, version: int,
                        index: int, start: int, end: int,
                        batches: Sequence[int]) -> dict[str, object]:
    """The values of a rule's own indicators over `[start, end)` (report form)."""
    raw = await custom_raw(db, store, merchant, version, index, start, end, batches)
    return {name: plain(value) for name, value in raw.items()}
