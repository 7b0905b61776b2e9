"""The analytics engine (Parquet files + DuckDB) against the brute-force reference,
and the columnar ingest parser against the record-by-record one."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.unit.indicators_world import BASE, DAY, OFFSETS, logs_strategy, reference, times

from couponchain.domain import access_log_columns as columnar
from couponchain.domain import access_logs as logs
from couponchain.domain import indicators as ind
from couponchain.domain.access_log_columns import RecordColumns
from couponchain.errors import InvalidInput
from couponchain.services.marketing_demo import demo_batches
from couponchain.services.marketing_engine import catalogue
from couponchain.store.analytics import AccessLogStore, visitor_ids

KEY = b"k" * 32
_ids = itertools.count(1)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AccessLogStore]:
    # Module-scoped (Hypothesis runs many examples per test); batch ids never repeat.
    engine = AccessLogStore(tmp_path_factory.mktemp("access-logs"))
    yield engine
    engine.close()


def _stored(store: AccessLogStore, records: list[logs.AccessRecord], parts: int) -> list[int]:
    """The records written as `parts` batches (empty ones included)."""
    cut = len(records) // max(1, parts)
    chunks = [records[i * cut:(i + 1) * cut] for i in range(parts - 1)]
    chunks.append(records[(parts - 1) * cut:])
    batches = []
    for chunk in chunks:
        batch = next(_ids)
        store.write(batch, RecordColumns.of(chunk))
        batches.append(batch)
    return batches


def _engine(store: AccessLogStore, batches: list[int], merchant: int, start: int,
            end: int) -> dict[str, object]:
    """The catalogue as the platform computes it (`views.indicators` calls this)."""
    return catalogue(store, batches, merchant, start, end)


@given(logs_strategy, times, st.integers(0, 2 * DAY), st.sampled_from([1, 2]),
       st.integers(1, 3))
def test_engine_matches_the_reference(store, records, start, length, merchant, parts):
    batches = _stored(store, records, parts)
    got = _engine(store, batches, merchant, start, start + length)
    assert got == reference(records, start, start + length, merchant)


@given(logs_strategy, times)
def test_engine_counts_nothing_in_an_empty_window(store, records, t):
    batches = _stored(store, records, 2)
    got = _engine(store, batches, 1, t, t)
    assert got == reference(records, t, t, 1)
    assert got["unique_visitors"] == 0 and got["top_operations"] == []
    assert _engine(store, [], 1, t, t + DAY) == reference([], t, t + DAY, 1)


@given(logs_strategy, times, st.sampled_from(OFFSETS))
def test_engine_local_days_match_the_reference(store, records, t, offset):
    start, end = ind.day_window(t, offset)
    batches = _stored(store, records, 1)
    assert _engine(store, batches, 2, start, end) == reference(records, start, end, 2)
    # Daily buckets of the dashboard fall on the same local midnights.
    zone = timezone(timedelta(minutes=offset))
    for at, _method, n in store.activity(batches, 2, start, end, DAY, offset * 60):
        assert at == start and datetime.fromtimestamp(at, zone).timetuple()[3:6] == (0, 0, 0)
        assert n <= len(records)


def test_record_on_a_day_boundary_counts_in_the_new_day(store):
    first = logs.AccessRecord(b"\x01" * 32, "", BASE - 1, 1, logs.AccessMethod.APP,
                              logs.Operation.VIEW)
    second = logs.AccessRecord(b"\x01" * 32, "", BASE, 1, logs.AccessMethod.APP,
                               logs.Operation.CLAIM)
    batches = _stored(store, [first, second], 1)
    today = _engine(store, batches, 1, BASE, BASE + DAY)
    assert today["page_views"] == 0 and today["coupon_claims"] == 1
    assert today["returning_visitors"] == 1 and today["new_visitors"] == 0


def test_a_batch_reads_back_in_order_and_hashes_to_its_root(store):
    batch = next(demo_batches(77, 5_000, days=2, end=BASE, seed=3))
    columns = columnar.parse_columns(batch, KEY)
    batch_id = next(_ids)
    store.write(batch_id, columns)
    again = store.read(batch_id)
    assert again == columns and columnar.root(again) == logs.root(logs.parse_batch(batch, KEY))
    assert not any(r["ip"].encode() in store.path(batch_id).read_bytes() for r in batch[:200])
    assert not list(Path(store.directory).glob("*.tmp"))
    store.remove(batch_id)
    assert not store.path(batch_id).exists()


def test_visitor_ids_follow_visitor_keys():
    records = logs.parse_batch(next(demo_batches(5, 3_000, days=1, end=BASE, seed=9)), KEY)
    ids = visitor_ids(RecordColumns.of(records))
    by_key: dict[str, int] = {}
    for record, visitor in zip(records, ids, strict=True):
        assert by_key.setdefault(record.visitor_key, visitor) == visitor
    assert len(set(by_key.values())) == len(by_key)
    assert all(0 <= v < 2**126 for v in ids)


# --- the columnar parser ----------------------------------------------------------


def _raw(rng: random.Random, i: int) -> dict[str, object]:
    return {"ip": rng.choice(["10.0.0.1", "192.168.1.20", " 10.0.0.1", "::ffff:10.0.0.1",
                              "2001:db8::1", "2001:DB8:0::1"]),
            "account": rng.choice(["", None, "ann", "bob"]), "time": BASE + i,
            "merchant": rng.choice([1, 2]), "method": rng.choice(["app", "browser"]),
            "operation": rng.choice(["view", "claim", "redeem"])}


def test_columns_equal_the_record_by_record_parse():
    rng = random.Random(5)
    items = [_raw(rng, i) for i in range(400)]
    for item in items[::7]:
        item.pop("account")
    assert columnar.parse_columns(items, KEY) == RecordColumns.of(logs.parse_batch(items, KEY))
    # Enum members (a Python caller) are accepted by both paths alike.
    items[3]["method"] = logs.AccessMethod.DESKTOP
    assert columnar.parse_columns(items, KEY).method[3] == logs.AccessMethod.DESKTOP


@pytest.mark.parametrize(("change", "field"), [
    ({"method": "telegraph"}, "records.17.method"),
    ({"operation": "View"}, "records.17.operation"),
    ({"ip": "999.1.1.1"}, "records.17.ip"),
    ({"ip": "010.0.0.1"}, "records.17.ip"),
    ({"ip": ["10.0.0.1"]}, "records.17.ip"),
    ({"time": 1.5}, "records.17.time"),
    ({"time": True}, "records.17.time"),
    ({"time": -1}, "records.17.time"),
    ({"merchant": 0}, "records.17.merchant"),
    ({"account": " padded"}, "records.17.account"),
    ({"account": ["x"]}, "records.17.account"),
    ({"account": "x" * 65}, "records.17.account"),
    ({"extra": 1}, "records.17.extra"),
])
def test_a_bad_record_is_named_exactly_as_before(change, field):
    rng = random.Random(1)
    items = [_raw(rng, i) for i in range(40)]
    items[17].update(change)
    items[30]["method"] = "nope"  # a later error never hides the first one
    with pytest.raises(InvalidInput) as fast:
        columnar.parse_columns(items, KEY)
    with pytest.raises(InvalidInput) as slow:
        logs.parse_batch(items, KEY)
    assert fast.value.field == slow.value.field == field
    assert fast.value.message == slow.value.message


def test_missing_fields_and_shapes_are_named():
    rng = random.Random(2)
    items = [_raw(rng, i) for i in range(5)]
    del items[2]["time"]
    with pytest.raises(InvalidInput, match="time is required") as error:
        columnar.parse_columns(items, KEY)
    assert error.value.field == "records.2.time"
    with pytest.raises(InvalidInput) as error:
        columnar.parse_columns([_raw(rng, 0), "oops"], KEY)
    assert error.value.field == "records.1"
    for bad in ([], [_raw(rng, 0)] * (logs.MAX_BATCH_RECORDS + 1), "records"):
        with pytest.raises(InvalidInput) as error:
            columnar.parse_columns(bad, KEY)  # type: ignore[arg-type]
        assert error.value.field == "records"


def test_a_worker_process_returns_errors_as_values():
    rng = random.Random(3)
    items = [_raw(rng, i) for i in range(3)]
    columns, root = columnar.parse_and_hash_plain(items, KEY)  # type: ignore[misc]
    assert root == logs.root(logs.parse_batch(items, KEY))
    items[1]["method"] = "fax"
    assert columnar.parse_and_hash_plain(items, KEY) == (
        "record 1: method must be one of browser, desktop, app", "records.1.method")
