"""A consumer's wallet movements (issue 24): `GET /v1/customers/me/movements` (a page,
newest first) and `.csv` (every movement the date filter selects), read from the
read models (services/customer_movements.py)."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from couponchain.api.bounds import bounded_router
from couponchain.api.deps import CallerDep, RuntimeDep
from couponchain.services import customer_movements as movements

router = bounded_router(prefix="/v1", tags=["customers"])

_DESCRIPTION = (
    "Every movement of the consumer's credit and coupons the chain's events record: "
    "top-ups at a till, product purchases, reward and rebate credits and their "
    "withdrawals, promotion coupons granted, passed on, received, written off and "
    "reversed, edition coupons bought, passed on, received, redeemed and voided. "
    "Newest first. Amounts are integers of the token's smallest unit, signed as they "
    "moved the named balance (`credit`: the token balance; `claimable`: payouts not yet "
    "withdrawn). Not listed: " + movements.NOT_PROJECTED + ".")

FromQuery = Annotated[str | None, Query(alias="from", max_length=40, description=(
    "from this date or date-time on (ISO 8601, UTC unless an offset is given)"))]
ToQuery = Annotated[str | None, Query(alias="to", max_length=40, description=(
    "up to this date (the whole day) or date-time"))]
CursorQuery = Annotated[str | None, Query(max_length=80, description=(
    "the next_cursor of the previous page"))]


class CouponMoved(BaseModel):
    kind: str = Field(description="edition or promotion")
    id: int = Field(description="the coupon's id on chain")
    serial: str = Field(description="what the coupon's page is named by")
    title: str | None = Field(description="the edition's title (edition coupons)")


class ProductBought(BaseModel):
    id: int
    name: str | None
    quantity: int


class Movement(BaseModel):
    id: str = Field(description="the movement's place in the list (a cursor)")
    at: str = Field(description="the block's time, ISO 8601 UTC")
    kind: str = Field(description=(
        "top_up, purchase, reward, rebate, promoter_share, withdrawal, promotion_granted, "
        "promotion_received, promotion_passed_on, promotion_written_off, "
        "promotion_reversed, edition_bought, edition_received, edition_passed_on, "
        "edition_redeemed, edition_voided"))
    amount: int | None = Field(description="signed change of `balance` (smallest unit); "
                                           "none when only a coupon moved")
    amount_text: str | None = Field(description="the amount in display units, signed")
    balance: str | None = Field(description="credit or claimable")
    counterparty: str | None = Field(description="the other side's address")
    counterparty_name: str | None = Field(description="the other side's name, when known")
    coupon: CouponMoved | None
    product: ProductBought | None
    price: int | None = Field(description="an edition coupon's recorded price (paid to "
                                          "the shop, not in credit)")
    price_text: str | None
    reference: str | None = Field(description="a till receipt, or what a payout was for")
    tx_hash: str = Field(description="the transaction that made the movement")
    block_number: int
    evidence: str | None = Field(description="the public page of the coupon or product")


class Movements(BaseModel):
    movements: list[Movement]
    next_cursor: str | None = Field(description="the cursor of the next page; none on the last")
    not_listed: str = Field(description="what the read models do not hold")


@router.get("/customers/me/movements", response_model=Movements,
            summary="My wallet movements (consumer)", description=_DESCRIPTION)
async def my_movements(runtime: RuntimeDep, caller: CallerDep, since: FromQuery = None,
                       until: ToQuery = None, cursor: CursorQuery = None,
                       limit: Annotated[int, Query(ge=1, le=200)] = 50) -> dict[str, Any]:
    rows, next_cursor = await movements.page(runtime.db, caller, since=since, until=until,
                                             cursor=cursor, limit=limit)
    return {"movements": rows, "next_cursor": next_cursor,
            "not_listed": movements.NOT_PROJECTED}


@router.get("/customers/me/movements.csv", response_class=StreamingResponse,
            summary="My wallet movements as CSV (consumer)",
            description=_DESCRIPTION + " Every movement the dates select (from the "
                                       "cursor on), amounts in display units.",
            responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}},
                             "description": "the movements as CSV"}})
async def my_movements_csv(runtime: RuntimeDep, caller: CallerDep, since: FromQuery = None,
                           until: ToQuery = None,
                           cursor: CursorQuery = None) -> StreamingResponse:
    pages = await movements.csv_rows(runtime.db, caller, since=since, until=until,
                                     cursor=cursor)

    async def lines() -> AsyncIterator[bytes]:
        yield _csv([movements.CSV_COLUMNS])
        async for page in pages:
            yield _csv(movements.csv_line(item) for item in page)

    return StreamingResponse(lines(), media_type="text/csv; charset=utf-8", headers={
        "content-disposition": 'attachment; filename="movements.csv"',
        "cache-control": "private, no-store"})


def _csv(rows: Any) -> bytes:
    out = io.StringIO()
    write = csv.writer(out).writerow
    for cells in rows:
        # A cell a spreadsheet would run as a formula (a name, a receipt) is quoted
        # with an apostrophe; signed amounts stay numbers.
        write([("'" + c) if c[:1] in ("=", "@", "\t", "\r") or (
            c[:1] in ("+", "-") and not c[1:].replace(".", "", 1).isdigit()) else c
            for c in cells])
    return out.getvalue().encode()
