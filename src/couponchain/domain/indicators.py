"""Marketing indicators over access logs, reporting rules, and reports.

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
denominator is 0. Threshold values are exact fractions ("1/4", "0.25", "25%").

Every indicator depends on the records as a set, never on their order, so a
report's hash does not change when the log store returns rows in another
order.

Rules: a merchant's `RuleSet` lists up to 16 rules; each selects indicators
and a condition, either `Periodic` (every N minutes, periods aligned to
midnight of the rule's time zone offset) or `Threshold` (an indicator, over
the last W minutes or all history, compared with a value). `evaluate_rule`
decides whether a rule fires now, from a persisted `RuleState`:

- periodic: fires once for each completed period, keyed by its index, so
  evaluating twice, or after a scheduler restart with the persisted state,
  never fires twice; after a downtime only the latest completed period is
  reported (missed ones are not back-filled).
- threshold: fires when the condition holds and the rule is armed, then
  disarms; it is re-armed by an evaluation where the condition does not hold.

Canonical JSON (rules and reports): UTF-8, keys sorted, no spaces, no floats;
its keccak256 is what goes on chain.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import IntEnum, StrEnum
from fractions import Fraction

from eth_utils import keccak

from couponchain.domain.access_logs import AccessMethod, AccessRecord, Operation
from couponchain.errors import InvalidInput

TOP_OPERATIONS = 5
MAX_RULES = 16
MAX_PERIOD_MINUTES = 31 * 24 * 60
MIN_TZ_OFFSET_MINUTES = -12 * 60
MAX_TZ_OFFSET_MINUTES = 14 * 60


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


class Trigger(IntEnum):
    """Why a report was made; the value is the contract's `trigger`."""

    PERIODIC = 1
    THRESHOLD = 2
    MANUAL = 3


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


# --- rules --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Periodic:
    """Report every `every_minutes` minutes, over the period that just ended."""

    every_minutes: int

    def __post_init__(self) -> None:
        _check_int(self.every_minutes, "every_minutes", 1, MAX_PERIOD_MINUTES)


_OPERATORS: dict[str, Callable[[Fraction, Fraction], bool]] = {
    ">=": lambda a, b: a >= b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    "<": lambda a, b: a < b,
}


@dataclass(frozen=True, slots=True)
class Threshold:
    """Report when `indicator op value` holds, the indicator computed over the
    last `window_minutes` minutes (None: all records before now)."""

    indicator: Indicator
    op: str
    value: Fraction
    window_minutes: int | None = None

    def __post_init__(self) -> None:
        try:
            indicator = Indicator(self.indicator)
        except ValueError:
            raise InvalidInput(f"unknown indicator {self.indicator!r}", field="indicator") from None
        if indicator not in SCALAR_INDICATORS:
            raise InvalidInput(f"{indicator} has no single value to compare", field="indicator")
        object.__setattr__(self, "indicator", indicator)
        if self.op not in _OPERATORS:
            raise InvalidInput(f"op must be one of {', '.join(_OPERATORS)}", field="op")
        object.__setattr__(self, "value", _fraction(self.value))
        if self.window_minutes is not None:
            _check_int(self.window_minutes, "window_minutes", 1, MAX_PERIOD_MINUTES)

    def holds(self, values: Mapping[str, object]) -> bool:
        """Whether the condition holds for computed indicator values (an
        undefined rate never holds)."""
        value = values[self.indicator]
        if isinstance(value, Rate):
            if value.value is None:
                return False
            exact = value.value
        elif isinstance(value, int):
            exact = Fraction(value)
        else:
            raise InvalidInput(f"{self.indicator} has no single value", field="indicator")
        return _OPERATORS[self.op](exact, self.value)


@dataclass(frozen=True, slots=True)
class ReportingRule:
    """Which indicators a report carries and when it is made. The indicators
    are kept in catalogue order; `tz_offset_minutes` aligns periodic reports
    to the merchant's local midnight."""

    indicators: tuple[Indicator, ...]
    condition: Periodic | Threshold
    tz_offset_minutes: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.indicators, (str, bytes)) or not self.indicators:
            raise InvalidInput("select at least one indicator", field="indicators")
        chosen = []
        for i, name in enumerate(self.indicators):
            try:
                chosen.append(Indicator(name))
            except ValueError:
                raise InvalidInput(f"unknown indicator {name!r}", field=f"indicators.{i}") from None
        if len(set(chosen)) != len(chosen):
            raise InvalidInput("an indicator is selected twice", field="indicators")
        object.__setattr__(self, "indicators", tuple(sorted(chosen, key=_ORDER.__getitem__)))
        if not isinstance(self.condition, (Periodic, Threshold)):
            raise InvalidInput("condition must be periodic or threshold", field="condition")
        _check_int(
            self.tz_offset_minutes,
            "tz_offset_minutes",
            MIN_TZ_OFFSET_MINUTES,
            MAX_TZ_OFFSET_MINUTES,
        )


@dataclass(frozen=True, slots=True)
class RuleSet:
    """A merchant's rules; a rule is addressed by its index here."""

    rules: tuple[ReportingRule, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "rules", tuple(self.rules))
        if len(self.rules) > MAX_RULES:
            raise InvalidInput(f"at most {MAX_RULES} rules", field="rules")


def rules_from_json(data: bytes | str | Mapping[str, object]) -> RuleSet:
    """A `RuleSet` from its JSON (`{"rules": [...]}`, see `rules_to_json`);
    errors name the field, e.g. `rules.2.condition.every_minutes`. A
    periodic condition may give `every_hours` instead of `every_minutes`."""
    if isinstance(data, (bytes, str)):
        try:
            data = json.loads(data, parse_float=_no_float, parse_constant=_no_float)
        except InvalidInput:
            raise
        except ValueError as error:
            raise InvalidInput(f"rules are not valid JSON: {error}", field="rules") from None
    items = data.get("rules") if isinstance(data, Mapping) else None
    if not isinstance(items, list):
        raise InvalidInput("rules must be an object with a list `rules`", field="rules")
    if len(items) > MAX_RULES:
        raise InvalidInput(f"at most {MAX_RULES} rules", field="rules")
    rules = []
    for i, item in enumerate(items):
        rules.append(_within(f"rules.{i}", _rule_from_dict, item))
    return RuleSet(tuple(rules))


def rules_to_json(rules: RuleSet) -> bytes:
    """The canonical JSON of a rule set: what `set_reporting_rules` stores."""
    return canonical_json({"rules": [_rule_to_dict(rule) for rule in rules.rules]})


def rules_hash(rules: RuleSet) -> bytes:
    """keccak256 of the canonical JSON (the contract's `rules_hash`)."""
    return keccak(rules_to_json(rules))


# --- evaluation ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RuleState:
    """What the scheduler persists per rule between evaluations."""

    last_period: int | None = None
    armed: bool = True

    def to_dict(self) -> dict[str, object]:
        return {"last_period": self.last_period, "armed": self.armed}

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> RuleState:
        return cls(last_period=data.get("last_period"), armed=bool(data.get("armed", True)))  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of one evaluation: persist `state` in every case; when
    `fires`, report over `[period_start, period_end)`."""

    fires: bool
    state: RuleState
    trigger: Trigger | None = None
    period_start: int | None = None
    period_end: int | None = None
    period_index: int | None = None


def evaluate_rule(
    rule: ReportingRule,
    state: RuleState,
    now: int,
    compute: Callable[[int, int], Mapping[str, object]],
) -> Decision:
    """Whether `rule` fires at `now`, given its persisted `state`.

    `compute(start, end)` returns the indicator values over `[start, end)`
    (e.g. `compute` of this module over the log store); it is called only
    for threshold rules.
    """
    condition = rule.condition
    if isinstance(condition, Periodic):
        every = condition.every_minutes * 60
        index, start, _ = aligned_period(now, every, rule.tz_offset_minutes * 60)
        done = index - 1  # the latest period that has ended
        if state.last_period is not None and done <= state.last_period:
            return Decision(False, state)
        return Decision(
            True, replace(state, last_period=done), Trigger.PERIODIC, start - every, start, done
        )
    start = 0 if condition.window_minutes is None else max(0, now - condition.window_minutes * 60)
    if start >= now:
        return Decision(False, replace(state, armed=True))
    if not condition.holds(compute(start, now)):
        return Decision(False, replace(state, armed=True))
    if not state.armed:
        return Decision(False, state)
    return Decision(True, replace(state, armed=False), Trigger.THRESHOLD, start, now)


# --- reports ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Report:
    """A computed report; its canonical JSON is stored and pushed, its hash
    published on chain. `batches` lists the anchored log batches it was
    computed from (kept sorted)."""

    merchant: str
    rules_version: int
    rule_index: int
    trigger: Trigger
    period_start: int
    period_end: int
    values: Mapping[str, object]
    batches: tuple[int, ...] = field(default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "batches", tuple(sorted(self.batches)))
        object.__setattr__(self, "trigger", Trigger(self.trigger))
        _check_window(self.period_start, self.period_end)


def make_report(
    merchant: str,
    rules_version: int,
    rule_index: int,
    rule: ReportingRule,
    decision: Decision,
    records: Iterable[AccessRecord],
    *,
    merchant_number: int | None = None,
    batches: Sequence[int] = (),
) -> Report:
    """The report of a fired decision: the rule's indicators over its period."""
    start, end, trigger = decision.period_start, decision.period_end, decision.trigger
    if not decision.fires or start is None or end is None or trigger is None:
        raise InvalidInput("the rule did not fire", field="decision")
    values = compute(records, start, end, merchant=merchant_number)
    return Report(
        merchant=merchant,
        rules_version=rules_version,
        rule_index=rule_index,
        trigger=trigger,
        period_start=start,
        period_end=end,
        values={str(i): values[i] for i in rule.indicators},
        batches=tuple(batches),
    )


def report_json(report: Report) -> bytes:
    """The canonical JSON of a report. Rates appear as
    `{"numerator": n, "denominator": d}`, `top_operations` as
    `[[operation, count], ...]`."""
    return canonical_json(
        {
            "merchant": report.merchant,
            "rules_version": report.rules_version,
            "rule_index": report.rule_index,
            "trigger": Trigger(report.trigger).name.lower(),
            "period_start": report.period_start,
            "period_end": report.period_end,
            "indicators": {str(k): _plain(v) for k, v in report.values.items()},
            "batches": list(report.batches),
        }
    )


def report_hash(report: Report) -> bytes:
    """keccak256 of the report's canonical JSON (the contract's `report_hash`)."""
    return keccak(report_json(report))


def canonical_json(document: object) -> bytes:
    """UTF-8 JSON with sorted keys and no spaces; refuses floats."""
    _refuse_floats(document)
    return json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


# --- helpers ------------------------------------------------------------------


def _rule_from_dict(item: object) -> ReportingRule:
    if not isinstance(item, Mapping):
        raise InvalidInput("a rule must be an object", field=None)
    indicators = item.get("indicators")
    if not isinstance(indicators, list):
        raise InvalidInput("indicators must be a list", field="indicators")
    condition = _within("condition", _condition_from_dict, item.get("condition"))
    return ReportingRule(
        indicators=tuple(indicators),
        condition=condition,
        tz_offset_minutes=item.get("tz_offset_minutes", 0),  # type: ignore[arg-type]
    )


def _condition_from_dict(item: object) -> Periodic | Threshold:
    if not isinstance(item, Mapping):
        raise InvalidInput("condition must be an object", field=None)
    kind = item.get("type")
    if kind == "periodic":
        if "every_hours" in item and "every_minutes" not in item:
            hours = item["every_hours"]
            _check_int(hours, "every_hours", 1, MAX_PERIOD_MINUTES // 60)
            return Periodic(hours * 60)  # type: ignore[operator]
        return Periodic(item.get("every_minutes"))  # type: ignore[arg-type]
    if kind == "threshold":
        if "value" not in item:
            raise InvalidInput("value is required", field="value")
        return Threshold(
            indicator=item.get("indicator"),  # type: ignore[arg-type]
            op=item.get("op"),  # type: ignore[arg-type]
            value=item["value"],  # type: ignore[arg-type]
            window_minutes=item.get("window_minutes"),  # type: ignore[arg-type]
        )
    raise InvalidInput("type must be periodic or threshold", field="type")


def _rule_to_dict(rule: ReportingRule) -> dict[str, object]:
    condition = rule.condition
    if isinstance(condition, Periodic):
        cond: dict[str, object] = {"type": "periodic", "every_minutes": condition.every_minutes}
    else:
        cond = {
            "type": "threshold",
            "indicator": str(condition.indicator),
            "op": condition.op,
            "value": str(condition.value),
            "window_minutes": condition.window_minutes,
        }
    return {
        "indicators": [str(i) for i in rule.indicators],
        "condition": cond,
        "tz_offset_minutes": rule.tz_offset_minutes,
    }


def _within(prefix: str, build: Callable[[object], object], item: object):
    try:
        return build(item)
    except InvalidInput as error:
        where = prefix + (f".{error.field}" if error.field else "")
        raise InvalidInput(error.message, field=where) from None


def _fraction(value: object) -> Fraction:
    if isinstance(value, (bool, float)):
        raise InvalidInput(
            "value must be exact: an integer or a string like 1/4, 0.25, 25%", field="value"
        )
    try:
        if isinstance(value, str) and value.strip().endswith("%"):
            result = Fraction(value.strip()[:-1]) / 100
        elif isinstance(value, (int, str, Fraction)):
            result = Fraction(value)
        else:
            raise ValueError(value)
    except (ValueError, ZeroDivisionError):
        raise InvalidInput(f"{value!r} is not an exact number", field="value") from None
    if result < 0:
        raise InvalidInput("value must not be negative", field="value")
    return result


def _plain(value: object) -> object:
    if isinstance(value, Rate):
        return {"numerator": value.numerator, "denominator": value.denominator}
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def _refuse_floats(value: object) -> None:
    if isinstance(value, float):
        raise TypeError("canonical JSON holds no floats")
    if isinstance(value, Mapping):
        for v in value.values():
            _refuse_floats(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            _refuse_floats(v)


def _no_float(text: str) -> object:
    raise InvalidInput(f"{text} is a float; write exact values as strings", field="rules")


def _check_window(start: object, end: object) -> None:
    for name, value in (("start", start), ("end", end)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InvalidInput(f"{name} must be a non-negative integer", field=name)
    if start > end:  # type: ignore[operator]
        raise InvalidInput("the window ends before it starts", field="end")


def _check_int(value: object, field: str, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput(f"{field} must be an integer from {low} to {high}", field=field)
