"""Pausing, resuming and extending a limited edition (issue 25)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from couponchain.api.bounds import bounded_router
from couponchain.api.deps import CallerDep, IdempotencyDep, IdempotencyKey, RuntimeDep
from couponchain.api.idempotency import write
from couponchain.api.inputs import ChainTime, Input, epoch
from couponchain.api.routes.editions import EditionId, EditionWithChanges
from couponchain.services.edition_changes import REASON_MAX

router = bounded_router(prefix="/v1", tags=["editions"])

Reason = Annotated[str, Field(min_length=1, max_length=REASON_MAX,
                              description="why; kept off chain (the contract's event records "
                                          "its keccak256 and who made the change)")]


class ChangeReason(Input):
    reason: Reason


class Extension(Input):
    valid_until: ChainTime = Field(description="the new end of the window (sales and "
                                               "redemption): later than the current end")
    reason: Reason


class EditionChanged(BaseModel):
    edition: EditionWithChanges
    tx_hash: str
    block_number: int


@router.post("/editions/{edition_id}/pause", response_model=EditionChanged,
             summary="Pause an edition's sales (its merchant)",
             description="Every sale (single, bulk, online, offline) is refused on chain "
                         "(409 `editions: edition paused`) until it resumes; coupons sold "
                         "stay valid and redeemable.")
async def pause_edition(edition_id: EditionId, body: ChangeReason, request: Request,
                        runtime: RuntimeDep, caller: CallerDep, idem: IdempotencyDep,
                        key: IdempotencyKey = None) -> JSONResponse:
    return await write(idem, caller.id, key, request, body.model_dump(mode="json"),
                       lambda: runtime.editions.pause(caller, edition_id, body.reason, key),
                       200)


@router.post("/editions/{edition_id}/resume", response_model=EditionChanged,
             summary="Resume a paused edition's sales (its merchant)")
async def resume_edition(edition_id: EditionId, body: ChangeReason, request: Request,
                         runtime: RuntimeDep, caller: CallerDep, idem: IdempotencyDep,
                         key: IdempotencyKey = None) -> JSONResponse:
    return await write(idem, caller.id, key, request, body.model_dump(mode="json"),
                       lambda: runtime.editions.resume(caller, edition_id, body.reason, key),
                       200)


@router.post("/editions/{edition_id}/extend", response_model=EditionChanged,
             summary="Move an edition's end later (its merchant)",
             description="Never earlier: every coupon sold was promised the window it was "
                         "sold with; not once the edition has expired.")
async def extend_edition(edition_id: EditionId, body: Extension, request: Request,
                         runtime: RuntimeDep, caller: CallerDep, idem: IdempotencyDep,
                         key: IdempotencyKey = None) -> JSONResponse:
    return await write(idem, caller.id, key, request, body.model_dump(mode="json"),
                       lambda: runtime.editions.extend(caller, edition_id,
                                                       epoch(body.valid_until), body.reason,
                                                       key), 200)
