"""Overdue reports: every period of a merchant's periodic rules that is due and unpublished.

The check is the contract's own (`marketing.vy`): a periodic rule's period n
is `[start + (n - 1) * period, start + n * period)`; it is due once it has
closed while the rule's rules version was current (`period_due`), and it is
published once a report names it (`period_published`). Everything needed is
in the chain's events, so this module reads the indexer's projection of them
(`marketing_rule_schedules`, `marketing_rules_versions`,
`marketing_report_records`) rather than the platform's own report rows: a
report the platform computed but never published stays overdue. Anyone can
repeat the check against a node with the two views and the rule ids shown.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from couponchain.domain import indicators as ind
from couponchain.services.marketing_views import iso
from couponchain.store.models import (
    MarketingReportRecord,
    MarketingRuleSchedule,
    MarketingRulesVersion,
)

#: Overdue periods listed per answer at most (the counts are always whole).
DEFAULT_LIMIT = 100


@dataclass(frozen=True, slots=True)
class RuleDue:
    """One periodic rule's due and published periods at a time."""

    rule_id: int
    rules_version: int
    rule_index: int
    start: int
    period: int
    superseded_at: int | None
    due: int
    published: int
    overdue: list[int]  # the first overdue period numbers, oldest first
    overdue_count: int

    def public(self) -> dict[str, Any]:
        return {"rule_id": self.rule_id, "rules_version": self.rules_version,
                "rule_index": self.rule_index, "start": iso(self.start),
                "every_seconds": self.period,
                "superseded_at": None if self.superseded_at is None
                else iso(self.superseded_at),
                "due": self.due, "published": self.published,
                "overdue": self.overdue_count}


def rule_due(rule: MarketingRuleSchedule, superseded_at: int | None, published: set[int],
             at: int, limit: int) -> RuleDue:
    """The due, published and overdue periods of one rule at `at` (as the contract)."""
    due = ind.due_period(rule.start, rule.period, at, superseded_at)
    done = sum(1 for p in published if 1 <= p <= due)
    missing: list[int] = []
    n = 1
    while n <= due and len(missing) < limit:  # published periods are few: skip them
        if n not in published:
            missing.append(n)
        n += 1
    return RuleDue(rule.rule_id, rule.rules_version, rule.rule_index, rule.start, rule.period,
                   superseded_at, due, done, missing, due - done)


async def overdue(db: Any, merchant: str, at: int | None = None,
                  limit: int = DEFAULT_LIMIT) -> dict[str, Any]:
    """Every due and unpublished period of `merchant`'s periodic rules at `at`
    (default: now), oldest first, at most `limit` listed; counts per rule."""
    at = int(time.time()) if at is None else at
    async with db.session() as s:
        rules = (await s.execute(select(MarketingRuleSchedule).where(
            MarketingRuleSchedule.merchant == merchant, MarketingRuleSchedule.period > 0)
            .order_by(MarketingRuleSchedule.rule_id))).scalars().all()
        versions = dict((await s.execute(select(
            MarketingRulesVersion.version, MarketingRulesVersion.timestamp).where(
            MarketingRulesVersion.merchant == merchant))).tuples().all())
        rows = (await s.execute(select(
            MarketingReportRecord.rule_id, MarketingReportRecord.period).where(
            MarketingReportRecord.merchant == merchant,
            MarketingReportRecord.period > 0))).tuples().all()
    published: dict[int, set[int]] = defaultdict(set)
    for rule_id, period in rows:
        published[rule_id].add(period)
    listed: list[dict[str, Any]] = []
    summaries = []
    total = 0
    for rule in rules:
        # The contract: a version's periods stop falling due when the next version is set.
        r = rule_due(rule, versions.get(rule.rules_version + 1), published[rule.rule_id], at,
                     limit)
        summaries.append(r.public())
        total += r.overdue_count
        for n in r.overdue:
            start, end = ind.period_bounds(r.start, r.period, n)
            listed.append({"rule_id": r.rule_id, "rules_version": r.rules_version,
                           "rule_index": r.rule_index, "period": n,
                           "period_start": iso(start), "period_end": iso(end),
                           "due_since": iso(end), "_end": end})
    listed.sort(key=lambda p: (p["_end"], p["rule_id"]))
    for item in listed:
        del item["_end"]
    return {"merchant": merchant, "at": iso(at), "overdue_count": total,
            "periods": listed[:limit], "truncated": total > min(limit, len(listed)),
            "rules": summaries}
