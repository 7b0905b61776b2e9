"""Access-log records (validation naming record and field, pseudonymised IPs,
canonical encoding) and the Merkle tree of a batch (proofs for every index,
tampering, odd sizes, a single record)."""

from dataclasses import replace

import pytest
from eth_utils import keccak
from hypothesis import given
from hypothesis import strategies as st

from couponchain.domain import access_logs as logs
from couponchain.domain.access_logs import AccessMethod, AccessRecord, Operation
from couponchain.errors import InvalidInput

KEY = b"k" * 32


def raw(**overrides):
    return {
        "ip": "203.0.113.7",
        "account": "acct-1",
        "time": 1_700_000_000,
        "merchant": 42,
        "method": "app",
        "operation": "redeem",
    } | overrides


records_strategy = st.builds(
    AccessRecord,
    visitor=st.binary(min_size=32, max_size=32),
    account=st.sampled_from(["", "a", "acct-7", "ü-user"]),
    time=st.integers(0, logs.MAX_TIME),
    merchant=st.integers(1, 2**20),
    method=st.sampled_from(AccessMethod),
    operation=st.sampled_from(Operation),
)


# --- records ------------------------------------------------------------------


def test_parse_record_pseudonymises_the_ip():
    record = logs.parse_record(raw(), KEY)
    assert record.visitor == logs.pseudonymise_ip("203.0.113.7", KEY)
    assert b"203.0.113.7" not in logs.encode_record(record)
    assert (record.account, record.time, record.merchant) == ("acct-1", 1_700_000_000, 42)
    assert (record.method, record.operation) == (AccessMethod.APP, Operation.REDEEM)


def test_pseudonym_is_keyed_and_normalised():
    assert logs.pseudonymise_ip("2001:db8::1", KEY) == logs.pseudonymise_ip(
        "2001:0db8:0000::0001", KEY
    )
    assert logs.pseudonymise_ip("::ffff:198.51.100.1", KEY) == logs.pseudonymise_ip(
        "198.51.100.1", KEY
    )
    assert logs.pseudonymise_ip("198.51.100.1", KEY) != logs.pseudonymise_ip(
        "198.51.100.1", b"j" * 32
    )
    assert logs.pseudonymise_ip("198.51.100.1", KEY) != logs.pseudonymise_ip("198.51.100.2", KEY)


def test_pseudonym_refuses_short_keys_and_bad_ips():
    with pytest.raises(InvalidInput) as short:
        logs.pseudonymise_ip("198.51.100.1", b"short")
    assert short.value.field == "key"
    with pytest.raises(InvalidInput) as bad:
        logs.pseudonymise_ip("300.1.1.1", KEY)
    assert bad.value.field == "ip"


@pytest.mark.parametrize("written", ["198.51.100.23:443", "198.51.100.23/32",
                                     "[2001:db8::7]:443", "203.0.113.007"])
def test_a_refused_address_is_not_repeated_in_the_error(written):
    with pytest.raises(InvalidInput) as refused:
        logs.pseudonymise_ip(written, KEY)
    assert refused.value.field == "ip"
    assert written.split("/")[0].rsplit(":", 1)[0].strip("[]") not in refused.value.message


def test_anonymous_visitor_has_no_account():
    record = logs.parse_record(raw(account=None), KEY)
    assert record.account == ""
    assert record.visitor_key == "v:" + record.visitor.hex()
    assert logs.parse_record(raw(), KEY).visitor_key == "a:acct-1"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"ip": "not-an-ip"}, "ip"),
        ({"time": -1}, "time"),
        ({"time": "1700000000"}, "time"),
        ({"time": True}, "time"),
        ({"time": logs.MAX_TIME + 1}, "time"),
        ({"merchant": 0}, "merchant"),
        ({"method": "tv"}, "method"),
        ({"method": "APP"}, "method"),
        ({"operation": "steal"}, "operation"),
        ({"account": "x" * 65}, "account"),
        ({"account": " padded"}, "account"),
        ({"account": "line\nbreak"}, "account"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_invalid_fields_are_named(overrides, field):
    with pytest.raises(InvalidInput) as error:
        logs.parse_record(raw(**overrides), KEY)
    assert error.value.field == field


def test_missing_field_is_named():
    data = raw()
    del data["method"]
    with pytest.raises(InvalidInput) as error:
        logs.parse_record(data, KEY)
    assert error.value.field == "method"


def test_batch_error_names_record_and_field():
    items = [raw() for _ in range(20)]
    items[17] = raw(method="fax")
    with pytest.raises(InvalidInput) as error:
        logs.parse_batch(items, KEY)
    assert error.value.field == "records.17.method"
    assert "record 17" in error.value.message


def test_batch_error_for_a_non_object_names_the_record():
    with pytest.raises(InvalidInput) as error:
        logs.parse_batch([raw(), "oops"], KEY)
    assert error.value.field == "records.1"


def test_batch_size_limits():
    with pytest.raises(InvalidInput) as empty:
        logs.parse_batch([], KEY)
    assert empty.value.field == "records"
    with pytest.raises(InvalidInput) as big:
        logs.parse_batch([raw()] * (logs.MAX_BATCH_RECORDS + 1), KEY)
    assert big.value.field == "records"


def test_record_constructor_validates_directly():
    good = logs.parse_record(raw(), KEY)
    with pytest.raises(InvalidInput) as error:
        replace(good, visitor=b"\x00" * 31)
    assert error.value.field == "visitor"
    with pytest.raises(InvalidInput) as error:
        replace(good, operation=99)
    assert error.value.field == "operation"
    assert replace(good, method=2).method is AccessMethod.DESKTOP


@given(records_strategy, records_strategy)
def test_encoding_is_injective(a, b):
    assert (logs.encode_record(a) == logs.encode_record(b)) == (a == b)


def test_encoding_layout_is_pinned():
    record = AccessRecord(b"\xaa" * 32, "bob", 1, 2, AccessMethod.BROWSER, Operation.VIEW)
    assert logs.encode_record(record) == (
        logs.RECORD_TAG
        + b"\xaa" * 32
        + (1).to_bytes(8, "big")
        + (2).to_bytes(8, "big")
        + bytes([1, 1, 3])
        + b"bob"
    )
    assert logs.leaf_hash(record) == keccak(keccak(logs.encode_record(record)))


# --- Merkle tree --------------------------------------------------------------


def _batch(n: int) -> list[AccessRecord]:
    return [
        AccessRecord(
            visitor=keccak(i.to_bytes(4, "big")),
            account="" if i % 2 else f"u{i}",
            time=1_700_000_000 + 7 * i,
            merchant=1 + i % 3,
            method=AccessMethod(1 + i % 3),
            operation=Operation(1 + i % 7),
        )
        for i in range(n)
    ]


def test_single_record_root_is_its_leaf():
    (record,) = _batch(1)
    assert logs.root([record]) == logs.leaf_hash(record)
    assert logs.proof([record], 0) == []
    assert logs.verify(logs.leaf_hash(record), [], logs.root([record]))


def test_two_records_hash_as_a_sorted_pair():
    a, b = (logs.leaf_hash(r) for r in _batch(2))
    assert logs.root(_batch(2)) == keccak(min(a, b) + max(a, b))


def test_odd_node_moves_up_unchanged():
    leaves = [logs.leaf_hash(r) for r in _batch(3)]
    pair = keccak(min(leaves[0], leaves[1]) + max(leaves[0], leaves[1]))
    expected = keccak(min(pair, leaves[2]) + max(pair, leaves[2]))
    assert logs.root(_batch(3)) == expected
    assert logs.proof(_batch(3), 2) == [pair]


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 33, 100])
def test_every_index_proves_and_tampering_fails(n):
    records = _batch(n)
    levels = logs.tree_levels([logs.leaf_hash(r) for r in records])
    root = levels[-1][0]
    assert root == logs.root(records)
    for i, record in enumerate(records):
        proof = logs.proof_from_levels(levels, i)
        assert proof == logs.proof(records, i)
        assert len(proof) <= max(0, (n - 1).bit_length())
        assert logs.verify(logs.leaf_hash(record), proof, root)
        for tampered in (
            replace(record, time=record.time + 1),
            replace(
                record,
                operation=Operation.PURCHASE
                if record.operation != Operation.PURCHASE
                else Operation.VIEW,
            ),
            replace(record, account=record.account + "x"),
        ):
            assert not logs.verify(logs.leaf_hash(tampered), proof, root)
    if n > 1:
        assert not logs.verify(logs.leaf_hash(records[0]), logs.proof(records, 0)[1:], root)


@given(st.lists(records_strategy, min_size=1, max_size=40), st.data())
def test_proofs_verify_for_generated_batches(records, data):
    index = data.draw(st.integers(0, len(records) - 1))
    root = logs.root(records)
    assert logs.verify(logs.leaf_hash(records[index]), logs.proof(records, index), root)


def test_changing_any_record_changes_the_root():
    records = _batch(9)
    roots = {logs.root(records)}
    for i in range(9):
        changed = list(records)
        changed[i] = replace(records[i], merchant=records[i].merchant + 100)
        roots.add(logs.root(changed))
    assert len(roots) == 10


def test_empty_batch_and_bad_index_are_refused():
    with pytest.raises(InvalidInput):
        logs.root([])
    with pytest.raises(InvalidInput) as error:
        logs.proof(_batch(3), 3)
    assert error.value.field == "index"
