"""Peer-to-peer batch sales: products, batches, promotion links, purchases (DESIGN §6)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Path, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field
from sqlalchemy import select

from couponchain.api import lists
from couponchain.api.bounds import bounded_router
from couponchain.api.deps import CallerDep, IdempotencyDep, IdempotencyKey, RuntimeDep
from couponchain.api.idempotency import write
from couponchain.api.inputs import Input
from couponchain.api.lists import ListParamsDep
from couponchain.domain.rebates import DEFAULT_PROMOTER_SHARE_BPS, MAX_PRICE, RebateBounds
from couponchain.services import list_specs
from couponchain.services import referral_views as views
from couponchain.services.referrals import MAX_BATCH_UNITS, MAX_LINK_LIFETIME, bounds_public
from couponchain.store.models import ReferralProduct, ReferralPurchase

router = bounded_router(prefix="/v1", tags=["referrals"])

ProductId = Annotated[int, Path(ge=1, le=2**63 - 1, description="the product id")]
Price = Annotated[int, Field(ge=1, le=MAX_PRICE, description="unit price, smallest token unit")]
Units = Annotated[int, Field(ge=1, le=MAX_BATCH_UNITS, description="units for sale")]
LinkText = Annotated[str, Field(min_length=1, max_length=400,
                                description="the promotion link's text (its ?link= value)")]


class ProductCreate(Input):
    name: str = Field(min_length=1, max_length=64)
    description: str = Field(min_length=1, max_length=4096,
                             description="kept by the platform; the chain keeps its keccak256")
    price: Price
    circulation: Units


class BatchCreate(Input):
    price: Price
    circulation: Units
    rebate_bps: int = Field(ge=0, le=10_000,
                            description="rebate of each sale, at most the platform's cap")
    promoter_share_bps: int = Field(
        default=DEFAULT_PROMOTER_SHARE_BPS, ge=0, le=10_000,
        description="the promoter's direct share of each rebate (the rest goes to earlier "
                    "units), within the platform's bounds (GET /v1/rebate-bounds)")


class BoundsIn(Input):
    max_rebate_bps: int = Field(ge=0, le=10_000, description="highest rebate ratio of a batch")
    min_promoter_share_bps: int = Field(ge=0, le=10_000,
                                        description="lowest promoter share of a rebate")
    max_promoter_share_bps: int = Field(ge=0, le=10_000,
                                        description="highest promoter share of a rebate")


class BoundsOut(BaseModel):
    max_rebate_bps: int
    min_promoter_share_bps: int
    max_promoter_share_bps: int


class BoundsWritten(BoundsOut):
    tx_hash: str
    block_number: int


class LinkCreate(Input):
    lifetime_seconds: int | None = Field(default=None, ge=60, le=MAX_LINK_LIFETIME,
                                         description="default: 30 days")


class PurchaseCreate(Input):
    quantity: Units = 1
    batch: int = Field(ge=1, le=2**63 - 1,
                       description="the batch the buyer saw; refused if another is on sale now")
    max_price: int = Field(ge=1, le=MAX_PRICE,
                           description="the highest unit price the buyer accepts (the price "
                                       "it saw); refused if the batch sells above it")
    link: LinkText | None = Field(default=None,
                                  description="required from batch 2 on; none in batch 1")


class BatchOut(BaseModel):
    batch: int
    price: int
    circulation: int
    rebate_bps: int
    promoter_share_bps: int = Field(description="the promoter's direct share of each rebate; "
                                                "the batch keeps it for its whole life")
    sold: int
    remaining: int
    status: Literal["open", "sold_out", "closed"]
    eligible_units: int = Field(description="earlier units that earn from this batch's sales")
    revenue: int
    rebates: int
    promoter_paid: int
    holders_paid: int
    originator_paid: int
    dust: int = Field(description="holders' buffer left to the originator when the batch ended")
    opened_at: str
    opened_block: int
    opened_tx: str


class ProductOut(BaseModel):
    id: int
    name: str
    content_hash: str
    originator: str
    originator_id: str | None
    originator_name: str | None
    current_batch: int
    units_sold: int
    current: BatchOut | None
    registered_at: str
    registered_block: int
    registered_tx: str


class Totals(BaseModel):
    revenue: int
    rebates: int
    promoter_paid: int
    holders_paid: int
    originator_paid: int
    dust: int


class ProductDetail(ProductOut):
    description: str | None
    batches: list[BatchOut]
    totals: Totals


class ProductWritten(ProductDetail):
    tx_hash: str
    block_number: int


class ProductPage(BaseModel):
    products: list[ProductOut]
    next_cursor: int | None


class LinkOut(BaseModel):
    product_id: int
    product_name: str
    promoter: str
    link: str = Field(description="the signed link as URL-safe text")
    path: str = Field(description="the purchase page, relative to this server")
    url: str
    expiry: int
    expires_at: str
    link_hash: str = Field(description="the EIP-712 digest the promoter signed")
    usable_now: bool = Field(description="the promoter holds units of a batch before the "
                                         "current one (otherwise: once the next batch opens)")
    current: BatchOut | None = Field(description="the batch on sale now, which a purchase "
                                                 "names with its price")
    qr_svg: str = Field(description="the URL as a QR, SVG data URI")


class VerifiedProduct(BaseModel):
    id: int
    name: str
    content_hash: str
    originator: str
    originator_id: str | None
    originator_name: str | None
    chain_id: int
    contract: str
    registered_tx: str
    current: BatchOut | None


class Promoter(BaseModel):
    address: str
    id: str | None
    name: str | None


class LinkVerified(BaseModel):
    valid: bool
    product: VerifiedProduct
    promoter: Promoter
    expiry: int
    expires_at: str
    link_hash: str


class PurchaseOut(BaseModel):
    product_id: int
    batch: int
    buyer: str
    promoter: str | None
    quantity: int
    amount: int
    rebate: int
    promoter_amount: int
    holders_amount: int
    originator_amount: int
    link_hash: str | None


class PurchaseWritten(PurchaseOut):
    units_held: int
    tx_hash: str
    block_number: int


class PurchaseRecord(PurchaseOut):
    buyer_id: str | None
    promoter_id: str | None
    at: str
    tx_hash: str
    block_number: int


class PurchasePage(BaseModel):
    purchases: list[PurchaseRecord]
    next_cursor: int | None


class UnitsInBatch(BaseModel):
    batch: int
    units: int


class Rebates(BaseModel):
    promoter: int = Field(description="direct shares of sales through my links")
    holder: int = Field(description="pro rata rebates earned by my units (exact)")
    holder_settled: int = Field(description="of which the contract has realised")
    holder_pending: int
    total: int


class Holding(ProductOut):
    units: int
    units_by_batch: list[UnitsInBatch]
    may_promote: bool
    promoted_sales: int
    rebates: Rebates


class Holdings(BaseModel):
    account: str
    products: list[Holding]
    total_rebates: int


@router.post("/products", status_code=201, response_model=ProductWritten,
             summary="Register a product with its batch 1 price and circulation (merchant)")
async def register_product(body: ProductCreate, request: Request, runtime: RuntimeDep,
                           caller: CallerDep, idem: IdempotencyDep,
                           key: IdempotencyKey = None) -> JSONResponse:
    return await write(idem, caller.id, key, request, body.model_dump(mode="json"),
                       lambda: runtime.referrals.register(
                           caller, body.name, body.description, body.price, body.circulation,
                           key), 201)


@router.get("/products", response_model=ProductPage,
            responses=lists.CSV_RESPONSE,
            summary="List products (search by id, name or originator; date filter; CSV)")
async def list_products(
    runtime: RuntimeDep,
    params: ListParamsDep,
    originator: Annotated[str | None, Query(min_length=1, max_length=42,
                                            description="an originator's id or address")] = None,
) -> dict[str, Any] | StreamingResponse:
    base = select(ReferralProduct)
    if originator is not None:
        (address,) = await runtime.participants.addresses([originator], ["originator"])
        base = base.where(ReferralProduct.originator == address)
    return await lists.respond(runtime.db, list_specs.referral_products(runtime.db), base,
                               params, "products")


@router.get("/products/{product_id}", response_model=ProductDetail,
            summary="A product: batches, sales per batch, rebates paid")
async def get_product(product_id: ProductId, runtime: RuntimeDep) -> dict[str, Any]:
    return await views.product_detail(runtime.db, product_id)


@router.post("/products/{product_id}/batches", status_code=201, response_model=ProductWritten,
             summary="Open the next batch once the current one ended (originator)")
async def open_batch(product_id: ProductId, body: BatchCreate, request: Request,
                     runtime: RuntimeDep, caller: CallerDep, idem: IdempotencyDep,
                     key: IdempotencyKey = None) -> JSONResponse:
    return await write(idem, caller.id, key, request, body.model_dump(mode="json"),
                       lambda: runtime.referrals.open_batch(
                           caller, product_id, body.price, body.circulation, body.rebate_bps,
                           key, promoter_share_bps=body.promoter_share_bps), 201)


@router.get("/rebate-bounds", response_model=BoundsOut,
            summary="The platform's bounds on the rebate terms of new batches (anyone)")
async def get_rebate_bounds(runtime: RuntimeDep) -> dict[str, int]:
    return bounds_public(await runtime.referrals.rebate_bounds())


@router.put("/rebate-bounds", response_model=BoundsWritten,
            summary="Set the bounds on the rebate terms of batches opened from now on (platform)")
async def set_rebate_bounds(body: BoundsIn, request: Request, runtime: RuntimeDep,
                            caller: CallerDep, idem: IdempotencyDep,
                            key: IdempotencyKey = None) -> JSONResponse:
    return await write(idem, caller.id, key, request, body.model_dump(mode="json"),
                       lambda: runtime.referrals.set_rebate_bounds(
                           caller, RebateBounds(**body.model_dump()), key))


@router.post("/products/{product_id}/batches/current:close", response_model=ProductWritten,
             summary="Close the current batch before it sells out (originator)")
async def close_batch(product_id: ProductId, request: Request, runtime: RuntimeDep,
                      caller: CallerDep, idem: IdempotencyDep,
                      key: IdempotencyKey = None) -> JSONResponse:
    return await write(idem, caller.id, key, request, {},
                       lambda: runtime.referrals.close_batch(caller, product_id, key))


@router.post("/products/{product_id}/links", status_code=201, response_model=LinkOut,
             summary="My signed promotion link for a product I hold (holder)")
async def make_link(product_id: ProductId, body: LinkCreate, request: Request,
                    runtime: RuntimeDep, caller: CallerDep) -> dict[str, Any]:
    return await runtime.referrals.make_link(  # type: ignore[no-any-return]
        caller, product_id, body.lifetime_seconds, str(request.base_url))


@router.get("/products/{product_id}/links/{link}", response_model=LinkVerified,
            summary="Verify a link: the product's on-chain identity and the promoter (anyone)")
async def verify_link(product_id: ProductId,
                      link: Annotated[str, Path(min_length=1, max_length=400)],
                      runtime: RuntimeDep) -> dict[str, Any]:
    return await runtime.referrals.verify_link(  # type: ignore[no-any-return]
        link, product_id=product_id)


@router.post("/products/{product_id}/purchases", status_code=201,
             response_model=PurchaseWritten,
             summary="Buy units of the current batch, paid in credit (consumer)")
async def purchase(product_id: ProductId, body: PurchaseCreate, request: Request,
                   runtime: RuntimeDep, caller: CallerDep, idem: IdempotencyDep,
                   key: IdempotencyKey = None) -> JSONResponse:
    return await write(idem, caller.id, key, request, body.model_dump(mode="json"),
                       lambda: runtime.referrals.purchase(
                           caller, product_id, body.quantity, body.link, key,
                           seen_batch=body.batch, max_price=body.max_price), 201)


@router.get("/products/{product_id}/purchases", response_model=PurchasePage,
            responses=lists.CSV_RESPONSE,
            summary="A product's purchases and promotion records, newest first (search by "
                    "buyer or promoter; date filter; CSV)")
async def list_purchases(product_id: ProductId, runtime: RuntimeDep, params: ListParamsDep,
                         ) -> dict[str, Any] | StreamingResponse:
    await views.product_row(runtime.db, product_id)
    base = select(ReferralPurchase).where(ReferralPurchase.product_id == product_id)
    return await lists.respond(runtime.db, list_specs.referral_purchases(runtime.db), base,
                               params, "purchases")


@router.get("/holdings/me", response_model=Holdings,
            summary="My units per product and batch, and my rebates")
async def my_holdings(runtime: RuntimeDep, caller: CallerDep) -> dict[str, Any]:
    return await views.holdings_of(runtime.db, caller.address)
