"""Universal promotion coupons: rounds, allocations, grants, consent, write-offs (DESIGN §6)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Path, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field
from sqlalchemy import select

from couponchain.api import lists
from couponchain.api.bounds import body_limits, bounded_router
from couponchain.api.deps import CallerDep, IdempotencyDep, IdempotencyKey, RuntimeDep
from couponchain.api.idempotency import write
from couponchain.api.inputs import Input
from couponchain.api.lists import ListParamsDep
from couponchain.domain.evaluation import MAX_ROUND_TOTAL, FormulaParams
from couponchain.domain.splits import MAX_ORDER_AMOUNT, Shares
from couponchain.services import list_specs
from couponchain.services import promotion_views as views
from couponchain.services.incentive_caps import MAX_CAP
from couponchain.services.promotions import (
    ALLOCATIONS_MAX,
    GRANT_REQUEST_MAX,
    MAX_ROLLBACK_WINDOW,
    RoundRequest,
)
from couponchain.store.models import PromotionCoupon, PromotionRound

router = bounded_router(prefix="/v1", tags=["promotions"])
#: A round's evaluation lists up to 10,000 merchants' turnovers.
ROUND_LIMITS = body_limits(2 * 1024 * 1024, 40_000)

Participant = Annotated[str, Field(min_length=1, max_length=42,
                                   description="a participant id or a chain address")]
Amount = Annotated[int, Field(ge=0, le=2**256 - 1)]
CouponId = Annotated[int, Path(ge=1, le=2**63 - 1, description="the promotion coupon id")]
RoundId = Annotated[int, Path(ge=1, le=2**63 - 1, description="the round id")]
Bps = Annotated[int, Field(ge=0, le=10_000)]
MerchantId = Annotated[str, Path(min_length=1, max_length=32, description="the merchant's id")]


class Turnover(Input):
    merchant: Participant
    amount: Amount = Field(description="declared turnover in the period (made off the chain), "
                                       "smallest token unit")


class PeriodIn(Input):
    from_block: int | None = Field(
        default=None, ge=0, le=2**63 - 1,
        description="the period's first block (default: the block after the last measured "
                    "round's period, or 0)")
    to_block: int | None = Field(
        default=None, ge=0, le=2**63 - 1,
        description="the cut-off block: merchants and consumers registered by it count "
                    "(default: the chain's head)")


class EvaluationIn(Input):
    period: PeriodIn = Field(default_factory=PeriodIn,
                             description="the blocks whose logs are measured")
    turnover: list[Turnover] = Field(
        default_factory=list, max_length=10_000,
        description="declared inputs: turnover the ledger does not hold, per merchant "
                    "registered by the cut-off, added to the measured turnover")
    consumers: int = Field(default=0, ge=0, le=2**64,
                           description="declared inputs: consumers not registered on the "
                                       "chain, added to the measured count")


class FormulaIn(Input):
    base_per_merchant: Amount = 0
    turnover_per_coupon: int = Field(ge=1, le=2**256 - 1)
    per_consumer: Amount = 0
    max_total: int = Field(ge=1, le=MAX_ROUND_TOTAL)


class SharesIn(Input):
    platform: Bps
    issuer: Bps
    redeemer: Bps
    holder: Bps
    earlier: Bps


class RoundCreate(Input):
    evaluation: EvaluationIn
    formula: FormulaIn
    incentive_bps: Bps = Field(description="incentive charged per write-off, of the order amount")
    shares: SharesIn = Field(description="pool split in basis points, summing to 10,000")
    rollback_window_seconds: int = Field(ge=0, le=MAX_ROLLBACK_WINDOW)
    consent_lifetime_seconds: int = Field(default=300, ge=30, le=300,
                                          description="longest validity of a consent code")

    def request(self) -> RoundRequest:
        return RoundRequest(
            turnover=[(t.merchant, t.amount) for t in self.evaluation.turnover],
            consumers=self.evaluation.consumers,
            formula=FormulaParams(**self.formula.model_dump()),
            incentive_bps=self.incentive_bps, shares=Shares(**self.shares.model_dump()),
            rollback_window=self.rollback_window_seconds,
            consent_lifetime=self.consent_lifetime_seconds,
            period_from=self.evaluation.period.from_block,
            period_to=self.evaluation.period.to_block)


class AllocationIn(Input):
    merchant: Participant
    count: int = Field(ge=1, le=MAX_ROUND_TOTAL)


class AllocationsCreate(Input):
    allocations: list[AllocationIn] = Field(min_length=1, max_length=ALLOCATIONS_MAX)


class GrantIn(Input):
    consumer: Participant
    count: int = Field(default=1, ge=1, le=GRANT_REQUEST_MAX)


class GrantsCreate(Input):
    round_id: int = Field(ge=1, le=2**63 - 1)
    grants: list[GrantIn] = Field(min_length=1, max_length=GRANT_REQUEST_MAX)


class TransferCreate(Input):
    to: Participant


class ConsentCreate(Input):
    merchant: Participant = Field(
        description="the merchant (id or address) that may use this consent, with its "
                    "terminals; \"any\" lets any merchant use it")
    max_order_amount: int = Field(ge=1, le=MAX_ORDER_AMOUNT,
                                  description="the largest order amount (smallest token unit) "
                                              "the consent covers")
    lifetime_seconds: int | None = Field(
        default=None, ge=1, le=300, description="default: 120 s or the round's limit")


class WriteOffCreate(Input):
    code: str = Field(min_length=1, max_length=400, description="the holder's consent code")
    order_amount: int = Field(ge=1, le=MAX_ORDER_AMOUNT,
                              description="the order's amount, smallest token unit")


class IncentiveCapPut(Input):
    cap: int = Field(ge=0, le=MAX_CAP,
                     description="the most this merchant lets the promotions contract charge it "
                                 "in incentives from now on (smallest token unit); replaces "
                                 "what was left; 0 stops write-offs that charge an incentive")


class IncentiveCapOut(BaseModel):
    merchant_id: str
    merchant: str
    cap: int | None = Field(description="the cap as the merchant last set it (null: never)")
    left: int = Field(description="what is left of it on chain (the token approval)")
    used: int | None = Field(description="incentives charged since it was set")
    set_at: str | None
    tx_hash: str | None
    block_number: int | None = None


class EvaluationOut(BaseModel):
    total: int
    merchant_part: int
    turnover_part: int
    consumer_part: int
    clipped: bool = Field(description="the formula's result was capped at max_total")
    inputs_hash: str
    merchants: int
    inputs: dict[str, Any]


class AllocationOut(BaseModel):
    merchant: str
    merchant_id: str | None
    merchant_name: str | None
    allocated: int
    granted: int
    remaining: int


class RoundOut(BaseModel):
    id: int
    first_coupon_id: int
    last_coupon_id: int
    total: int
    inputs_hash: str
    incentive_bps: int
    shares: dict[str, int]
    rollback_window_seconds: int
    consent_lifetime_seconds: int
    allocated: int
    granted: int
    written_off: int
    distributed: int
    opened_at: str
    opened_block: int
    opened_tx: str
    period: dict[str, int] | None = Field(
        description="the evaluation period recorded on chain (blocks, inclusive); null when "
                    "the round records no measured inputs")
    measured_hash: str | None = Field(
        description="the hash of the inputs measured from the ledger, recorded on chain")


class RoundDetail(RoundOut):
    evaluation: dict[str, Any] | None = Field(
        description="the published evaluation: period, measured inputs (with their hash and "
                    "sources), declared inputs, their sums (what the formula used), formula")
    allocations: list[AllocationOut]


class RoundWritten(RoundDetail):
    tx_hash: str
    block_number: int


class RoundPage(BaseModel):
    rounds: list[RoundOut]
    next_cursor: int | None


class Range(BaseModel):
    consumer: str
    first_id: int
    last_id: int


class Granted(BaseModel):
    round_id: int
    granted: int
    coupon_ids: list[int]
    ranges: list[Range]
    transactions: list[str]
    tx_hash: str
    block_number: int


Status = Literal["issued", "active", "written_off", "distributed"]


class PathStep(BaseModel):
    action: Literal["granted", "transferred", "written_off", "reversed", "distributed"]
    from_: str | None = Field(alias="from")
    to: str | None
    by: str
    by_name: str | None
    amount: int | None
    at: str
    tx_hash: str
    block_number: int


class CouponOut(BaseModel):
    id: int
    round_id: int
    status: Status
    holder: str
    holder_id: str | None = None
    issuer: str | None = None
    issuer_name: str | None = None
    redeemer: str | None = None
    redeemer_name: str | None = None
    transfers: int = 0
    order_amount: int | None = None
    pool: int | None = Field(default=None, description="the reward pool bound to this coupon")
    written_off_at: str | None = None
    granted_at: str | None = None


class CouponDetail(CouponOut):
    path: list[PathStep]


class CouponWritten(BaseModel):
    coupon: CouponDetail
    tx_hash: str
    block_number: int


class CouponPage(BaseModel):
    coupons: list[CouponOut]
    next_cursor: int | None


class ConsentOut(BaseModel):
    coupon_id: int
    code: str = Field(description="show it as a QR; valid once, until expires_at")
    nonce: str
    expiry: int
    expires_at: str
    merchant: str | None = Field(description="the merchant it is for; null: any merchant")
    merchant_name: str | None
    max_order_amount: int = Field(description="the largest order it covers")
    qr_svg: str = Field(description="the code as an SVG data URI")


class WriteOffOut(BaseModel):
    coupon_id: int
    round_id: int
    holder: str
    merchant: str
    operator: str
    order_amount: int
    incentive: int = Field(description="charged to the merchant into the coupon's pool")
    pool: int
    reversible_until: str
    tx_hash: str
    block_number: int


class WriteOffPage(BaseModel):
    write_offs: list[CouponOut]


class TimelinePoint(BaseModel):
    at: str
    write_offs: int
    incentives: int


class Timeline(BaseModel):
    minute_seconds: int
    points: list[TimelinePoint]


@router.post("/promotion-rounds:evaluate", response_model=EvaluationOut, **ROUND_LIMITS,
             summary="Preview a round: the formula's total for these inputs (platform)")
async def evaluate_round(body: RoundCreate, runtime: RuntimeDep,
                         caller: CallerDep) -> dict[str, Any]:
    return await runtime.promotions.preview(caller, body.request())  # type: ignore[no-any-return]


@router.post("/promotion-rounds", status_code=201, response_model=RoundWritten,
             **ROUND_LIMITS,
             summary="Open a round from an evaluation; the total is issued on chain (platform)")
async def open_round(body: RoundCreate, request: Request, runtime: RuntimeDep,
                     caller: CallerDep, idem: IdempotencyDep,
                     key: IdempotencyKey = None) -> JSONResponse:
    return await write(idem, caller.id, key, request, body.model_dump(mode="json"),
                       lambda: runtime.promotions.open_round(caller, body.request(), key), 201)


@router.get("/promotion-rounds", response_model=RoundPage,
            responses=lists.CSV_RESPONSE,
            summary="List rounds (search, status and date filters, CSV)")
async def list_rounds(runtime: RuntimeDep, params: ListParamsDep,
                      ) -> dict[str, Any] | StreamingResponse:
    return await lists.respond(runtime.db, list_specs.promotion_rounds(),
                               select(PromotionRound), params, "rounds")


@router.get("/promotion-rounds/{round_id}", response_model=RoundDetail,
            summary="A round: evaluation, parameters, counters, allocations")
async def get_round(round_id: RoundId, runtime: RuntimeDep) -> dict[str, Any]:
    return await views.round_detail(runtime.db, round_id)


@router.post("/promotion-rounds/{round_id}/allocations", response_model=RoundWritten,
             summary="Allocate coupon counts to merchants (platform)")
async def allocate(round_id: RoundId, body: AllocationsCreate, request: Request,
                   runtime: RuntimeDep, caller: CallerDep, idem: IdempotencyDep,
                   key: IdempotencyKey = None) -> JSONResponse:
    allocations = [(a.merchant, a.count) for a in body.allocations]
    return await write(idem, caller.id, key, request, body.model_dump(mode="json"),
                       lambda: runtime.promotions.allocate(caller, round_id, allocations, key))


@router.post("/promotion-grants", status_code=201, response_model=Granted,
             **body_limits(2 * 1024 * 1024, 4 * GRANT_REQUEST_MAX),
             summary="Grant coupons to consumers out of the merchant's allocation (merchant)")
async def grant(body: GrantsCreate, request: Request, runtime: RuntimeDep, caller: CallerDep,
                idem: IdempotencyDep, key: IdempotencyKey = None) -> JSONResponse:
    grants = [(g.consumer, g.count) for g in body.grants]
    return await write(idem, caller.id, key, request, body.model_dump(mode="json"),
                       lambda: runtime.promotions.grant(caller, body.round_id, grants, key), 201)


@router.get("/promotion-coupons", response_model=CouponPage,
            responses=lists.CSV_RESPONSE,
            summary="A holder's promotion coupons (search, status and date filters, CSV)")
async def list_coupons(
    runtime: RuntimeDep,
    params: ListParamsDep,
    holder: Annotated[str, Query(min_length=1, max_length=42,
                                 description="a participant id or address")],
) -> dict[str, Any] | StreamingResponse:
    (address,) = await runtime.participants.addresses([holder], ["holder"])
    return await lists.respond(runtime.db, list_specs.promotion_coupons(runtime.db),
                               select(PromotionCoupon).where(PromotionCoupon.holder == address),
                               params, "coupons")


@router.get("/promotion-coupons/{coupon_id}", response_model=CouponDetail,
            response_model_by_alias=True, summary="A coupon: status, pool and its full path")
async def get_coupon(coupon_id: CouponId, runtime: RuntimeDep) -> dict[str, Any]:
    return await views.coupon_detail(runtime.db, coupon_id)


@router.post("/promotion-coupons/{coupon_id}/transfer", response_model=CouponWritten,
             response_model_by_alias=True, summary="Pass a coupon to another consumer (holder)")
async def transfer(coupon_id: CouponId, body: TransferCreate, request: Request,
                   runtime: RuntimeDep, caller: CallerDep, idem: IdempotencyDep,
                   key: IdempotencyKey = None) -> JSONResponse:
    return await write(idem, caller.id, key, request, body.model_dump(mode="json"),
                       lambda: runtime.promotions.transfer(caller, coupon_id, body.to, key))


@router.post("/promotion-coupons/{coupon_id}/consent", status_code=201,
             response_model=ConsentOut,
             summary="A signed consent code to show at the till (holder)")
async def consent(coupon_id: CouponId, body: ConsentCreate, runtime: RuntimeDep,
                  caller: CallerDep) -> dict[str, Any]:
    return await runtime.promotions.consent(  # type: ignore[no-any-return]
        caller, coupon_id, body.lifetime_seconds, merchant=body.merchant,
        max_order_amount=body.max_order_amount)


@router.post("/promotion-coupons/{coupon_id}/write-off-reversal", response_model=CouponWritten,
             response_model_by_alias=True,
             summary="Reverse a write-off inside the round's window (redeeming merchant)")
async def reverse(coupon_id: CouponId, request: Request, runtime: RuntimeDep,
                  caller: CallerDep, idem: IdempotencyDep,
                  key: IdempotencyKey = None) -> JSONResponse:
    return await write(idem, caller.id, key, request, {},
                       lambda: runtime.promotions.reverse(caller, coupon_id, key))


@router.post("/write-offs", status_code=201, response_model=WriteOffOut,
             summary="Write a coupon off with the holder's consent code (merchant or terminal)")
async def write_off(body: WriteOffCreate, request: Request, runtime: RuntimeDep,
                    caller: CallerDep, idem: IdempotencyDep,
                    key: IdempotencyKey = None) -> JSONResponse:
    return await write(idem, caller.id, key, request, body.model_dump(mode="json"),
                       lambda: runtime.promotions.write_off(caller, body.code,
                                                            body.order_amount, key), 201)


@router.get("/merchants/{merchant_id}/incentive-cap", response_model=IncentiveCapOut,
            summary="A merchant's spending cap for incentives and what is left of it")
async def get_incentive_cap(merchant_id: MerchantId, runtime: RuntimeDep) -> dict[str, Any]:
    return await runtime.promotions.caps.get(merchant_id)  # type: ignore[no-any-return]


@router.put("/merchants/{merchant_id}/incentive-cap", response_model=IncentiveCapOut,
            summary="Set the merchant's spending cap for incentives on chain (merchant)")
async def set_incentive_cap(merchant_id: MerchantId, body: IncentiveCapPut, request: Request,
                            runtime: RuntimeDep, caller: CallerDep, idem: IdempotencyDep,
                            key: IdempotencyKey = None) -> JSONResponse:
    return await write(idem, caller.id, key, request, body.model_dump(mode="json"),
                       lambda: runtime.promotions.caps.set_cap(caller, merchant_id, body.cap,
                                                               key))


@router.get("/write-offs", response_model=WriteOffPage,
            summary="A merchant's latest standing write-offs")
async def list_write_offs(
    runtime: RuntimeDep,
    merchant: Annotated[str, Query(min_length=1, max_length=42,
                                   description="the redeeming merchant's id or address")],
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    (address,) = await runtime.participants.addresses([merchant], ["merchant"])
    return {"write_offs": await views.write_offs(runtime.db, address, limit)}


@router.get("/write-offs/timeline", response_model=Timeline,
            summary="Standing write-offs and incentives per minute, for charts")
async def write_off_timeline(
    runtime: RuntimeDep,
    merchant: Annotated[str | None, Query(min_length=1, max_length=42)] = None,
) -> dict[str, Any]:
    address = None
    if merchant is not None:
        (address,) = await runtime.participants.addresses([merchant], ["merchant"])
    points = await views.write_off_timeline(runtime.db, address)
    return {"minute_seconds": views.MINUTE,
            "points": [{"at": views.iso(t), "write_offs": n, "incentives": total}
                       for t, n, total in points]}
