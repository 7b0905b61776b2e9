"""One list mechanism for every console list: search, status and date filters,
keyset (cursor) paging, and a CSV export of exactly the rows the filters select.

A list is described once by a `ListSpec` (its key column, what a search matches,
its statuses, its date column and how a page of rows becomes JSON objects); a
route gives the spec its base query (already scoped to the caller) and the
caller's `ListQuery`. `page` returns one page and the cursor of the next;
`csv_lines` walks the same query page by page, so an export of a million rows
holds one page in memory at a time.

Usage::

    rows, next_cursor = await listing.page(db, SPEC, select(EditionRecord), query)
    return StreamingResponse(listing.csv_lines(db, SPEC, base, query), media_type=...)
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from eth_utils import keccak, to_checksum_address
from sqlalchemy import ColumnElement, Select, false, or_, select, union_all

from couponchain.errors import InvalidInput
from couponchain.store.models import Participant

#: Rows per database read while exporting (one page in memory at a time).
EXPORT_PAGE = 1000
#: The longest search text accepted (a name, an address, a code or an order reference).
MAX_SEARCH = 200
ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
#: The last second a date filter may name (9999-12-31T23:59:59Z, and the day after
#: it as the exclusive end of that day).
LATEST = 253402300800

#: A condition for a search text, or None when the text cannot match this column.
Matcher = Callable[[str], ColumnElement[bool] | None]
#: Turns one page of rows into the JSON objects the route returns (and the CSV shows).
Render = Callable[[Sequence[Any]], Awaitable[list[dict[str, Any]]]]


@dataclass(frozen=True)
class ListQuery:
    """What the caller asked of a list; every field is optional but `limit`."""

    q: str | None = None
    status: str | None = None
    since: int | None = None  # epoch seconds, inclusive
    until: int | None = None  # epoch seconds, exclusive
    cursor: str | None = None
    limit: int = 100


@dataclass(frozen=True)
class ListSpec:
    """How one list is searched, filtered and paged.

    `key` orders the list (ascending, or newest first with `descending`) and is
    unique, so the cursor is the last row's key. `date` is an epoch-seconds column,
    or a datetime column when `date_is_datetime`. `statuses` maps each status a
    caller may name to its condition; `search` lists the matchers a search text is
    tried against (OR).
    """

    name: str
    key: Any
    render: Render
    key_is_int: bool = True
    search: Sequence[Matcher] = ()
    statuses: Mapping[str, ColumnElement[bool]] = field(default_factory=dict)
    date: Any = None
    date_is_datetime: bool = False
    #: Newest first (the key descending; the cursor then pages to smaller keys).
    descending: bool = False
    #: A search reads each matcher's rows apart (the keys of a UNION ALL) instead of
    #: one OR: where every matcher has an index led by the base's own filter, each
    #: part is an index search. SQLite without table statistics (the platform runs
    #: no ANALYZE) answers an OR by scanning the base's rows in key order.
    union_search: bool = False


# -- matchers -----------------------------------------------------------------

def exact(column: Any, *, upper: bool = False) -> Matcher:
    """Matches a column equal to the text (upper-cased first, for codes)."""
    return lambda text: column == (text.upper() if upper else text)


def integer(column: Any) -> Matcher:
    """Matches an integer column equal to the text, when the text is a number
    (a serial, an id); `#12` and `12` alike."""
    def match(text: str) -> ColumnElement[bool] | None:
        digits = text.lstrip("#")
        return column == int(digits) if digits.isdigit() and len(digits) < 19 else None
    return match


def contains(column: Any) -> Matcher:
    """Matches a text column containing the text, ignoring case."""
    return lambda text: column.ilike(f"%{_escape(text)}%", escape="\\")


def order_ref(column: Any) -> Matcher:
    """Matches an order reference stored on chain as its keccak hash."""
    return lambda text: column == "0x" + keccak(text=text).hex()


def party(column: Any) -> Matcher:
    """Matches an address column by the address itself, or by the name, id or
    address of a participant (a customer, a merchant) whose name contains the text."""
    def match(text: str) -> ColumnElement[bool] | None:
        if ADDRESS.match(text):
            # Equality, not ILIKE, so an index on the column serves it: addresses are
            # stored checksummed (as the chain's events give them).
            return column.in_(sorted({to_checksum_address(text), text.lower()}))
        named = select(Participant.address).where(or_(
            Participant.name.ilike(f"%{_escape(text)}%", escape="\\"), Participant.id == text))
        return column.in_(named)
    return match


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# -- parsing ------------------------------------------------------------------

def parse_moment(text: str | None, field_name: str, *, end: bool = False) -> int | None:
    """Epoch seconds of an ISO 8601 date or date-time (UTC when no offset is given).

    A bare date as the end of a range means the whole of that day (`to=2026-12-07`
    includes the 7th), so the bound is the next midnight, exclusive.
    """
    if text is None or text == "":
        return None
    rule = ("must be an ISO 8601 date (2026-12-07) or date-time (2026-12-07T10:00:00Z) "
            "from 1970 to 9999")
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            seconds = int((start + timedelta(days=1 if end else 0)).timestamp())
        else:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            seconds = int(moment.timestamp()) + (1 if end else 0)
    except (ValueError, OverflowError):
        raise InvalidInput(rule, field=field_name) from None
    if not 0 <= seconds <= LATEST:
        raise InvalidInput(rule, field=field_name)
    return seconds


def query_of(spec: ListSpec, *, q: str | None, status: str | None, since: str | None,
             until: str | None, cursor: str | None, limit: int) -> ListQuery:
    """The caller's list parameters checked against `spec`; each refusal names its
    parameter (`q`, `status`, `from`, `to`, `cursor`)."""
    text = q.strip() if q else None
    if text and len(text) > MAX_SEARCH:
        raise InvalidInput(f"must be at most {MAX_SEARCH} characters", field="q")
    if text and not spec.search:
        raise InvalidInput(f"the {spec.name} list cannot be searched", field="q")
    if status is not None and status not in spec.statuses:
        allowed = ", ".join(spec.statuses) or "none"
        raise InvalidInput(f"must be one of: {allowed}", field="status")
    low = parse_moment(since, "from")
    high = parse_moment(until, "to", end=True)
    if (low is not None or high is not None) and spec.date is None:
        raise InvalidInput(f"the {spec.name} list has no date to filter by",
                           field="from" if low is not None else "to")
    if low is not None and high is not None and high <= low:
        raise InvalidInput("must be after from", field="to")
    if cursor is not None and spec.key_is_int and not (cursor.isdigit() and len(cursor) < 19):
        raise InvalidInput("must be the next_cursor of an earlier page", field="cursor")
    return ListQuery(text or None, status, low, high, cursor, limit)


# -- reading ------------------------------------------------------------------

def filtered(spec: ListSpec, base: Select[Any], query: ListQuery) -> Select[Any]:
    """`base` narrowed by the query's search, status and dates, in key order."""
    stmt = base
    if query.q:
        conditions = [c for c in (m(query.q) for m in spec.search) if c is not None]
        if spec.union_search and len(conditions) > 1:
            keys = union_all(*(base.with_only_columns(spec.key).where(c) for c in conditions))
            stmt = stmt.where(spec.key.in_(keys))
        else:
            stmt = stmt.where(or_(*conditions) if conditions else false())
    if query.status is not None:
        stmt = stmt.where(spec.statuses[query.status])
    if query.since is not None:
        stmt = stmt.where(spec.date >= _moment(spec, query.since))
    if query.until is not None:
        stmt = stmt.where(spec.date < _moment(spec, query.until))
    return stmt.order_by(spec.key.desc() if spec.descending else spec.key)


def _moment(spec: ListSpec, seconds: int) -> Any:
    # The datetime columns hold naive UTC (models.utcnow).
    return datetime.fromtimestamp(seconds, UTC).replace(tzinfo=None) \
        if spec.date_is_datetime else seconds


def _after(spec: ListSpec, cursor: str | None) -> Any:
    if cursor is None:
        return None
    return int(cursor) if spec.key_is_int else cursor


async def rows(db: Any, spec: ListSpec, base: Select[Any], query: ListQuery,
               after: Any, limit: int) -> list[Any]:
    """Up to `limit` filtered rows after the key `after` (None: from the start);
    `base` selects one mapped entity."""
    stmt = filtered(spec, base, query)
    if after is not None:
        stmt = stmt.where(spec.key < after if spec.descending else spec.key > after)
    async with db.session() as s:
        return list((await s.execute(stmt.limit(limit))).scalars())


def _key_of(spec: ListSpec, row: Any) -> Any:
    return getattr(row, spec.key.key)


async def page(db: Any, spec: ListSpec, base: Select[Any],
               query: ListQuery) -> tuple[list[dict[str, Any]], Any]:
    """One page of the list and the cursor of the next: the last row's key (an int
    for an integer key), None on the last page.

    One row more than asked is read, so the last page says so itself instead of
    costing the caller an empty request.
    """
    found = await rows(db, spec, base, query, _after(spec, query.cursor), query.limit + 1)
    more = len(found) > query.limit
    found = found[: query.limit]
    rendered = await spec.render(found)
    return rendered, (_key_of(spec, found[-1]) if more and found else None)


async def csv_lines(db: Any, spec: ListSpec, base: Select[Any], query: ListQuery,
                    columns: Sequence[str] | None = None) -> AsyncIterator[bytes]:
    """The whole filtered list (from the query's cursor on) as CSV, one page of
    `EXPORT_PAGE` rows read and written at a time. The columns are the rendered
    objects' keys (or `columns`); nested values are written as JSON."""
    after = _after(spec, query.cursor)
    header: Sequence[str] | None = columns
    if header is not None:
        yield _csv_row(header)
    while True:
        found = await rows(db, spec, base, query, after, EXPORT_PAGE)
        if not found:
            if header is None:
                yield b"\r\n"  # an empty list: an empty header line, still valid CSV
            return
        rendered = await spec.render(found)
        if header is None:
            header = list(rendered[0])
            yield _csv_row(header)
        yield _csv_rows([_cell(r.get(c)) for c in header] for r in rendered)
        if len(found) < EXPORT_PAGE:
            return
        after = _key_of(spec, found[-1])


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return str(value)


def _csv_row(values: Sequence[Any]) -> bytes:
    return _csv_rows([values])


def _csv_rows(rows: Iterable[Sequence[Any]]) -> bytes:
    out = io.StringIO()
    write = csv.writer(out).writerow
    for values in rows:
        write([_formula_safe(str(v)) for v in values])
    return out.getvalue().encode()


def _formula_safe(text: str) -> str:
    # A cell a spreadsheet would run as a formula (names are typed by users) is
    # prefixed with an apostrophe (OWASP CSV injection); negative numbers are kept.
    if text[:1] in ("=", "+", "@", "\t", "\r") or (
            text[:1] == "-" and not text[1:].replace(".", "", 1).isdigit()):
        return "'" + text
    return text
