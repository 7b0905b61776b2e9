"""Merchant-defined indicators: the parser and validator, the DuckDB compilation
against brute-force counts, and the presets against the catalogue's reference."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.unit.indicators_world import BASE, DAY, logs_strategy, reference

from couponchain.domain import indicator_language as lang
from couponchain.domain.access_log_columns import RecordColumns
from couponchain.domain.access_logs import AccessMethod, Operation
from couponchain.domain.indicator_sql import compile_indicator
from couponchain.errors import InvalidInput
from couponchain.services.marketing_indicators import plain, run
from couponchain.store.analytics import AccessLogStore

_ids = itertools.count(1)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AccessLogStore]:
    engine = AccessLogStore(tmp_path_factory.mktemp("access-logs"))
    yield engine
    engine.close()


def _batch(store: AccessLogStore, records) -> list[int]:
    batch = next(_ids)
    store.write(batch, RecordColumns.of(records))
    return [batch]


# --- the parser and validator ------------------------------------------------------


@pytest.mark.parametrize("text", [
    'count(claims, window=7d) / count(views where method="app", window=7d)',
    "conversion_rate * 100",
    "count(records, by=operation, top=5)",
    'count(redemptions where kind in ("edition", "promotion") and method != "app")',
    "-count(visitors) + 1.5",
    "(count(write_offs) - count(purchases)) * 2",
])
def test_valid_expressions_parse(text):
    assert lang.counts(lang.parse(text))


@pytest.mark.parametrize(("text", "message"), [
    ("", "give an expression"),
    ("count(claimz)", "unknown source 'claimz'"),
    ("foo + 1", "unknown name 'foo'"),
    ("count(views, window=7x)", "bad window '7x'"),
    ("count(views, window=0d)", "bad window '0d': from 1m to 366d"),
    ("count(views, window=400d)", "bad window '400d'"),
    ("count(views, window=7)", "bad window '7'"),
    ("count(views) / 0", "division by the constant 0"),
    ("count(views) / 0.0", "division by the constant 0"),
    ("count(views", "the expression stops too early"),
    ("count(views) ; import os", "unexpected ';'"),
    ('__import__("os").system("true")', "syntax error"),
    ("count(views).__class__", "unexpected '.'"),
    ("count(records, by=method) + 1", "a grouped count (by=) is a table"),
    ("count(views, top=3)", "top needs by="),
    ("count(records, by=operation, top=99)", "top must be a whole number from 1 to 20"),
    ("count(visitors, by=method)", "cannot be grouped by 'method'"),
    ("count(views, windw=7d)", "unknown option 'windw'"),
    ("count(views, window=1d, window=2d)", "option 'window' given twice"),
    ('count(views where method="GET")', "method 'GET' is unknown; one of browser, desktop, app"),
    ('count(views where kind="prize")', "views cannot be filtered by 'kind'"),
    ('count(claims where kind="coupon")', "kind 'coupon' is unknown"),
    ("1 + 2", "counts nothing"),
    ("(" * 25 + "count(views)" + ")" * 25, "parentheses nest 26 deep; at most 24"),
    ("count(views) + " * 8 + "count(views)", "the expression has 9 counts; at most 8"),
    ("-" * 12 + "count(views)", "nests deeper than 12"),
    ("count(views) + " + "1 + " * 40 + "1", "terms; at most 40"),
    ("count(views)" + " " * 500, "characters; at most 500"),
])
def test_invalid_expressions_name_the_field_and_rule(text, message):
    with pytest.raises(InvalidInput) as caught:
        lang.parse(text)
    assert caught.value.field == "expression"
    assert message in caught.value.message


@settings(max_examples=40)
@given(st.text(alphabet='count()views=",.+-*/ 7dwhere_method1app', max_size=60))
def test_any_text_parses_or_is_refused_as_invalid_input(text):
    # Never another exception (a 5xx): the parser is total over text.
    try:
        tree = lang.parse(text)
    except InvalidInput as e:
        assert e.field == "expression" and e.message
    else:
        assert lang.counts(tree)


@pytest.mark.parametrize(("name", "ok"), [("claim_rate", True), ("a", True),
                                          ("page_views", False), ("views", False),
                                          ("Bad", False), ("9x", False), ("x" * 41, False)])
def test_names(name, ok):
    if ok:
        assert lang.check_name(name) == name
    else:
        with pytest.raises(InvalidInput) as caught:
            lang.check_name(name)
        assert caught.value.field == "name"


def test_filter_values_travel_as_parameters_not_sql_text():
    tree = lang.parse('count(claims where kind="prize" and method="app", window=2h)')
    compiled = compile_indicator(tree, 100, 10_000)
    assert "prize" not in compiled.sql and "7200" not in compiled.sql
    assert "prize" in compiled.params.values()
    assert int(AccessMethod.APP) in compiled.params.values()
    assert 10_000 - 7200 in compiled.params.values()


# --- values ---------------------------------------------------------------------


@settings(max_examples=25)
@given(logs_strategy, st.integers(BASE - DAY, BASE + DAY), st.integers(0, DAY))
def test_presets_compute_the_catalogue(store, records, start, length):
    """Each of the 11 built-in indicators, written in the language, gives what
    the catalogue's reference computation gives over the same records."""
    end = start + length
    batches = _batch(store, records)
    expected = reference(records, start, end, 1)
    for name, text in lang.PRESETS.items():
        got = run(store, batches, 1, [], lang.parse(text), start, end)
        want = expected[name]
        if hasattr(want, "value"):  # a Rate: undefined when its denominator is 0
            assert got == want.value, name
        elif isinstance(want, list):
            assert got == [list(item) for item in want], name
        else:
            assert got == want, name


def _brute(records, ledger, count: lang.Count, start: int, end: int) -> int:
    """One count the slow, obvious way."""
    s = end - count.window if count.window is not None else start
    fixed = dict(lang.SOURCES[count.source][1])

    def matches(values: dict[str, str]) -> bool:
        for field, allowed in fixed.items():
            if values[field] not in allowed:
                return False
        for f in count.filters:
            if f.field in values and (values[f.field] in f.values) == f.negated:
                return False
        return True

    window = [r for r in records if r.merchant == 1 and s <= r.time < end]
    labels = [{"method": r.method.label, "operation": r.operation.label} for r in window]
    if count.table == lang.LOG:
        return sum(1 for v in labels if matches(v))
    if count.table == lang.VISITORS:
        return len({(r.account or r.visitor) for r, v in zip(window, labels, strict=True)
                    if matches(v)})
    total = 0
    log_fields = [f for f in count.filters if f.field in ("method", "operation")]
    for t, kind, action, account, weight in ledger:
        if not (s <= t < end and matches({"kind": kind, "action": action})):
            continue
        if log_fields and not any(
                r.account and r.account.lower() == account
                and all((lab[f.field] in f.values) != f.negated for f in log_fields)
                for r, lab in zip(window, labels, strict=True)):
            continue
        total += weight
    return total


ledger_strategy = st.lists(st.tuples(
    st.integers(BASE - DAY, BASE + DAY), st.sampled_from(lang.KINDS),
    st.sampled_from(lang.ACTIONS), st.sampled_from(["", "alice", "bob", "dave"]),
    st.sampled_from([1, 1, -1])), max_size=30)
count_strategy = st.builds(
    lambda source, f, window: f"count({source}{f}{window})",
    st.sampled_from(["records", "views", "visitors", "claims", "redemptions", "write_offs",
                     "purchases", "ledger"]),
    st.sampled_from(["", ' where method="app"', ' where method != "browser"',
                     ' where operation in ("claim", "redeem")']),
    st.sampled_from(["", ", window=6h", ", window=2d"]))


@settings(max_examples=30)
@given(logs_strategy, ledger_strategy, count_strategy, count_strategy,
       st.integers(BASE - DAY, BASE + DAY))
def test_a_ratio_of_counts_matches_brute_force(store, records, ledger, a, b, start):
    end = start + DAY
    text = f"{a} / {b}"
    tree = lang.parse(text)
    batches = _batch(store, records)
    x, y = (_brute(records, ledger, c, start, end) for c in lang.counts(tree))
    expected = None if y == 0 else Fraction(x, y)
    assert run(store, batches, 1, ledger, tree, start, end) == expected


def test_kinds_group_and_reversals_net_out(store):
    ledger = [(BASE, "promotion", "redeem", "alice", 1), (BASE + 1, "promotion", "redeem",
                                                           "alice", -1),
              (BASE + 2, "prize", "claim", "bob", 1), (BASE + 3, "edition", "redeem", "", 1)]
    tree = lang.parse("count(ledger, by=kind)")
    got = run(store, [], 1, ledger, tree, BASE, BASE + 10)
    assert got == {"edition": 1, "promotion": 0, "prize": 1, "referral": 0}
    assert run(store, [], 1, ledger, lang.parse("count(write_offs)"), BASE, BASE + 1) == 1
    assert run(store, [], 1, ledger, lang.parse("count(claims) / count(purchases)"),
               BASE, BASE + 10) is None
    assert Operation.CLAIM.label == "claim"


def test_values_beyond_a_double_are_shown_without_floats(store):
    # Found by review: float() of this fraction overflowed (a 500 in preview).
    tiny = "0." + "0" * 400 + "1"
    tree = lang.parse(f"(count(views) + 3) / {tiny} / 7")
    got = run(store, [], 1, [], tree, BASE, BASE + 10)
    assert got == Fraction(3 * 10**401, 7)
    assert plain(got)["value"] == "4.28571E+400"
    assert run(store, [], 1, [], lang.parse("(count(views) + 4) / 2"), BASE, BASE + 1) == 2
    assert plain(Fraction(1, 3))["value"] == "0.333333"


# --- rules naming the merchant's indicators ---------------------------------------


def test_rules_name_custom_indicators_and_keep_old_bytes_without_them():
    from couponchain.domain import indicators as ind

    periodic = {"type": "periodic", "every_minutes": 60, "starts_at": BASE}
    plain_rules = {"rules": [{"indicators": ["page_views"], "condition": periodic}]}
    # Without custom indicators the canonical JSON (and its hash on chain) is unchanged.
    assert b"custom" not in ind.rules_to_json(ind.rules_from_json(plain_rules))
    mine = ind.rules_from_json({"rules": [{"indicators": [], "custom": ["zeta", "alpha"],
                                           "condition": periodic}]})
    assert mine.rules[0].custom == ("alpha", "zeta")
    assert ind.rules_from_json(ind.rules_to_json(mine)) == mine
    for custom, field in ((["page_views"], "rules.0.custom.0"),
                          (["ok", "Bad!"], "rules.0.custom.1"),
                          (["a", "a"], "rules.0.custom"), ("a", "rules.0.custom")):
        with pytest.raises(InvalidInput) as caught:
            ind.rules_from_json({"rules": [{"indicators": ["page_views"], "custom": custom,
                                            "condition": periodic}]})
        assert caught.value.field == field, custom
    with pytest.raises(InvalidInput) as caught:
        ind.rules_from_json({"rules": [{"indicators": [], "condition": periodic}]})
    assert caught.value.field == "rules.0.indicators"


def test_a_threshold_compares_one_of_the_rule_s_own_indicators():
    from couponchain.domain import indicators as ind

    catalogue = {"type": "threshold", "indicator": "page_views", "op": ">=", "value": "3",
                 "window_minutes": 60}
    old = {"rules": [{"indicators": ["page_views"], "condition": catalogue}]}
    # A catalogue threshold keeps its bytes (and its hash on chain).
    assert ind.rules_to_json(ind.rules_from_json(old)) == (
        b'{"rules":[{"condition":{"indicator":"page_views","op":">=","type":"threshold",'
        b'"value":"3","window_minutes":60},"indicators":["page_views"],"tz_offset_minutes":0}]}')
    own = {"type": "threshold", "custom": "app_rate", "op": ">", "value": "1/4"}
    rules = ind.rules_from_json({"rules": [{"indicators": [], "custom": ["app_rate"],
                                            "condition": own}]})
    assert ind.rules_from_json(ind.rules_to_json(rules)) == rules
    condition = rules.rules[0].condition
    assert isinstance(condition, ind.Threshold) and condition.name == "app_rate"
    assert condition.holds({"app_rate": Fraction(1, 3)})
    assert not condition.holds({"app_rate": Fraction(1, 4)})
    assert not condition.holds({"app_rate": None})  # a ratio over a count of 0
    assert not condition.holds({})  # definitions not (yet) recorded: never fires
    for rule, field in (({"indicators": ["page_views"], "condition": own},
                         "rules.0.condition.custom"),
                        ({"indicators": [], "custom": ["app_rate"],
                          "condition": {**own, "indicator": "page_views"}},
                         "rules.0.condition.custom"),
                        ({"indicators": [], "custom": ["app_rate"],
                          "condition": {**own, "custom": "Bad!"}},
                         "rules.0.condition.custom"),
                        ({"indicators": ["page_views"],
                          "condition": {k: v for k, v in own.items() if k != "custom"}},
                         "rules.0.condition.indicator")):
        with pytest.raises(InvalidInput) as caught:
            ind.rules_from_json({"rules": [rule]})
        assert caught.value.field == field, rule
