"""Rule schedules in the domain: the start a rule gets, the contract's arguments, due periods."""

from __future__ import annotations

import pytest

from couponchain.domain import indicators as ind
from couponchain.errors import InvalidInput

HOUR = 3600
DAY = 86_400


def _rules(condition: dict[str, object], tz: int = 0) -> ind.RuleSet:
    return ind.rules_from_json({"rules": [{"indicators": ["page_views"], "condition": condition,
                                           "tz_offset_minutes": tz}]})


def test_a_periodic_rule_without_a_start_starts_at_the_next_boundary() -> None:
    now = 10 * DAY + 5
    rules = ind.with_start(_rules({"type": "periodic", "every_hours": 24}, tz=480), now)
    # Local midnight at UTC+8 is 16:00 UTC the day before.
    assert rules.rules[0].condition == ind.Periodic(24 * 60, 10 * DAY + 16 * HOUR)
    on_boundary = ind.with_start(_rules({"type": "periodic", "every_minutes": 60}), 7 * HOUR)
    assert on_boundary.rules[0].condition == ind.Periodic(60, 7 * HOUR)


def test_a_given_start_is_kept_and_round_trips_through_the_canonical_json() -> None:
    rules = ind.with_start(_rules({"type": "periodic", "every_minutes": 30, "starts_at": 42}),
                           10**9)
    assert ind.schedules(rules) == [(42, 1800)]
    assert ind.rules_from_json(ind.rules_to_json(rules)) == rules
    assert b'"starts_at":42' in ind.rules_to_json(rules)


@pytest.mark.parametrize("bad", [0, -1, "2026-01-01", True, 10**10])
def test_a_bad_start_names_its_field(bad: object) -> None:
    with pytest.raises(InvalidInput) as refused:
        _rules({"type": "periodic", "every_minutes": 30, "starts_at": bad})
    assert refused.value.field == "rules.0.condition.starts_at"


def test_threshold_rules_have_no_schedule_and_unstarted_rules_none_yet() -> None:
    threshold = _rules({"type": "threshold", "indicator": "page_views", "op": ">=",
                        "value": 1})
    assert ind.schedules(threshold) == [(0, 0)]
    with pytest.raises(InvalidInput):
        ind.schedules(_rules({"type": "periodic", "every_minutes": 5}))


def test_due_periods_are_the_contract_s() -> None:
    assert ind.due_period(100, 60, 99) == 0
    assert ind.due_period(100, 60, 159) == 0
    assert ind.due_period(100, 60, 160) == 1
    assert ind.due_period(100, 60, 1000) == 15
    assert ind.due_period(100, 60, 1000, until=250) == 2  # superseded mid-period 3
    assert ind.period_bounds(100, 60, 3) == (220, 280)
