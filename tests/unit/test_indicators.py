"""Indicators against a brute-force reference (Hypothesis), time-zone and day
boundaries, empty windows; reporting rules (validation, canonical JSON);
threshold and periodic evaluation (crossing, re-arming, restarts); report
canonical JSON and hash stability."""

import copy
from datetime import UTC, datetime, timedelta, timezone
from fractions import Fraction

import pytest
from eth_utils import keccak
from hypothesis import given
from hypothesis import strategies as st
from tests.unit.indicators_world import BASE, DAY, OFFSETS, logs_strategy, reference, times

from couponchain.domain import indicators as ind
from couponchain.domain.access_logs import AccessMethod, AccessRecord, Operation
from couponchain.domain.indicators import (
    Decision,
    Indicator,
    Periodic,
    Rate,
    ReportingRule,
    RuleSet,
    RuleState,
    Threshold,
    Trigger,
)
from couponchain.errors import InvalidInput

# --- indicators ---------------------------------------------------------------


@given(logs_strategy, times, st.integers(0, 2 * DAY), st.sampled_from([None, 1, 2]))
def test_indicators_match_the_reference(records, start, length, merchant):
    got = ind.compute(records, start, start + length, merchant=merchant)
    assert got == reference(records, start, start + length, merchant)
    assert got["new_visitors"] + got["returning_visitors"] == got["unique_visitors"]
    assert set(got) == set(Indicator)


@given(logs_strategy, times)
def test_empty_window_counts_nothing(records, t):
    got = ind.compute(records, t, t)
    assert got == reference(records, t, t)
    assert got["unique_visitors"] == got["page_views"] == 0
    assert got["conversion_rate"].value is None and got["redemption_rate"].value is None
    assert got["top_operations"] == []
    assert got["visits_by_method"] == {"browser": 0, "desktop": 0, "app": 0}


@given(logs_strategy, times, st.sampled_from(OFFSETS))
def test_local_day_matches_calendar_dates(records, t, offset):
    """A day window in a time zone holds exactly the records whose local
    calendar date is that day's (checked with datetime, independently)."""
    start, end = ind.day_window(t, offset)
    assert end - start == DAY and start <= t < end
    zone = timezone(timedelta(minutes=offset))
    day = datetime.fromtimestamp(t, zone).date()
    assert datetime.fromtimestamp(start, zone).timetuple()[3:6] == (0, 0, 0)
    same_day = [r for r in records if datetime.fromtimestamp(r.time, zone).date() == day]
    in_window = [r for r in records if start <= r.time < end]
    assert sorted(same_day, key=repr) == sorted(in_window, key=repr)
    assert ind.compute(records, start, end) == reference(records, start, end)


def test_day_boundary_records_fall_on_the_right_side():
    record = AccessRecord(b"\x01" * 32, "", BASE, 1, AccessMethod.APP, Operation.VIEW)
    just_before = AccessRecord(b"\x02" * 32, "", BASE - 1, 1, AccessMethod.APP, Operation.VIEW)
    start, end = ind.day_window(BASE, 0)
    assert (start, end) == (BASE, BASE + DAY)
    assert ind.compute([record, just_before], start, end)["page_views"] == 1
    # In UTC+8 both fall on the same local day (08:00 and 07:59:59).
    start8, end8 = ind.day_window(BASE, 480)
    assert start8 == BASE - 8 * 3600
    assert ind.compute([record, just_before], start8, end8)["page_views"] == 2
    # The window's end is exclusive.
    assert ind.compute([record], BASE - 10, BASE)["page_views"] == 0


def test_visitor_is_the_account_when_logged_in():
    a = AccessRecord(b"\x01" * 32, "alice", BASE, 1, AccessMethod.APP, Operation.VIEW)
    b = AccessRecord(b"\x02" * 32, "alice", BASE + 1, 1, AccessMethod.BROWSER, Operation.PURCHASE)
    c = AccessRecord(b"\x01" * 32, "", BASE + 2, 1, AccessMethod.APP, Operation.VIEW)
    got = ind.compute([a, b, c], BASE, BASE + 10)
    assert got["unique_visitors"] == 2
    assert got["conversion_rate"] == Rate(1, 2)


def test_new_and_returning_visitors():
    old = AccessRecord(b"\x01" * 32, "", BASE - 5, 1, AccessMethod.APP, Operation.VIEW)
    again = AccessRecord(b"\x01" * 32, "", BASE + 5, 1, AccessMethod.APP, Operation.VIEW)
    fresh = AccessRecord(b"\x02" * 32, "", BASE + 6, 1, AccessMethod.APP, Operation.VIEW)
    got = ind.compute([again, fresh, old], BASE, BASE + 10)
    assert (got["new_visitors"], got["returning_visitors"]) == (1, 1)


def test_window_must_be_ordered():
    with pytest.raises(InvalidInput) as error:
        ind.compute([], 10, 9)
    assert error.value.field == "end"


# --- rules --------------------------------------------------------------------


RULES_JSON = {
    "rules": [
        {
            "indicators": ["unique_visitors", "page_views"],
            "condition": {"type": "periodic", "every_hours": 24},
            "tz_offset_minutes": 480,
        },
        {
            "indicators": ["redemption_rate"],
            "condition": {
                "type": "threshold",
                "indicator": "redemption_rate",
                "op": "<",
                "value": "12.5%",
                "window_minutes": 60,
            },
        },
    ]
}


def test_rules_round_trip_through_canonical_json():
    rules = ind.rules_from_json(RULES_JSON)
    first, second = rules.rules
    assert first.indicators == (Indicator.PAGE_VIEWS, Indicator.UNIQUE_VISITORS)
    assert first.condition == Periodic(24 * 60)
    assert second.condition.value == Fraction(1, 8)
    encoded = ind.rules_to_json(rules)
    assert ind.rules_from_json(encoded) == rules
    assert ind.rules_to_json(ind.rules_from_json(encoded)) == encoded
    assert b" " not in encoded and b'"value":"1/8"' in encoded
    assert ind.rules_hash(rules) == keccak(encoded)


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda r: r["rules"][0].update(indicators=[]), "rules.0.indicators"),
        (lambda r: r["rules"][0].update(indicators=["clicks"]), "rules.0.indicators.0"),
        (lambda r: r["rules"][0].update(indicators=["page_views"] * 2), "rules.0.indicators"),
        (lambda r: r["rules"][0].update(tz_offset_minutes=900), "rules.0.tz_offset_minutes"),
        (
            lambda r: r["rules"][0]["condition"].update(every_hours=0),
            "rules.0.condition.every_hours",
        ),
        (
            lambda r: r["rules"][0]["condition"].update(every_minutes=0),
            "rules.0.condition.every_minutes",
        ),
        (lambda r: r["rules"][0]["condition"].update(type="daily"), "rules.0.condition.type"),
        (lambda r: r["rules"][1]["condition"].update(op="=="), "rules.1.condition.op"),
        (lambda r: r["rules"][1]["condition"].update(value="much"), "rules.1.condition.value"),
        (lambda r: r["rules"][1]["condition"].update(value="-1"), "rules.1.condition.value"),
        (lambda r: r["rules"][1]["condition"].pop("value"), "rules.1.condition.value"),
        (
            lambda r: r["rules"][1]["condition"].update(indicator="top_operations"),
            "rules.1.condition.indicator",
        ),
        (
            lambda r: r["rules"][1]["condition"].update(window_minutes=0),
            "rules.1.condition.window_minutes",
        ),
        (lambda r: r["rules"].extend([r["rules"][0]] * 15), "rules"),
    ],
)
def test_rule_errors_name_the_field(mutate, field):
    data = copy.deepcopy(RULES_JSON)
    mutate(data)
    with pytest.raises(InvalidInput) as error:
        ind.rules_from_json(data)
    assert error.value.field == field


def test_floats_are_refused_in_rules():
    text = b'{"rules":[{"indicators":["page_views"],"condition":{"type":"threshold",'
    text += b'"indicator":"conversion_rate","op":">","value":0.5}}]}'
    with pytest.raises(InvalidInput) as error:
        ind.rules_from_json(text)
    assert error.value.field == "rules"
    with pytest.raises(InvalidInput):
        Threshold(Indicator.CONVERSION_RATE, ">", 0.5)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput) as bad:
        ind.rules_from_json(b"{nope")
    assert bad.value.field == "rules"


# --- threshold evaluation -----------------------------------------------------


def _fake(values_by_time):
    calls = []

    def compute(start, end):
        calls.append((start, end))
        return {Indicator.UNIQUE_VISITORS: values_by_time[end]}

    return compute, calls


@given(st.lists(st.integers(0, 10), min_size=1, max_size=40), st.integers(0, 10))
def test_threshold_fires_exactly_when_crossed(values, limit):
    rule = ReportingRule(
        (Indicator.UNIQUE_VISITORS,),
        Threshold(Indicator.UNIQUE_VISITORS, ">=", limit, window_minutes=60),
    )
    now0 = BASE
    compute, calls = _fake({now0 + 60 * i: v for i, v in enumerate(values)})
    state = RuleState()
    fired = []
    for i in range(len(values)):
        decision = ind.evaluate_rule(rule, state, now0 + 60 * i, compute)
        # A restart between evaluations: the state goes through its dict form.
        state = RuleState.from_dict(decision.state.to_dict())
        if decision.fires:
            fired.append(i)
            assert decision.trigger is Trigger.THRESHOLD
            assert (decision.period_start, decision.period_end) == (
                now0 + 60 * i - 3600,
                now0 + 60 * i,
            )
    holds = [v >= limit for v in values]
    expected = [i for i, h in enumerate(holds) if h and (i == 0 or not holds[i - 1])]
    assert fired == expected
    assert calls[0] == (now0 - 3600, now0)


def test_threshold_needs_re_arming_even_if_evaluated_again():
    rule = ReportingRule((Indicator.UNIQUE_VISITORS,), Threshold(Indicator.UNIQUE_VISITORS, ">", 5))
    compute, _ = _fake({100: 9, 200: 9, 300: 1, 400: 6})
    d1 = ind.evaluate_rule(rule, RuleState(), 100, compute)
    d2 = ind.evaluate_rule(rule, d1.state, 100, compute)
    d3 = ind.evaluate_rule(rule, d2.state, 200, compute)
    d4 = ind.evaluate_rule(rule, d3.state, 300, compute)
    d5 = ind.evaluate_rule(rule, d4.state, 400, compute)
    assert [d.fires for d in (d1, d2, d3, d4, d5)] == [True, False, False, False, True]
    assert (d1.period_start, d1.period_end) == (0, 100)


def test_undefined_rate_never_holds():
    rule = ReportingRule(
        (Indicator.REDEMPTION_RATE,), Threshold(Indicator.REDEMPTION_RATE, "<", "25%")
    )

    def rate(numerator, denominator):
        return lambda start, end: {Indicator.REDEMPTION_RATE: Rate(numerator, denominator)}

    assert not ind.evaluate_rule(rule, RuleState(), BASE, rate(0, 0)).fires
    assert not ind.evaluate_rule(rule, RuleState(), BASE, rate(1, 4)).fires
    assert ind.evaluate_rule(rule, RuleState(), BASE, rate(1, 5)).fires


@pytest.mark.parametrize(
    ("op", "results"),
    [
        (">=", [False, True, True]),
        ("<=", [True, True, False]),
        (">", [False, False, True]),
        ("<", [True, False, False]),
    ],
)
def test_threshold_operators(op, results):
    condition = Threshold(Indicator.PURCHASES, op, 3)
    assert [condition.holds({Indicator.PURCHASES: v}) for v in (2, 3, 4)] == results


# --- periodic evaluation ------------------------------------------------------


@given(
    st.lists(st.integers(0, 3 * DAY), min_size=1, max_size=30),
    st.sampled_from([1, 15, 60, 360, 1440]),
    st.sampled_from(OFFSETS),
    st.data(),
)
def test_periodic_fires_once_per_period_across_restarts(steps, minutes, offset, data):
    rule = ReportingRule((Indicator.PAGE_VIEWS,), Periodic(minutes), tz_offset_minutes=offset)
    every = minutes * 60
    nows = sorted(BASE + s for s in steps)
    restarts = data.draw(st.sets(st.integers(0, len(nows) - 1)))
    state = RuleState()
    fired = []

    def never(start, end):
        raise AssertionError("a periodic rule computes nothing to decide")

    for i, now in enumerate(nows):
        decision = ind.evaluate_rule(rule, state, now, never)
        again = ind.evaluate_rule(rule, decision.state, now, never)  # evaluated twice
        assert not again.fires and again.state == decision.state
        state = decision.state
        if i in restarts:
            state = RuleState.from_dict(dict(state.to_dict()))
        if decision.fires:
            fired.append(decision.period_index)
            assert decision.trigger is Trigger.PERIODIC
            assert decision.period_end - decision.period_start == every
            assert decision.period_end <= now < decision.period_end + every
            assert (decision.period_start + offset * 60) % every == 0
    done = sorted({(now + offset * 60) // every - 1 for now in nows})
    assert fired == done


def test_daily_rule_reports_the_local_day_that_ended():
    rule = ReportingRule((Indicator.PAGE_VIEWS,), Periodic(1440), tz_offset_minutes=480)
    now = BASE + 3600  # 09:00 in UTC+8
    decision = ind.evaluate_rule(rule, RuleState(), now, None)  # type: ignore[arg-type]
    assert decision.fires
    assert (decision.period_start, decision.period_end) == (BASE - 8 * 3600 - DAY, BASE - 8 * 3600)
    local_start = datetime.fromtimestamp(decision.period_start, timezone(timedelta(hours=8)))
    assert (local_start.hour, local_start.minute) == (0, 0)


# --- reports ------------------------------------------------------------------


ALL = tuple(Indicator)


def _report(records, merchant_number=None):
    rule = ReportingRule(ALL, Periodic(1440))
    decision = Decision(True, RuleState(0), Trigger.PERIODIC, BASE, BASE + DAY, 0)
    return ind.make_report(
        "0xMerchant",
        3,
        1,
        rule,
        decision,
        records,
        merchant_number=merchant_number,
        batches=[9, 2],
    )


@given(logs_strategy, st.randoms(use_true_random=False))
def test_report_hash_is_stable_under_record_order(records, rnd):
    shuffled = list(records)
    rnd.shuffle(shuffled)
    assert ind.report_hash(_report(records)) == ind.report_hash(_report(shuffled))
    assert ind.report_json(_report(records, 1)) == ind.report_json(_report(shuffled, 1))


def test_report_hash_changes_with_a_record_in_the_window():
    record = AccessRecord(b"\x01" * 32, "", BASE + 5, 1, AccessMethod.APP, Operation.VIEW)
    other = AccessRecord(b"\x01" * 32, "", BASE + 5, 1, AccessMethod.APP, Operation.PURCHASE)
    outside = AccessRecord(b"\x01" * 32, "", BASE + DAY, 1, AccessMethod.APP, Operation.CLAIM)
    assert ind.report_hash(_report([record])) != ind.report_hash(_report([other]))
    assert ind.report_hash(_report([record])) == ind.report_hash(_report([record, outside]))


def test_report_json_is_canonical_and_exact():
    records = [
        AccessRecord(b"\x01" * 32, "", BASE + 5, 1, AccessMethod.APP, Operation.VIEW),
        AccessRecord(b"\x02" * 32, "", BASE + 6, 1, AccessMethod.BROWSER, Operation.PURCHASE),
        AccessRecord(b"\x03" * 32, "", BASE + 7, 1, AccessMethod.BROWSER, Operation.VIEW),
    ]
    report = _report(records)
    text = ind.report_json(report)
    assert text.startswith(b'{"batches":[2,9],"indicators":{"conversion_rate":')
    assert b'"conversion_rate":{"denominator":3,"numerator":1}' in text
    assert b'"top_operations":[["view",2],["purchase",1]]' in text
    assert b'"trigger":"periodic"' in text
    assert b"." not in text.replace(b"0xMerchant", b"")
    assert ind.report_hash(report) == keccak(text)


def test_canonical_json_refuses_floats():
    with pytest.raises(TypeError):
        ind.canonical_json({"rate": 0.5})


def test_unfired_decision_makes_no_report():
    rule = ReportingRule(ALL, Periodic(60))
    with pytest.raises(InvalidInput):
        ind.make_report("m", 1, 0, rule, Decision(False, RuleState()), [])


def test_rule_set_size_and_catalogue():
    rule = ReportingRule(("page_views",), Periodic(60))  # type: ignore[arg-type]
    assert rule.indicators == (Indicator.PAGE_VIEWS,)
    with pytest.raises(InvalidInput):
        RuleSet((rule,) * 17)
    assert datetime.fromtimestamp(BASE, UTC).strftime("%H:%M") == "00:00"
