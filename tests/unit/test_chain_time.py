"""`ChainTime`: what the API reads as a point in time a contract stores."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import TypeAdapter, ValidationError

from couponchain.api.inputs import ChainTime

_READ = TypeAdapter(ChainTime)


@pytest.mark.parametrize("text", [
    "0001-01-01T00:00:01+00:02",  # the offset carries it before year 1
    "9999-12-31T23:59:59-01:00",  # and past year 9999
    "1969-12-31T23:59:59Z",
])
def test_a_time_outside_what_the_contracts_store_is_refused_by_rule(text: str) -> None:
    with pytest.raises(ValidationError, match="must lie in 1970-01-01T00:00:00Z to"):
        _READ.validate_python(text)


def test_a_time_with_an_offset_is_read_in_utc() -> None:
    assert _READ.validate_python("2026-01-31T20:00:00+08:00") == datetime(2026, 1, 31, 12,
                                                                           tzinfo=UTC)


def test_a_time_without_its_offset_is_refused() -> None:
    with pytest.raises(ValidationError, match="give the UTC offset"):
        _READ.validate_python("2026-01-31T12:00:00")
