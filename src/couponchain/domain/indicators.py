"""Marketing indicators over access logs, reporting rules, and reports.

One import for the whole capability; the code lives in three modules of one
concept each:

- `indicator_catalogue`: the documented catalogue (page views, unique and
  new/returning visitors, visits by access method, claims, redemptions,
  purchases, conversion and redemption rates as exact fractions, top
  operations), the brute-force reference `compute` and time windows.
- `indicator_rules`: reporting rules (periodic, threshold), their canonical
  JSON, and `evaluate_rule` with its persisted `RuleState`.
- `indicator_reports`: reports, their canonical JSON and hash (what goes on
  chain).
"""

from __future__ import annotations

from couponchain.domain.indicator_catalogue import (
    SCALAR_INDICATORS,
    TOP_OPERATIONS,
    Indicator,
    Rate,
    aligned_period,
    compute,
    day_window,
)
from couponchain.domain.indicator_reports import (
    Report,
    Trigger,
    canonical_json,
    make_report,
    report_hash,
    report_json,
)
from couponchain.domain.indicator_rules import (
    MAX_PERIOD_MINUTES,
    MAX_RULES,
    MAX_TZ_OFFSET_MINUTES,
    MIN_TZ_OFFSET_MINUTES,
    Decision,
    Periodic,
    ReportingRule,
    RuleSet,
    RuleState,
    Threshold,
    due_period,
    evaluate_rule,
    period_bounds,
    rules_from_json,
    rules_hash,
    rules_to_json,
    schedules,
    with_start,
)

__all__ = [
    "MAX_PERIOD_MINUTES", "MAX_RULES", "MAX_TZ_OFFSET_MINUTES", "MIN_TZ_OFFSET_MINUTES",
    "SCALAR_INDICATORS", "TOP_OPERATIONS", "Decision", "Indicator", "Periodic", "Rate",
    "Report", "ReportingRule", "RuleSet", "RuleState", "Threshold", "Trigger",
    "aligned_period", "canonical_json", "compute", "day_window", "due_period",
    "evaluate_rule", "make_report", "period_bounds", "report_hash",
    "report_json", "rules_from_json", "rules_hash", "rules_to_json", "schedules", "with_start",
]
