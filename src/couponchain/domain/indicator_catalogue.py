"""The indicator catalogue and its brute-force reference computation.

Catalogue (every indicator is computed over the records of a window
`[start, end)` of epoch seconds, UTC; a visitor is `AccessRecord.visitor_key`,
the account when logged in, else the pseudonymised IP):

- `page_views`: records with operation `view`.
- `unique_visitors`: distinct visitors with any record in the window.
- `visits_by_method`: records per access method (`browser`, `desktop`,
  `app`; every method present, 0 included).
- `new_visitors`: visitors of the window with no record before `start`.
- `returning_visitors`: visitors of the window seen before `start`
  (`new_visitors + returning_visitors == unique_visitors`).
- `coupon_claims`, `redemptions`, `purchases`: records with operation
  `claim`, `redeem`, `purchase`.
- `conversion_rate`: purchases / unique visitors.
- `redemption_rate`: redemptions / coupon claims.
- `top_operations`: the 5 most frequent operations with their counts, by
  count descending then name; operations with no record are left out.

No floats anywhere: a rate is a `Rate` holding its exact numerator and
denominator (not reduced: they are the counts above); it is undefined when the
denominator is 0.

Every indicator depends on the records as a set, never on their order, so a
report's hash does not change when the log store returns rows in another
order.

`compute` is the reference: one pass in plain Python over `AccessRecord`s.
The platform computes the same values with DuckDB from the catalogue's
preset expressions (`services/marketing_engine.py`, `catalogue`), which
shares only the catalogue's types with this one; the tests hold the two equal.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction

from couponchain.domain.access_logs import AccessMethod, AccessRecord, Operation
from couponchain.errors import InvalidInput

TOP_OPERATIONS = 5


class Indicator(StrEnum):
    """The documented catalogue (see the module docstring)."""

    PAGE_VIEWS = "page_views"
    UNIQUE_VISITORS = "unique_visitors"
    VISITS_BY_METHOD = "visits_by_method"
    NEW_VISITORS = "new_visitors"
    RETURNING_VISITORS = "returning_visitors"
    COUPON_CLAIMS = "coupon_claims"
    REDEMPTIONS = "redemptions"
    PURCHASES = "purchases"
    CONVERSION_RATE = "conversion_rate"
    REDEMPTION_RATE = "redemption_rate"
    TOP_OPERATIONS = "top_operations"


SCALAR_INDICATORS = frozenset(Indicator) - {Indicator.VISITS_BY_METHOD, Indicator.TOP_OPERATIONS}
"""Indicators with one value, which a threshold can compare."""

_ORDER = {indicator: i for i, indicator in enumerate(Indicator)}


@dataclass(frozen=True, slots=True)
class Rate:
    """An exact ratio of two counts; `value` is None when undefined (0/0)."""

    numerator: int
    denominator: int

    @property
    def value(self) -> Fraction | None:
        return Fraction(self.numerator, self.denominator) if self.denominator else None


def compute(
    records: Iterable[AccessRecord], start: int, end: int, *, merchant: int | None = None
) -> dict[str, object]:
    """Every indicator of the catalogue over `[start, end)`.

    `records` may include history before `start` (needed for new vs returning)
    and records after `end` (ignored); with `merchant`, only that merchant's
    records count.
    """
    _check_window(start, end)
    first_seen: dict[str, int] = {}
    visitors: set[str] = set()
    operations: Counter[Operation] = Counter()
    methods: Counter[AccessMethod] = Counter()
    for record in records:
        if record.time >= end or (merchant is not None and record.merchant != merchant):
            continue
        key = record.visitor_key
        seen = first_seen.get(key)
        if seen is None or record.time < seen:
            first_seen[key] = record.time
        if record.time >= start:
            visitors.add(key)
            operations[record.operation] += 1
            methods[record.method] += 1
    new = sum(1 for key in visitors if first_seen[key] >= start)
    purchases = operations[Operation.PURCHASE]
    claims = operations[Operation.CLAIM]
    redemptions = operations[Operation.REDEEM]
    top = sorted(operations.items(), key=lambda item: (-item[1], item[0].label))
    return {
        Indicator.PAGE_VIEWS: operations[Operation.VIEW],
        Indicator.UNIQUE_VISITORS: len(visitors),
        Indicator.VISITS_BY_METHOD: {m.label: methods[m] for m in AccessMethod},
        Indicator.NEW_VISITORS: new,
        Indicator.RETURNING_VISITORS: len(visitors) - new,
        Indicator.COUPON_CLAIMS: claims,
        Indicator.REDEMPTIONS: redemptions,
        Indicator.PURCHASES: purchases,
        Indicator.CONVERSION_RATE: Rate(purchases, len(visitors)),
        Indicator.REDEMPTION_RATE: Rate(redemptions, claims),
        Indicator.TOP_OPERATIONS: [(op.label, n) for op, n in top[:TOP_OPERATIONS]],
    }


def aligned_period(t: int, every_seconds: int, tz_offset_seconds: int = 0) -> tuple[int, int, int]:
    """The period of length `every_seconds` containing `t`, periods aligned
    to midnight of the time zone `UTC + tz_offset_seconds`:
    `(index, start, end)` with `start <= t < end` (epoch seconds, UTC)."""
    if every_seconds <= 0:
        raise InvalidInput("a period must be positive", field="every_seconds")
    index = (t + tz_offset_seconds) // every_seconds
    start = index * every_seconds - tz_offset_seconds
    return index, start, start + every_seconds


def day_window(t: int, tz_offset_minutes: int = 0) -> tuple[int, int]:
    """The local calendar day (UTC + offset) containing `t`, as `[start, end)`."""
    _, start, end = aligned_period(t, 86_400, tz_offset_minutes * 60)
    return start, end


def _catalogue(operations: Counter[Operation], methods: Counter[AccessMethod], visitors: int,
               new: int) -> dict[str, object]:
    claims, redemptions = operations[Operation.CLAIM], operations[Operation.REDEEM]
    purchases = operations[Operation.PURCHASE]
    top = sorted(((op, n) for op, n in operations.items() if n),
                 key=lambda item: (-item[1], item[0].label))
    return {
        Indicator.PAGE_VIEWS: operations[Operation.VIEW],
        Indicator.UNIQUE_VISITORS: visitors,
        Indicator.VISITS_BY_METHOD: {m.label: methods[m] for m in AccessMethod},
        Indicator.NEW_VISITORS: new,
        Indicator.RETURNING_VISITORS: visitors - new,
        Indicator.COUPON_CLAIMS: claims,
        Indicator.REDEMPTIONS: redemptions,
        Indicator.PURCHASES: purchases,
        Indicator.CONVERSION_RATE: Rate(purchases, visitors),
        Indicator.REDEMPTION_RATE: Rate(redemptions, claims),
        Indicator.TOP_OPERATIONS: [(op.label, n) for op, n in top[:TOP_OPERATIONS]],
    }


def _check_window(start: object, end: object) -> None:
    for name, value in (("start", start), ("end", end)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InvalidInput(f"{name} must be a non-negative integer", field=name)
    if start > end:  # type: ignore[operator]
        raise InvalidInput("the window ends before it starts", field="end")
