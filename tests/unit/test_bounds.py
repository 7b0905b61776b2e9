"""Request body bounds (api.bounds): depth, element count, duplicate keys, exact integers.

The crash this guards against: with py_ecc imported (it raises Python's recursion limit
to 100,000), the standard JSON parser overflowed the C stack on 100,000 nested `[` and
the process died with a segfault. These tests import the platform first, so the limit
is raised here too, and feed the parser the exact bodies that crashed it.
"""

from __future__ import annotations

import json
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

import couponchain.runtime  # noqa: F401 - imports py_ecc, as the platform process does
from couponchain.api.bounds import DEFAULT_ELEMENTS, MAX_DEPTH, parse_json
from couponchain.errors import InvalidInput, TooLarge


def test_the_platform_runs_with_a_raised_recursion_limit() -> None:
    """The premise of the crash: were this false, the tests below would prove less."""
    assert sys.getrecursionlimit() >= 100_000


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 1_000, 1_025, 30_000, 100_000, 1_000_000])
@pytest.mark.parametrize("opener", ["[", "{\"a\":"])
def test_deep_nesting_is_refused_without_crashing(depth: int, opener: str) -> None:
    closer = "]" if opener == "[" else "}"
    body = (opener * depth + "1" + closer * depth).encode()
    with pytest.raises(InvalidInput, match="nested") as refused:
        parse_json(body)
    assert refused.value.field == "body"


def test_the_finding_exactly_brackets_without_closers_or_values() -> None:
    """The body sent in the finding: `[`×100,000 then `]`×100,000."""
    with pytest.raises(InvalidInput, match="nested"):
        parse_json(b"[" * 100_000 + b"]" * 100_000)
    with pytest.raises(InvalidInput):
        parse_json(b"[" * 100_000)  # unbalanced, also refused, also no crash


def test_nesting_at_the_limit_is_read() -> None:
    body = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert parse_json(body.encode()) == json.loads(body)


def test_too_many_values_are_refused_as_too_large() -> None:
    body = json.dumps(list(range(DEFAULT_ELEMENTS))).encode()
    with pytest.raises(TooLarge, match="values"):
        parse_json(body)
    assert parse_json(body, max_elements=DEFAULT_ELEMENTS + 1) == list(range(DEFAULT_ELEMENTS))


@pytest.mark.parametrize("body", [
    b'{"name": "a", "name": "b"}',
    b'{"grants": [{"consumer": "c", "count": 1, "count": 2}]}',
    b'{"a": {"b": {"c": 1, "c": 1}}}',
])
def test_duplicate_keys_are_refused_at_any_depth(body: bytes) -> None:
    with pytest.raises(InvalidInput, match="appears twice"):
        parse_json(body)


def test_colons_inside_strings_are_not_taken_for_duplicates() -> None:
    body = b'{"valid_from": "2026-01-01T00:00:00Z", "ip": "2001:db8::1"}'
    assert parse_json(body) == {"valid_from": "2026-01-01T00:00:00Z", "ip": "2001:db8::1"}


def test_whole_numbers_with_a_fraction_or_exponent_are_integers() -> None:
    """JSON Schema counts 1.0 as an integer (generated clients send it so)."""
    assert parse_json(b'{"a": 1.0, "b": 1e3, "c": 1.5, "e": -0.0}') == {
        "a": 1, "b": 1000, "c": 1.5, "e": 0}
    assert type(parse_json(b"[2.0]")[0]) is int


def test_integers_beyond_64_bits_keep_every_digit() -> None:
    big = 2**256 - 1
    assert parse_json(json.dumps({"amount": big, "price": 1.5}).encode()) == {
        "amount": big, "price": 1.5}


@pytest.mark.parametrize("body", [b"", b"{", b'{"a": NaN}', b'"\\ud800"', b"\xff", b"[1,]"])
def test_what_is_not_json_is_refused_naming_the_body(body: bytes) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_json(body)
    assert refused.value.field == "body"


_json = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**300), max_value=2**300)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=40)


def _as_floats(value: object) -> object:
    """Numbers compared as floats: a whole 5.420421220479994e+16 reads as the exact
    integer its text says, which the float nearest to it is not."""
    if isinstance(value, dict):
        return {k: _as_floats(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_floats(v) for v in value]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return value


@given(_json)
def test_any_json_within_the_bounds_reads_as_the_standard_parser_reads_it(value: object) -> None:
    body = json.dumps(value).encode()
    assert _as_floats(parse_json(body)) == _as_floats(json.loads(body))
