"""Standing of participants and capabilities (issue 23): suspend, reinstate and
unbind; pause and unpause a capability; hand the platform role to a new key.

Each write is a registry transaction signed by the participant deciding it
(a merchant for its terminals, the platform for merchants and capabilities),
through the durable gateway, once per Idempotency-Key.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from couponchain.api.bounds import bounded_router
from couponchain.api.deps import CallerDep, IdempotencyDep, IdempotencyKey, RuntimeDep
from couponchain.api.idempotency import write
from couponchain.api.inputs import Input
from couponchain.api.routes.participants import ParticipantWithStanding

router = bounded_router(prefix="/v1", tags=["participants"])

ParticipantId = Annotated[str, Path(min_length=1, max_length=32)]
CapabilityName = Annotated[str, Path(min_length=1, max_length=32,
                                     description="editions, promotions, referrals, prizes "
                                                 "or marketing")]


class Reason(Input):
    reason: str = Field(min_length=1, max_length=200,
                        description="why; published on chain with the change (≤ 200 bytes)")


class OptionalReason(Input):
    reason: str = Field(default="", max_length=200,
                        description="why; published on chain with the change (≤ 200 bytes)")


class StandingChanged(ParticipantWithStanding):
    tx_hash: str
    block_number: int


class CapabilitySwitch(BaseModel):
    capability: str
    address: str
    paused: bool
    reason: str | None = Field(description="the reason given with the last switch")
    changed_by: str | None
    tx_hash: str | None


class CapabilitySwitched(CapabilitySwitch):
    block_number: int


class CapabilityList(BaseModel):
    capabilities: list[CapabilitySwitch]


class PlatformProposed(BaseModel):
    candidate: str = Field(description="the new platform chain account (custodial key)")
    tx_hash: str
    block_number: int


class PlatformAccepted(BaseModel):
    previous: str
    platform: str
    tx_hash: str
    block_number: int


class PlatformTransfer(BaseModel):
    platform: str
    candidate: str | None


# --- participants --------------------------------------------------------------------------


@router.post("/participants/{participant_id}/suspend", response_model=StandingChanged,
             summary="Suspend a merchant (platform) or one's own terminal (merchant)")
async def suspend(participant_id: ParticipantId, body: Reason, request: Request,
                  runtime: RuntimeDep, caller: CallerDep, idem: IdempotencyDep,
                  key: IdempotencyKey = None) -> JSONResponse:
    return await write(idem, caller.id, key, request, body.model_dump(),
                       lambda: runtime.standing.suspend(caller, participant_id, body.reason, key))


@router.post("/participants/{participant_id}/reinstate", response_model=StandingChanged,
             summary="Lift a suspension (whoever may suspend the participant)")
async def reinstate(participant_id: ParticipantId, body: OptionalReason, request: Request,
                    runtime: RuntimeDep, caller: CallerDep, idem: IdempotencyDep,
                    key: IdempotencyKey = None) -> JSONResponse:
    return await write(idem, caller.id, key, request, body.model_dump(),
                       lambda: runtime.standing.reinstate(caller, participant_id, body.reason,
                                                          key))


@router.post("/terminals/{participant_id}/unbind", response_model=StandingChanged,
             summary="Unbind one's own terminal for good (merchant)")
async def unbind(participant_id: ParticipantId, body: Reason, request: Request,
                 runtime: RuntimeDep, caller: CallerDep, idem: IdempotencyDep,
                 key: IdempotencyKey = None) -> JSONResponse:
    return await write(idem, caller.id, key, request, body.model_dump(),
                       lambda: runtime.standing.unbind(caller, participant_id, body.reason, key))


# --- capabilities --------------------------------------------------------------------------


@router.get("/capabilities", response_model=CapabilityList,
            summary="Each capability contract and whether the platform paused it")
async def capabilities(runtime: RuntimeDep) -> dict[str, Any]:
    return {"capabilities": await runtime.standing.pauses()}


@router.post("/capabilities/{capability}/pause", response_model=CapabilitySwitched,
             summary="Pause a capability contract in an emergency (platform)")
async def pause(capability: CapabilityName, body: Reason, request: Request,
                runtime: RuntimeDep, caller: CallerDep, idem: IdempotencyDep,
                key: IdempotencyKey = None) -> JSONResponse:
    return await write(idem, caller.id, key, request, body.model_dump(),
                       lambda: runtime.standing.pause(caller, capability, body.reason, key))


@router.post("/capabilities/{capability}/unpause", response_model=CapabilitySwitched,
             summary="Let a paused capability contract change state again (platform)")
async def unpause(capability: CapabilityName, body: OptionalReason, request: Request,
                  runtime: RuntimeDep, caller: CallerDep, idem: IdempotencyDep,
                  key: IdempotencyKey = None) -> JSONResponse:
    return await write(idem, caller.id, key, request, body.model_dump(),
                       lambda: runtime.standing.unpause(caller, capability, body.reason, key))


# --- platform key rotation -----------------------------------------------------------------


@router.get("/platform/transfer", response_model=PlatformTransfer,
            summary="The platform account and the proposed next one, if any")
async def platform_transfer(runtime: RuntimeDep) -> dict[str, Any]:
    platform = await runtime.participants.get(runtime.platform.caller.id)
    return {"platform": platform.address, "candidate": await runtime.standing.pending_platform()}


@router.post("/platform/transfer", response_model=PlatformProposed, status_code=201,
             summary="Propose a new platform key (step one of two; platform)")
async def propose_platform(request: Request, runtime: RuntimeDep, caller: CallerDep,
                           idem: IdempotencyDep, key: IdempotencyKey = None) -> JSONResponse:
    return await write(idem, caller.id, key, request, {},
                       lambda: runtime.standing.propose_platform(caller), 201)


@router.post("/platform/transfer/accept", response_model=PlatformAccepted,
             summary="The proposed key accepts the platform role (step two; platform)")
async def accept_platform(request: Request, runtime: RuntimeDep, caller: CallerDep,
                          idem: IdempotencyDep, key: IdempotencyKey = None) -> JSONResponse:
    return await write(idem, caller.id, key, request, {},
                       lambda: runtime.standing.accept_platform(caller, key))


@router.post("/platform/transfer/cancel", response_model=PlatformProposed,
             summary="Withdraw a pending platform key proposal (platform)")
async def cancel_platform(request: Request, runtime: RuntimeDep, caller: CallerDep,
                          idem: IdempotencyDep, key: IdempotencyKey = None) -> JSONResponse:
    return await write(idem, caller.id, key, request, {},
                       lambda: runtime.standing.cancel_platform_transfer(caller, key))
