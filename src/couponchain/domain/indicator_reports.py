"""Reports: a fired rule's indicators over its period, and their canonical JSON.

Canonical JSON (rules and reports): UTF-8, keys sorted, no spaces, no floats;
its keccak256 is what goes on chain, so recomputing a report from the
anchored logs gives the same hash.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import TYPE_CHECKING

from couponchain.domain.access_logs import AccessRecord, keccak
from couponchain.domain.indicator_catalogue import Rate, _check_window, compute
from couponchain.errors import InvalidInput

if TYPE_CHECKING:  # the rules module imports this one
    from couponchain.domain.indicator_rules import Decision, ReportingRule


class Trigger(IntEnum):
    """Why a report was made; the value is the contract's `trigger`."""

    PERIODIC = 1
    THRESHOLD = 2
    MANUAL = 3


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
