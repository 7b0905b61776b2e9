"""The catalogue computed from its preset expressions (one engine for the built-in
and the merchant's own indicators) against the domain's `compute`, which
`reproduce` recomputes reports with, and the brute-force reference: the same
values, and the same report bytes."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.unit.indicators_world import DAY, logs_strategy, reference, times

from couponchain.domain import access_log_columns as columnar
from couponchain.domain import indicators as ind
from couponchain.domain.access_log_columns import RecordColumns
from couponchain.services.marketing_demo import demo_batches
from couponchain.services.marketing_engine import catalogue
from couponchain.store.analytics import AccessLogStore

KEY = b"k" * 32
_ids = itertools.count(1)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AccessLogStore]:
    engine = AccessLogStore(tmp_path_factory.mktemp("access-logs"))
    yield engine
    engine.close()


def _stored(store: AccessLogStore, columns: list[RecordColumns]) -> list[int]:
    batches = []
    for part in columns:
        batches.append(next(_ids))
        store.write(batches[-1], part)
    return batches


def _domain(parts: list[RecordColumns], merchant: int, start: int,
            end: int) -> dict[str, object]:
    """The catalogue as `reproduce` recomputes it: the domain's one pass in Python."""
    return ind.compute([r for p in parts for r in p.records()], start, end, merchant=merchant)


def _report_bytes(values: dict[str, object], start: int, end: int) -> bytes:
    return ind.report_json(ind.Report(merchant="0x" + "11" * 20, rules_version=1, rule_index=0,
                                      trigger=ind.Trigger.PERIODIC, period_start=start,
                                      period_end=end, values=dict(values), batches=(1,)))


@given(logs_strategy, times, st.integers(0, 2 * DAY), st.sampled_from([1, 2]),
       st.integers(1, 3))
def test_presets_give_what_the_domain_gives(store, records, start, length, merchant, parts):
    cut = max(1, len(records) // parts)
    columns = [RecordColumns.of(records[i:i + cut]) for i in range(0, max(1, len(records)), cut)]
    batches = _stored(store, columns)
    end = start + length
    domain = _domain(columns, merchant, start, end)
    got = catalogue(store, batches, merchant, start, end)
    assert got == domain == reference(records, start, end, merchant)
    assert _report_bytes(got, start, end) == _report_bytes(domain, start, end)


def test_presets_give_what_the_domain_gives_on_a_month_of_demo_logs(store):
    # Realistic logs (returning visitors, the funnel, two merchants in one
    # batch): every day of the month, the month, and its last hour.
    end = 1_700_006_400
    parts = [columnar.parse_columns(b, KEY) for b in itertools.chain(
        demo_batches(7, 6_000, days=30, end=end, batch_size=2_000, seed=11),
        demo_batches(8, 2_000, days=30, end=end, batch_size=2_000, seed=12))]
    batches = _stored(store, parts)
    windows = [(end - d * DAY, end - (d - 1) * DAY) for d in range(1, 31)]
    windows += [(end - 3600, end), (end - 30 * DAY, end)]
    for start, stop in windows:
        domain = _domain(parts, 7, start, stop)
        got = catalogue(store, batches, 7, start, stop)
        assert got == domain, (start, stop)
        assert _report_bytes(got, start, stop) == _report_bytes(domain, start, stop)
    assert domain["unique_visitors"] and domain["top_operations"]  # the month counted something


def test_no_batches_count_nothing(store):
    assert catalogue(store, [], 1, 0, DAY) == _domain([], 1, 0, DAY) == reference([], 0, DAY, 1)
