"""Adjusting a running prize campaign: window end, stock, eligible terminals (issue 27)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from couponchain.api.bounds import bounded_router
from couponchain.api.deps import CallerDep, IdempotencyDep, IdempotencyKey, RuntimeDep
from couponchain.api.idempotency import write
from couponchain.api.inputs import ChainTime, Input, epoch
from couponchain.api.routes.prizes import CampaignOut, Participant
from couponchain.services.prize_changes import MAX_QUANTITY, MAX_TERMINALS, REASON_MAX

router = bounded_router(prefix="/v1", tags=["prizes"])

CampaignId = Annotated[int, Path(ge=1, le=2**63 - 1, description="the prize campaign id")]
Reason = Annotated[str, Field(min_length=1, max_length=REASON_MAX,
                              description="why the campaign changes; kept off chain (the "
                                          "contract's event records its keccak256)")]


class WindowChange(Input):
    ends_at: ChainTime = Field(description="the new end of the claim window: in the future, "
                                           "after its start")
    reason: Reason


class StockChange(Input):
    prize_index: int = Field(ge=0, le=15)
    quantity: int = Field(ge=1, le=MAX_QUANTITY,
                          description="the new stock: not below the prize's live awards")
    reason: Reason


class TerminalsChange(Input):
    add: list[Participant] = Field(default=[], max_length=MAX_TERMINALS,
                                   description="the merchant's terminals to list")
    remove: list[Participant] = Field(default=[], max_length=MAX_TERMINALS,
                                      description="listed terminals to drop")
    all_terminals: bool | None = Field(
        default=None, description="set or clear 'every terminal of the merchant' (unchanged "
                                  "when left out)")
    reason: Reason


class ChangeOut(BaseModel):
    id: int
    campaign_id: int
    kind: Literal["window", "stock", "terminals"]
    detail: dict[str, Any]
    reason: str
    reason_hash: str = Field(description="keccak256 of the reason, as the event records it")
    changed_by: str
    requested_at: str
    tx_hash: str | None


class Changed(BaseModel):
    campaign: CampaignOut
    change: ChangeOut
    tx_hash: str
    block_number: int


class ChangeList(BaseModel):
    changes: list[ChangeOut]


@router.post("/prize-campaigns/{campaign_id}/window", response_model=Changed,
             summary="Extend or shorten a running campaign's claim window (its merchant)")
async def change_window(campaign_id: CampaignId, body: WindowChange, request: Request,
                        runtime: RuntimeDep, caller: CallerDep, idem: IdempotencyDep,
                        key: IdempotencyKey = None) -> JSONResponse:
    return await write(idem, caller.id, key, request, body.model_dump(mode="json"),
                       lambda: runtime.prizes.change_window(
                           caller, campaign_id, epoch(body.ends_at), body.reason, key), 200)


@router.post("/prize-campaigns/{campaign_id}/stock", response_model=Changed,
             summary="Set a prize's stock in a running campaign (its merchant)")
async def change_stock(campaign_id: CampaignId, body: StockChange, request: Request,
                       runtime: RuntimeDep, caller: CallerDep, idem: IdempotencyDep,
                       key: IdempotencyKey = None) -> JSONResponse:
    return await write(idem, caller.id, key, request, body.model_dump(mode="json"),
                       lambda: runtime.prizes.change_stock(
                           caller, campaign_id, body.prize_index, body.quantity, body.reason,
                           key), 200)


@router.post("/prize-campaigns/{campaign_id}/terminals", response_model=Changed,
             summary="Change the terminals of a running campaign (its merchant)")
async def change_terminals(campaign_id: CampaignId, body: TerminalsChange, request: Request,
                           runtime: RuntimeDep, caller: CallerDep, idem: IdempotencyDep,
                           key: IdempotencyKey = None) -> JSONResponse:
    return await write(idem, caller.id, key, request, body.model_dump(mode="json"),
                       lambda: runtime.prizes.change_terminals(
                           caller, campaign_id, body.add, body.remove, body.all_terminals,
                           body.reason, key), 200)


@router.get("/prize-campaigns/{campaign_id}/changes", response_model=ChangeList,
            summary="A campaign's changes with their reasons (its merchant or the platform)")
async def changes(campaign_id: CampaignId, runtime: RuntimeDep,
                  caller: CallerDep) -> dict[str, Any]:
    return await runtime.prizes.changes(caller, campaign_id)
