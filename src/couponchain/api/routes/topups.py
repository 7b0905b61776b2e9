"""Top-up at a merchant's till (issue 24): till limits set by the platform, credits
made by merchants and their terminals, and the history of both.

Amounts are integers of the token's smallest unit (1 CCC = 1,000,000), as in
every route; the till page types them in CCC.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from couponchain.api.bounds import bounded_router
from couponchain.api.deps import CallerDep, IdempotencyDep, IdempotencyKey, RuntimeDep
from couponchain.api.idempotency import write
from couponchain.api.inputs import Input
from couponchain.services.topups import MAX_AMOUNT, REFERENCE_BYTES

router = bounded_router(prefix="/v1", tags=["top-ups"])


class TillLimitSet(Input):
    limit: int = Field(ge=0, le=MAX_AMOUNT, description=(
        "the most this merchant's tills may credit in all, counting earlier credits; "
        "smallest unit (1 CCC = 1,000,000)"))


class TillLimitOut(BaseModel):
    merchant_id: str
    merchant_name: str
    merchant: str = Field(description="the merchant's chain address")
    limit: int = Field(description="as the platform last set it (0: none)")
    credited: int = Field(description="what the merchant's tills credited so far")
    remaining: int = Field(description="what they may still credit (read on chain)")
    set_at: str | None


class TillLimitChanged(TillLimitOut):
    tx_hash: str
    block_number: int


class TillCreditCreate(Input):
    consumer: str = Field(min_length=1, max_length=42,
                          description="the consumer's participant id (or chain address)")
    amount: int = Field(ge=1, le=MAX_AMOUNT,
                        description="paid at the till; smallest unit (1 CCC = 1,000,000)")
    reference: str | None = Field(default=None, max_length=REFERENCE_BYTES, description=(
        f"the shop's reference of the payment, e.g. its receipt number (at most "
        f"{REFERENCE_BYTES} bytes in UTF-8); recorded on chain as given"))


class TillCreditOut(BaseModel):
    merchant_id: str
    merchant_name: str
    consumer: str
    consumer_name: str | None
    amount: int
    remaining: int = Field(description="what is left of the merchant's till limit")
    reference: str | None
    operator: str = Field(description="the merchant or terminal that credited")
    tx_hash: str
    block_number: int
    at: str


class TopUp(BaseModel):
    merchant: str
    merchant_name: str | None
    consumer: str
    consumer_name: str | None
    operator: str
    operator_name: str | None
    amount: int
    remaining: int
    reference: str | None
    tx_hash: str
    block_number: int
    at: str


class MyTopUps(BaseModel):
    consumer: str
    token_balance: int = Field(description="credit tokens held, smallest unit")
    top_ups: list[TopUp] = Field(description="newest first")


class MerchantTopUps(TillLimitOut):
    top_ups: list[TopUp] = Field(description="newest first")


Limit = Annotated[int, Query(ge=1, le=500)]


@router.put("/merchants/{merchant_id}/till-limit", response_model=TillLimitChanged,
            summary="Set a merchant's till limit (platform)")
async def set_till_limit(merchant_id: str, body: TillLimitSet, request: Request,
                         runtime: RuntimeDep, caller: CallerDep, idem: IdempotencyDep,
                         key: IdempotencyKey = None) -> JSONResponse:
    return await write(idem, caller.id, key, request, body.model_dump(mode="json"),
                       lambda: runtime.topups.set_limit(caller, merchant_id, body.limit, key))


@router.get("/merchants/{merchant_id}/till-limit", response_model=TillLimitOut,
            summary="A merchant's till limit and what is left (merchant, its terminals, platform)")
async def till_limit(merchant_id: str, runtime: RuntimeDep,
                     caller: CallerDep) -> dict[str, Any]:
    return await runtime.topups.limit(caller, merchant_id)


@router.post("/till-credits", status_code=201, response_model=TillCreditOut,
             summary="Top up a consumer at the till (merchant or its terminal)")
async def till_credit(body: TillCreditCreate, request: Request, runtime: RuntimeDep,
                      caller: CallerDep, idem: IdempotencyDep,
                      key: IdempotencyKey = None) -> JSONResponse:
    return await write(idem, caller.id, key, request, body.model_dump(mode="json"),
                       lambda: runtime.topups.credit(caller, body.consumer, body.amount,
                                                     body.reference, key), 201)


@router.get("/till-credits/me", response_model=MyTopUps,
            summary="My top-ups at merchants' tills, and my credit balance (consumer)")
async def my_top_ups(runtime: RuntimeDep, caller: CallerDep,
                     limit: Limit = 50) -> dict[str, Any]:
    return await runtime.topups.of_consumer(caller, limit)


@router.get("/merchants/{merchant_id}/till-credits", response_model=MerchantTopUps,
            summary="A merchant's till limit and its tills' latest top-ups")
async def merchant_top_ups(merchant_id: str, runtime: RuntimeDep, caller: CallerDep,
                           limit: Limit = 50) -> dict[str, Any]:
    return await runtime.topups.of_merchant(caller, merchant_id, limit)
