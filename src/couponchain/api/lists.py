"""The list parameters every list route takes, and its answer: a page as JSON, or
the whole filtered list as a streamed CSV (`services.listing` does the reading).

A route declares `params: ListParamsDep` and ends with
`return await lists.respond(runtime.db, SPEC, base, params, "editions")`; the
JSON keeps the route's shape (`{"editions": [...], "next_cursor": ...}`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import Depends, Query
from fastapi.responses import StreamingResponse
from sqlalchemy import Select

from couponchain.services import listing
from couponchain.services.listing import ListQuery, ListSpec

#: The largest page a list route returns.
MAX_LIMIT = 500


@dataclass(frozen=True)
class ListParams:
    """The raw list parameters of one request, checked against a spec by `query`."""

    q: str | None
    status: str | None
    since: str | None
    until: str | None
    cursor: str | None
    limit: int
    format: str

    def query(self, spec: ListSpec) -> ListQuery:
        """The parameters checked against `spec` (RFC 9457 problems name the parameter)."""
        return listing.query_of(spec, q=self.q, status=self.status, since=self.since,
                                until=self.until, cursor=self.cursor, limit=self.limit)


async def list_params(
    q: Annotated[str | None, Query(max_length=listing.MAX_SEARCH, description=(
        "search: a code or serial, a customer's name or address, an order reference "
        "(what the list has)"))] = None,
    status: Annotated[str | None, Query(max_length=20, description="only rows in this status")]
    = None,
    since: Annotated[str | None, Query(alias="from", max_length=40, description=(
        "from this date or date-time on (ISO 8601, UTC unless an offset is given)"))] = None,
    until: Annotated[str | None, Query(alias="to", max_length=40, description=(
        "up to this date (the whole day) or date-time"))] = None,
    cursor: Annotated[str | None, Query(max_length=80, description=(
        "the next_cursor of the previous page"))] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
    format: Annotated[Literal["json", "csv"], Query(description=(
        "csv: every row the filters select, streamed (limit does not apply)"))] = "json",
) -> ListParams:
    return ListParams(q, status, since, until, cursor, limit, format)


ListParamsDep = Annotated[ListParams, Depends(list_params)]
#: A list route's `responses=`: its 200 is JSON, or CSV with `format=csv`.
CSV_RESPONSE: dict[int | str, dict[str, Any]] = {200: {"content": {"text/csv": {
    "schema": {"type": "string"}}}, "description": "a page (JSON), or with format=csv "
                                                   "every filtered row (CSV)"}}


async def respond(db: Any, spec: ListSpec, base: Select[Any], params: ListParams, key: str,
                  **extra: Any) -> dict[str, Any] | StreamingResponse:
    """The route's answer: `{key: rows, "next_cursor": ..., **extra}`, or with
    `format=csv` the whole filtered list as a CSV download."""
    query = params.query(spec)
    if params.format == "csv":
        return StreamingResponse(
            listing.csv_lines(db, spec, base, query), media_type="text/csv; charset=utf-8",
            headers={"content-disposition": f'attachment; filename="{spec.name}.csv"',
                     "cache-control": "no-store"})
    rows, next_cursor = await listing.page(db, spec, base, query)
    return {key: rows, "next_cursor": next_cursor, **extra}
