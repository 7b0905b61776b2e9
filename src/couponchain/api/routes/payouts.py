"""Pull payouts of any participant, and credit top-ups by the platform (DESIGN §6)."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from couponchain.api.bounds import bounded_router
from couponchain.api.deps import CallerDep, IdempotencyDep, IdempotencyKey, RuntimeDep
from couponchain.api.idempotency import write
from couponchain.api.inputs import Input
from couponchain.services.payouts import MAX_MINT

router = bounded_router(prefix="/v1", tags=["payouts"])


class PayoutEntryOut(BaseModel):
    source: str = Field(description="the paying contract, e.g. promotions")
    part: str = Field(description="why: platform, issuer, redeemer, holder, earlier, withdrawal")
    reference: str | None = Field(description="what earned it, e.g. the promotion coupon id")
    amount: int = Field(description="credits positive, withdrawals negative")
    tx_hash: str
    block_number: int
    at: str


class Payouts(BaseModel):
    account: str
    token_balance: int = Field(description="credit tokens held, smallest unit")
    claimable: dict[str, int] = Field(description="withdrawable now, per source (read on chain)")
    total_claimable: int
    earned: dict[str, int]
    withdrawn: dict[str, int]
    entries: list[PayoutEntryOut] = Field(description="latest credits and withdrawals")


class Withdrawal(BaseModel):
    source: str
    amount: int
    tx_hash: str
    block_number: int


class Withdrawn(BaseModel):
    withdrawn: list[Withdrawal]
    total: int
    token_balance: int
    tx_hash: str
    block_number: int


class CreditCreate(Input):
    to: str = Field(min_length=1, max_length=42, description="a participant id or address")
    amount: int = Field(ge=1, le=MAX_MINT, description="smallest unit (1 CCC = 1,000,000)")


class CreditIssued(BaseModel):
    to: str
    amount: int
    token_balance: int
    tx_hash: str
    block_number: int


@router.get("/payouts/me", response_model=Payouts,
            summary="What I may withdraw, my credit balance and my latest payouts")
async def my_payouts(runtime: RuntimeDep, caller: CallerDep) -> dict[str, Any]:
    return await runtime.payouts.of(caller)  # type: ignore[no-any-return]


@router.post("/payouts/me/withdraw", response_model=Withdrawn,
             summary="Withdraw everything claimable to my account")
async def withdraw(request: Request, runtime: RuntimeDep, caller: CallerDep,
                   idem: IdempotencyDep, key: IdempotencyKey = None) -> JSONResponse:
    return await write(idem, caller.id, key, request, {},
                       lambda: runtime.payouts.withdraw(caller, key))


@router.post("/credits", status_code=201, response_model=CreditIssued,
             summary="Issue credit tokens to a participant (platform)")
async def issue_credit(body: CreditCreate, request: Request, runtime: RuntimeDep,
                       caller: CallerDep, idem: IdempotencyDep,
                       key: IdempotencyKey = None) -> JSONResponse:
    return await write(idem, caller.id, key, request, body.model_dump(mode="json"),
                       lambda: runtime.payouts.top_up(caller, body.to, body.amount, key), 201)
