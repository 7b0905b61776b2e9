"""Limited editions and their coupons (DESIGN §6, editions rows)."""

from __future__ import annotations

import csv
import io
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from eth_utils import to_checksum_address
from fastapi import Path, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field
from sqlalchemy import select

from couponchain.api import lists
from couponchain.api.bounds import body_limits, bounded_router
from couponchain.api.deps import CallerDep, IdempotencyDep, IdempotencyKey, RuntimeDep
from couponchain.api.idempotency import write
from couponchain.api.inputs import ChainTime, Input, epoch
from couponchain.api.lists import ListParamsDep
from couponchain.domain.roles import Role
from couponchain.errors import Forbidden, InvalidInput
from couponchain.services import edition_views, list_specs
from couponchain.services.editions import ADDRESS, MAX_BULK, Sale
from couponchain.services.participants import Caller
from couponchain.store.models import CouponRecord, EditionRecord

router = bounded_router(prefix="/v1", tags=["editions"])

Buyer = Annotated[str, Field(min_length=1, max_length=42,
                             description="the buyer: a participant id or a chain address")]
EditionId = Annotated[int, Path(ge=1, le=2**63 - 1, description="the edition id")]
OrderRef = Annotated[str, Field(min_length=1, max_length=200,
                                description="the order reference (stored on chain as its hash)")]
MAX_CSV_BYTES = 4 * 1024 * 1024


class EditionCreate(Input):
    brand: str = Field(min_length=1, max_length=64)
    title: str = Field(min_length=1, max_length=128)
    terms: str = Field(min_length=1, max_length=4096, description="the full terms text")
    prefix: str = Field(pattern=r"^[A-Z0-9]{1,16}$", description="serial prefix, A-Z and 0-9")
    total_pieces: int = Field(ge=1, le=2**32 - 1, description="the cap")
    price: int = Field(ge=0, le=2**256 - 1, description="list price, smallest token unit")
    valid_from: ChainTime
    valid_until: ChainTime


class SaleCreate(Input):
    buyer: Buyer
    price: int | None = Field(default=None, ge=0, le=2**256 - 1,
                              description="price paid (default: the list price)")
    channel: Literal["online", "offline"] = "online"
    order_ref: OrderRef

    def sale(self) -> Sale:
        return Sale(self.buyer, self.price, self.channel, self.order_ref)


class BulkSales(Input):
    sales: list[SaleCreate] = Field(min_length=1, max_length=MAX_BULK)


class TransferCreate(Input):
    to: Buyer


class EditionPublic(BaseModel):
    id: int
    merchant: str = Field(description="the merchant's chain address")
    merchant_id: str | None
    brand: str
    title: str
    terms: str | None = Field(description="the full terms (their keccak256 is on chain)")
    content_hash: str
    prefix: str
    total_pieces: int = Field(description="the declared cap")
    price: int
    valid_from: str
    valid_until: str
    sold: int
    voided: int
    redeemed: int
    reserved: int = Field(description="pieces held by bulk sales in progress (capacity "
                          "reservations); they are sold or released shortly")
    remaining: int = Field(description="pieces for sale: total_pieces - sold - reserved")
    paused: bool = Field(default=False, description="its merchant paused its sales")
    registered_block: int
    registered_tx: str


class EditionChangeOut(BaseModel):
    action: Literal["paused", "resumed", "extended"]
    by: str = Field(description="the chain address that made the change")
    reason: str | None
    reason_hash: str = Field(description="keccak256 of the reason, as the event records it")
    at: str
    old_valid_until: str | None
    valid_until: str | None
    tx_hash: str
    block_number: int


class EditionWithChanges(EditionPublic):
    changes: list[EditionChangeOut] = Field(description="pauses, resumptions and extensions, "
                                                        "newest first")


class EditionPage(BaseModel):
    editions: list[EditionPublic]
    next_cursor: int | None = Field(description="pass as `cursor` for the next page")


class TimelinePoint(BaseModel):
    at: str = Field(description="start of the minute (UTC)")
    sold: int = Field(description="coupons sold in that minute (voided later or not)")


class SalesTimeline(BaseModel):
    edition_id: int
    minute_seconds: int
    points: list[TimelinePoint] = Field(description="minutes with sales, oldest first")


class EditionCreated(EditionPublic):
    tx_hash: str
    block_number: int


class HistoryEntry(BaseModel):
    action: Literal["sold", "transferred", "redeemed", "voided"]
    from_: str | None = Field(alias="from")
    to: str | None
    by: str
    at: str
    tx_hash: str
    block_number: int


class CouponPublic(BaseModel):
    serial: str
    coupon_id: int
    edition_id: int
    owner: str
    owner_id: str | None
    status: Literal["active", "redeemed", "voided"]
    channel: Literal["online", "offline"]
    price_paid: int
    order_ref_hash: str
    seller: str
    sold_at: str
    tx_hash: str = Field(description="the sale's transaction")
    block_number: int


class CouponDetail(CouponPublic):
    edition: EditionPublic
    history: list[HistoryEntry]


class SaleRow(CouponPublic):
    owner_name: str | None = None
    seller_name: str | None = None


class SalesPage(BaseModel):
    coupons: list[SaleRow]
    next_cursor: int | None = Field(description="pass as `cursor` for the next page")


class SaleRecorded(BaseModel):
    coupon: CouponPublic
    tx_hash: str
    block_number: int


class CouponChanged(BaseModel):
    coupon: CouponDetail
    tx_hash: str
    block_number: int


class BulkCoupon(BaseModel):
    serial: str
    coupon_id: int
    owner: str


class SalesRecorded(BaseModel):
    edition_id: int
    recorded: int
    coupons: list[BulkCoupon]
    transactions: list[str]
    tx_hash: str = Field(description="the last transaction")
    block_number: int


async def _write(idem: Any, caller: Caller, key: str | None, request: Request, payload: Any,
                 handler: Callable[[], Awaitable[dict[str, Any]]],
                 status: int = 200) -> JSONResponse:
    return await write(idem, caller.id, key, request, payload, handler, status)


@router.post("/editions", status_code=201, response_model=EditionCreated,
             summary="Register a limited edition (merchant)")
async def create_edition(body: EditionCreate, request: Request, runtime: RuntimeDep,
                         caller: CallerDep, idem: IdempotencyDep,
                         key: IdempotencyKey = None) -> JSONResponse:
    data = {**body.model_dump(), "cap": body.total_pieces,
            "valid_from": epoch(body.valid_from), "valid_until": epoch(body.valid_until)}
    return await _write(idem, caller, key, request, body.model_dump(mode="json"),
                        lambda: runtime.editions.create(caller, data, key), 201)


@router.get("/editions", response_model=EditionPage,
            responses=lists.CSV_RESPONSE,
            summary="List editions, optionally of one merchant (search, filters, CSV)")
async def list_editions(
    runtime: RuntimeDep,
    params: ListParamsDep,
    merchant: Annotated[str | None, Query(max_length=42,
                                          description="a merchant's id or address")] = None,
) -> dict[str, Any] | StreamingResponse:
    address: str | None = None
    merchant_id: str | None = None
    if merchant is not None:
        if ADDRESS.match(merchant):
            address = to_checksum_address(merchant)
        else:
            merchant_id = merchant
            address = (await runtime.participants.get(merchant)).address
    base = select(EditionRecord)
    if address is not None:
        base = base.where(EditionRecord.merchant == address)
    return await lists.respond(runtime.db, list_specs.editions(merchant_id), base, params,
                               "editions")


@router.get("/editions/{edition_id}/coupons", response_model=SalesPage,
            responses=lists.CSV_RESPONSE,
            summary="An edition's sales (its merchant, platform): search by serial, "
                    "customer or order reference; status and date filters; CSV")
async def list_edition_coupons(edition_id: EditionId, runtime: RuntimeDep, caller: CallerDep,
                               params: ListParamsDep) -> dict[str, Any] | StreamingResponse:
    edition = await runtime.editions.get(edition_id)  # 404 for an unknown edition
    if caller.role != Role.PLATFORM and caller.acts_for_merchant != edition["merchant_id"]:
        raise Forbidden("an edition's sales are its merchant's to list", field="edition_id")
    base = select(CouponRecord).where(CouponRecord.edition_id == edition_id)
    return await lists.respond(runtime.db, list_specs.edition_coupons(runtime.db,
                                                                      edition["prefix"]),
                               base, params, "coupons")


@router.get("/editions/{edition_id}/sales-timeline", response_model=SalesTimeline,
            summary="Coupons sold per minute, for charts")
async def sales_timeline(edition_id: EditionId, runtime: RuntimeDep) -> dict[str, Any]:
    await runtime.editions.record(edition_id)  # 404 for an unknown edition
    points = await edition_views.sales_timeline(runtime.db, edition_id)
    return {"edition_id": edition_id, "minute_seconds": edition_views.MINUTE,
            "points": [{"at": datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                        "sold": n} for t, n in points]}


@router.get("/editions/{edition_id}", response_model=EditionWithChanges,
            summary="An edition: declared data, sold, redeemed, remaining, paused, changes")
async def get_edition(edition_id: EditionId, runtime: RuntimeDep) -> dict[str, Any]:
    return {**await runtime.editions.get(edition_id),
            "changes": await runtime.editions.changes(edition_id)}


@router.post("/editions/{edition_id}/sales", status_code=201, response_model=SaleRecorded,
             summary="Record one sale (the edition's merchant or its terminals)")
async def record_sale(edition_id: EditionId, body: SaleCreate, request: Request,
                      runtime: RuntimeDep, caller: CallerDep, idem: IdempotencyDep,
                      key: IdempotencyKey = None) -> JSONResponse:
    return await _write(idem, caller, key, request, body.model_dump(mode="json"),
                        lambda: runtime.editions.sell(caller, edition_id, body.sale(), key), 201)


@router.post("/editions/{edition_id}/sales:bulk", status_code=201, response_model=SalesRecorded,
             **body_limits(4 * 1024 * 1024, 6 * MAX_BULK),
             summary="Record up to 10,000 sales, all or nothing",
             description="Every sale is validated first (a bad one is named by its index and "
             "field, and nothing is written). Up to 400 sales are one transaction. A larger "
             "request first reserves its whole count of pieces on chain in one transaction "
             "(409 `editions: cap exceeded`, nothing written, when they are not there), then "
             "records the sales in transactions of 400 out of that reservation, which "
             "concurrent sales by other requests, terminals or API processes cannot take. "
             "Send an `Idempotency-Key`: a retry after a crash or a 5xx finds the request's "
             "reservation and records exactly the sales still missing. A request that fails "
             "for good releases its reservation; an abandoned one expires after 10 minutes.")
async def record_sales(edition_id: EditionId, body: BulkSales, request: Request,
                       runtime: RuntimeDep, caller: CallerDep, idem: IdempotencyDep,
                       key: IdempotencyKey = None) -> JSONResponse:
    sales = [s.sale() for s in body.sales]
    return await _write(idem, caller, key, request, body.model_dump(mode="json"),
                        lambda: runtime.editions.sell_many(caller, edition_id, sales, key), 201)


@router.post(
    "/editions/{edition_id}/sales:import", status_code=201, response_model=SalesRecorded,
    summary="Import offline POS sales from CSV, all or nothing",
    description="A `text/csv` body with the header `buyer,order_ref[,price][,channel]`; "
    "channel defaults to offline and price to the list price. A bad row is named with its "
    "row number (the first data row is row 1) and field, and nothing is written.",
    **body_limits(MAX_CSV_BYTES, openapi_extra={"requestBody": {"required": True, "content": {
        "text/csv": {"schema": {"type": "string"}}}}}),
)
async def import_sales(
    edition_id: EditionId, request: Request, runtime: RuntimeDep, caller: CallerDep,
    idem: IdempotencyDep, key: IdempotencyKey = None,
) -> JSONResponse:
    raw = await request.body()
    if len(raw) > MAX_CSV_BYTES:
        raise InvalidInput(f"the file is over {MAX_CSV_BYTES} bytes", field="file")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput("the file is not UTF-8", field="file") from None
    sales = parse_sales_csv(text)
    return await _write(
        idem, caller, key, request, text,
        lambda: runtime.editions.sell_many(caller, edition_id, sales, key, field="file",
                                           label=lambda i: f"row {i + 1}"), 201)


def parse_sales_csv(text: str) -> list[Sale]:
    """The sales of a CSV file; every row error names its row and field."""
    # newline="": the csv module splits the lines itself (CR-only files included).
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        return _sales_of(reader)
    except csv.Error as exc:  # e.g. a field over the csv module's 128 KiB limit
        raise InvalidInput(f"not readable as CSV: {exc}", field="file") from None


def _sales_of(reader: csv.DictReader[str]) -> list[Sale]:
    header = [h.strip() for h in reader.fieldnames or []]
    missing = [h for h in ("buyer", "order_ref") if h not in header]
    if missing:
        raise InvalidInput(f"the header must name {', '.join(missing)}", field="header")
    unknown = [h for h in header if h not in ("buyer", "order_ref", "price", "channel")]
    if unknown:
        raise InvalidInput(f"unknown column {unknown[0]!r}", field="header")
    reader.fieldnames = header
    sales: list[Sale] = []
    for number, row in enumerate(reader, start=1):
        if len(sales) >= MAX_BULK:
            raise InvalidInput(f"a file holds at most {MAX_BULK} sales", field="file")
        if None in row:
            raise InvalidInput("has more cells than the header", field=f"row {number}")
        values = {k: (v or "").strip() for k, v in row.items()}
        price_text = values.get("price", "")
        price = None
        if price_text:
            if not price_text.isdigit():
                raise InvalidInput(f"row {number}, price: must be a non-negative integer",
                                   field=f"row {number}.price")
            price = int(price_text)
        channel = values.get("channel") or "offline"
        if channel not in ("online", "offline"):
            raise InvalidInput(f"row {number}, channel: must be online or offline",
                               field=f"row {number}.channel")
        for name in ("buyer", "order_ref"):
            if not values[name]:
                raise InvalidInput(f"row {number}, {name}: is empty",
                                   field=f"row {number}.{name}")
        sales.append(Sale(values["buyer"], price, channel, values["order_ref"]))
    if not sales:
        raise InvalidInput("the file has no sales", field="file")
    return sales


@router.get("/coupons/{serial}", response_model=CouponDetail, response_model_by_alias=True,
            summary="A coupon: edition, owner, status, full history")
async def get_coupon(serial: str, runtime: RuntimeDep) -> dict[str, Any]:
    return await runtime.editions.coupon(serial)  # type: ignore[no-any-return]


@router.get("/coupons/{serial}/proof",
            summary="EIP-1186 storage proofs of the coupon and its edition's counters")
async def coupon_proof(serial: str, runtime: RuntimeDep) -> dict[str, Any]:
    return await runtime.editions.proof(serial)  # type: ignore[no-any-return]


@router.post("/coupons/{serial}/transfer", response_model=CouponChanged,
             summary="Transfer a coupon (its owner)")
async def transfer_coupon(serial: str, body: TransferCreate, request: Request,
                          runtime: RuntimeDep, caller: CallerDep, idem: IdempotencyDep,
                          key: IdempotencyKey = None) -> JSONResponse:
    return await _write(idem, caller, key, request, body.model_dump(mode="json"),
                        lambda: runtime.editions.transfer(caller, serial, body.to, key))


@router.post("/coupons/{serial}/redeem", response_model=CouponChanged,
             summary="Redeem a coupon (the edition's merchant or its terminals)")
async def redeem_coupon(serial: str, request: Request, runtime: RuntimeDep, caller: CallerDep,
                        idem: IdempotencyDep, key: IdempotencyKey = None) -> JSONResponse:
    return await _write(idem, caller, key, request, {},
                        lambda: runtime.editions.redeem(caller, serial, key))


@router.post("/coupons/{serial}/void", response_model=CouponChanged,
             summary="Void (refund) an unredeemed coupon (the edition's merchant)")
async def void_coupon(serial: str, request: Request, runtime: RuntimeDep, caller: CallerDep,
                      idem: IdempotencyDep, key: IdempotencyKey = None) -> JSONResponse:
    return await _write(idem, caller, key, request, {},
                        lambda: runtime.editions.void(caller, serial, key))
