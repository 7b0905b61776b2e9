"""Reporting rules: what a merchant asks to be reported, and when.

A merchant's `RuleSet` lists up to 16 rules; each selects indicators of the
catalogue (`indicator_catalogue.py`) and a condition, either `Periodic`
(every N minutes, periods aligned to midnight of the rule's time zone offset)
or `Threshold` (an indicator of the catalogue or one of the merchant's own,
over the last W minutes or all history, compared with a value). Threshold
values are exact fractions ("1/4", "0.25", "25%"). `evaluate_rule` decides
whether a rule fires now, from a persisted `RuleState`:

- periodic: fires once for each completed period, keyed by its index, so
  evaluating twice, or after a scheduler restart with the persisted state,
  never fires twice; after a downtime only the latest completed period is
  reported (missed ones are not back-filled).
- threshold: fires when the condition holds and the rule is armed, then
  disarms; it is re-armed by an evaluation where the condition does not hold.

Rules travel as canonical JSON (`indicator_reports.canonical_json`); its
keccak256 is what goes on chain.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from fractions import Fraction

from couponchain.domain.access_logs import keccak
from couponchain.domain.indicator_catalogue import (
    _ORDER,
    SCALAR_INDICATORS,
    Indicator,
    Rate,
    aligned_period,
)
from couponchain.domain.indicator_language import check_name
from couponchain.domain.indicator_reports import Trigger, canonical_json
from couponchain.errors import InvalidInput

MAX_RULES = 16
MAX_PERIOD_MINUTES = 31 * 24 * 60
MIN_TZ_OFFSET_MINUTES = -12 * 60
MAX_TZ_OFFSET_MINUTES = 14 * 60


#: The latest first-period start a rule may name (epoch seconds, year 2286).
MAX_STARTS_AT = 9_999_999_999


@dataclass(frozen=True, slots=True)
class Periodic:
    """Report every `every_minutes` minutes, over each period once it has ended.

    Period n (from 1) is `[starts_at + (n - 1) * every, starts_at + n * every)`:
    the schedule the contract keeps (`Schedule`). `starts_at` None means "from
    the next period boundary" (midnight-aligned in the rule's time zone), which
    `with_start` fixes before the rules go on chain.
    """

    every_minutes: int
    starts_at: int | None = None

    def __post_init__(self) -> None:
        _check_int(self.every_minutes, "every_minutes", 1, MAX_PERIOD_MINUTES)
        if self.starts_at is not None:
            _check_int(self.starts_at, "starts_at", 1, MAX_STARTS_AT)


_OPERATORS: dict[str, Callable[[Fraction, Fraction], bool]] = {
    ">=": lambda a, b: a >= b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    "<": lambda a, b: a < b,
}


@dataclass(frozen=True, slots=True)
class Threshold:
    """Report when `indicator op value` holds, the indicator computed over the
    last `window_minutes` minutes (None: all records before now).

    The indicator is one of the catalogue's (`indicator`) or, with `custom`,
    one of the merchant's own that the rule reports (`ReportingRule.custom`):
    its definition is then covered by the rule's hash on chain, as the
    condition is by the rules' hash.
    """

    indicator: Indicator | None
    op: str
    value: Fraction
    window_minutes: int | None = None
    custom: str | None = None

    def __post_init__(self) -> None:
        if self.custom is not None:
            if self.indicator is not None:
                raise InvalidInput("give indicator or custom, not both", field="custom")
            check_name(self.custom, "custom")
        else:
            self._check_indicator()
        if self.op not in _OPERATORS:
            raise InvalidInput(f"op must be one of {', '.join(_OPERATORS)}", field="op")
        object.__setattr__(self, "value", _fraction(self.value))
        if self.window_minutes is not None:
            _check_int(self.window_minutes, "window_minutes", 1, MAX_PERIOD_MINUTES)

    @property
    def name(self) -> str:
        """The compared indicator's name (catalogue or the merchant's own)."""
        return self.custom if self.custom is not None else str(self.indicator)

    def _check_indicator(self) -> None:
        if self.indicator is None:
            raise InvalidInput("give indicator (of the catalogue) or custom (one of the "
                               "rule's own indicators)", field="indicator")
        try:
            indicator = Indicator(self.indicator)  # type: ignore[arg-type]
        except ValueError:
            raise InvalidInput(f"unknown indicator {self.indicator!r}", field="indicator") from None
        if indicator not in SCALAR_INDICATORS:
            raise InvalidInput(f"{indicator} has no single value to compare", field="indicator")
        object.__setattr__(self, "indicator", indicator)

    def holds(self, values: Mapping[str, object]) -> bool:
        """Whether the condition holds for computed indicator values (an
        undefined value, a rate over 0 or a merchant's ratio over a count of
        0, never holds)."""
        value = values.get(self.name)
        if isinstance(value, Rate):
            if value.value is None:
                return False
            exact = value.value
        elif isinstance(value, (int, Fraction)) and not isinstance(value, bool):
            exact = Fraction(value)
        elif value is None and self.custom is not None:
            return False
        else:
            raise InvalidInput(f"{self.name} has no single value", field="indicator")
        return _OPERATORS[self.op](exact, self.value)


@dataclass(frozen=True, slots=True)
class ReportingRule:
    """Which indicators a report carries and when it is made. The indicators
    are kept in catalogue order; `tz_offset_minutes` aligns periodic reports
    to the merchant's local midnight."""

    indicators: tuple[Indicator, ...]
    condition: Periodic | Threshold
    tz_offset_minutes: int = 0
    #: names of the merchant's own indicators (`indicator_language`), sorted
    custom: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if isinstance(self.custom, (str, bytes)) or not isinstance(self.custom, (tuple, list)):
            raise InvalidInput("custom must be a list of indicator names", field="custom")
        for i, name in enumerate(self.custom):
            check_name(name, f"custom.{i}")
        if len(set(self.custom)) != len(self.custom):
            raise InvalidInput("an indicator is selected twice", field="custom")
        object.__setattr__(self, "custom", tuple(sorted(self.custom)))
        if isinstance(self.indicators, (str, bytes)) or not (self.indicators or self.custom):
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
        if isinstance(self.condition, Threshold) and self.condition.custom is not None \
                and self.condition.custom not in self.custom:
            raise InvalidInput(f"{self.condition.custom!r} is not one of the rule's custom "
                               "indicators: add it to custom", field="condition.custom")
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


def with_start(rules: RuleSet, now: int) -> RuleSet:
    """The rules with every periodic rule's `starts_at` fixed: a rule without
    one starts at the first period boundary at or after `now` (aligned to
    midnight of its time zone), so no period before the rules existed is due."""
    fixed = []
    for rule in rules.rules:
        condition = rule.condition
        if isinstance(condition, Periodic) and condition.starts_at is None:
            every = condition.every_minutes * 60
            _, start, end = aligned_period(now, every, rule.tz_offset_minutes * 60)
            condition = Periodic(condition.every_minutes, start if start == now else end)
            rule = replace(rule, condition=condition)
        fixed.append(rule)
    return RuleSet(tuple(fixed))


def schedules(rules: RuleSet) -> list[tuple[int, int]]:
    """The contract's `schedules` argument: (start, period in seconds) of each
    periodic rule, (0, 0) for a threshold rule. Call on `with_start`'s rules."""
    out = []
    for rule in rules.rules:
        condition = rule.condition
        if isinstance(condition, Periodic):
            if condition.starts_at is None:
                raise InvalidInput("a periodic rule needs its start", field="starts_at")
            out.append((condition.starts_at, condition.every_minutes * 60))
        else:
            out.append((0, 0))
    return out


def period_bounds(start: int, every_seconds: int, period: int) -> tuple[int, int]:
    """`[start, end)` of period number `period` (from 1) of a schedule."""
    return start + (period - 1) * every_seconds, start + period * every_seconds


def due_period(start: int, every_seconds: int, at: int, until: int | None = None) -> int:
    """The latest period closed at `at` (0: none), as the contract's
    `period_due`: only periods that ended by `until` (when the rules were
    superseded) count."""
    end = at if until is None else min(at, until)
    return 0 if every_seconds <= 0 or end < start else (end - start) // every_seconds

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
    (e.g. `indicator_catalogue.compute`, or the analytics store); it is called only
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


# --- helpers ------------------------------------------------------------------


def _rule_from_dict(item: object) -> ReportingRule:
    if not isinstance(item, Mapping):
        raise InvalidInput("a rule must be an object", field=None)
    indicators = item.get("indicators")
    if not isinstance(indicators, list):
        raise InvalidInput("indicators must be a list", field="indicators")
    condition = _within("condition", _condition_from_dict, item.get("condition"))
    custom = item.get("custom", [])
    if not isinstance(custom, list):
        raise InvalidInput("custom must be a list of indicator names", field="custom")
    return ReportingRule(
        indicators=tuple(indicators),
        condition=condition,
        tz_offset_minutes=item.get("tz_offset_minutes", 0),  # type: ignore[arg-type]
        custom=tuple(custom),
    )


def _condition_from_dict(item: object) -> Periodic | Threshold:
    if not isinstance(item, Mapping):
        raise InvalidInput("condition must be an object", field=None)
    kind = item.get("type")
    if kind == "periodic":
        starts_at = item.get("starts_at")
        if "every_hours" in item and "every_minutes" not in item:
            hours = item["every_hours"]
            _check_int(hours, "every_hours", 1, MAX_PERIOD_MINUTES // 60)
            return Periodic(hours * 60, starts_at)  # type: ignore[operator, arg-type]
        return Periodic(item.get("every_minutes"), starts_at)  # type: ignore[arg-type]
    if kind == "threshold":
        if "value" not in item:
            raise InvalidInput("value is required", field="value")
        return Threshold(
            indicator=item.get("indicator"),  # type: ignore[arg-type]
            op=item.get("op"),  # type: ignore[arg-type]
            value=item["value"],  # type: ignore[arg-type]
            window_minutes=item.get("window_minutes"),  # type: ignore[arg-type]
            custom=item.get("custom"),  # type: ignore[arg-type]
        )
    raise InvalidInput("type must be periodic or threshold", field="type")


def _rule_to_dict(rule: ReportingRule) -> dict[str, object]:
    condition = rule.condition
    if isinstance(condition, Periodic):
        cond: dict[str, object] = {"type": "periodic", "every_minutes": condition.every_minutes}
        if condition.starts_at is not None:
            cond["starts_at"] = condition.starts_at
    else:
        cond = {
            "type": "threshold",
            "op": condition.op,
            "value": str(condition.value),
            "window_minutes": condition.window_minutes,
        }
        # One key or the other: catalogue thresholds keep their bytes.
        if condition.custom is None:
            cond["indicator"] = str(condition.indicator)
        else:
            cond["custom"] = condition.custom
    out: dict[str, object] = {
        "indicators": [str(i) for i in rule.indicators],
        "condition": cond,
        "tz_offset_minutes": rule.tz_offset_minutes,
    }
    if rule.custom:  # absent otherwise: rules of catalogue indicators keep their bytes
        out["custom"] = list(rule.custom)
    return out


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


def _no_float(text: str) -> object:
    raise InvalidInput(f"{text} is a float; write exact values as strings", field="rules")


def _check_int(value: object, field: str, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput(f"{field} must be an integer from {low} to {high}", field=field)
