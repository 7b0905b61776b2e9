"""The list parameters' checks (services/listing.py): each refusal names its parameter,
and no text reaches the database as an error it would answer with a 500."""

from __future__ import annotations

import pytest

from couponchain.errors import InvalidInput
from couponchain.services import listing


async def _none(rows: object) -> list[dict[str, object]]:
    return []


SPEC = listing.ListSpec(name="things", key=object(), render=_none,
                        search=(lambda text: None,), statuses={"open": object()},  # type: ignore[dict-item]
                        date=object())


def _query(**given: str | None) -> listing.ListQuery:
    values: dict[str, str | None] = {"q": None, "status": None, "since": None, "until": None,
                                     "cursor": None} | given
    return listing.query_of(SPEC, limit=10, **values)  # type: ignore[arg-type]


@pytest.mark.parametrize(("given", "field"), [
    ({"status": "closed"}, "status"),
    ({"since": "yesterday"}, "from"),
    ({"since": "2026-02-30"}, "from"),
    ({"since": "0001-01-01T00:00:00+01:00"}, "from"),  # before 1970: an overflow, not a 500
    ({"until": "9999-12-31T23:59:59-23:59"}, "to"),  # past 9999 once in UTC
    ({"since": "2026-12-07", "until": "2026-12-06"}, "to"),
    ({"cursor": "12abc"}, "cursor"),
    ({"cursor": "9" * 19}, "cursor"),  # past a signed 64-bit key
    ({"q": "x" * 201}, "q"),
])
def test_a_bad_parameter_is_refused_naming_it(given: dict[str, str], field: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        _query(**given)
    assert refused.value.field == field


def test_a_bare_date_ends_with_its_whole_day() -> None:
    query = _query(since="2026-12-07", until="2026-12-07")
    assert (query.since, query.until) == (1796601600, 1796688000)
    offset = _query(since="2026-12-07T08:00:00+08:00")
    assert offset.since == 1796601600


@pytest.mark.parametrize(("text", "cell"), [
    ("=HYPERLINK(\"x\")", "'=HYPERLINK(\"x\")"),
    ("+1", "'+1"),
    ("@SUM(A1)", "'@SUM(A1)"),
    ("-12.5", "-12.5"),
    ("-cmd", "'-cmd"),
    ("Ann Lee", "Ann Lee"),
])
def test_csv_cells_a_spreadsheet_would_run_are_defused(text: str, cell: str) -> None:
    assert listing._formula_safe(text) == cell
