"""Participants: merchants, terminals, consumers (DESIGN §6, participants row)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from couponchain.api.bounds import bounded_router
from couponchain.api.deps import CallerDep, IdempotencyDep, IdempotencyKey, RuntimeDep
from couponchain.api.idempotency import request_hash
from couponchain.api.inputs import Input
from couponchain.domain.roles import Role

router = bounded_router(prefix="/v1", tags=["participants"])

Name = Annotated[str, Field(min_length=1, max_length=200, description="display name")]


class ParticipantCreate(Input):
    name: Name


class TerminalCreate(Input):
    name: Name
    merchant_id: str | None = Field(
        default=None, max_length=32,
        description="the merchant the terminal belongs to (a merchant caller: itself)")


class ParticipantPublic(BaseModel):
    id: str
    role: str
    name: str
    address: str
    merchant_id: str | None


class ParticipantCreated(ParticipantPublic):
    api_key: str = Field(description="shown once; store it safely")
    tx_hash: str
    block_number: int


class ParticipantPage(BaseModel):
    items: list[ParticipantPublic]
    next_cursor: str | None


async def _create(runtime, caller, idem, key, request: Request, role: Role, name: str,  # noqa: ANN001
                  merchant_id: str | None = None) -> JSONResponse:
    fingerprint = request_hash("POST", request.url.path, {"name": name, "merchant_id": merchant_id})

    async def handler() -> tuple[int, dict]:
        return 201, await runtime.participants.create(caller, role, name, merchant_id, key)

    return await idem.run(caller.id, key, fingerprint, handler)


@router.post("/merchants", status_code=201, response_model=ParticipantCreated,
             summary="Create a merchant (platform)")
async def create_merchant(body: ParticipantCreate, request: Request, runtime: RuntimeDep,
                          caller: CallerDep, idem: IdempotencyDep,
                          key: IdempotencyKey = None) -> JSONResponse:
    return await _create(runtime, caller, idem, key, request, Role.MERCHANT, body.name)


@router.post("/terminals", status_code=201, response_model=ParticipantCreated,
             summary="Create a terminal (platform, or a merchant for itself)")
async def create_terminal(body: TerminalCreate, request: Request, runtime: RuntimeDep,
                          caller: CallerDep, idem: IdempotencyDep,
                          key: IdempotencyKey = None) -> JSONResponse:
    return await _create(runtime, caller, idem, key, request, Role.TERMINAL, body.name,
                         body.merchant_id)


@router.post("/consumers", status_code=201, response_model=ParticipantCreated,
             summary="Create a consumer (platform or merchant)")
async def create_consumer(body: ParticipantCreate, request: Request, runtime: RuntimeDep,
                          caller: CallerDep, idem: IdempotencyDep,
                          key: IdempotencyKey = None) -> JSONResponse:
    return await _create(runtime, caller, idem, key, request, Role.CONSUMER, body.name)


@router.get("/participants/me", response_model=ParticipantPublic, summary="Who am I")
async def me(runtime: RuntimeDep, caller: CallerDep) -> dict:
    return runtime.participants.public(await runtime.participants.get(caller.id))


@router.get("/participants/{participant_id}", response_model=ParticipantPublic,
            summary="A participant's public data")
async def get_participant(participant_id: str, runtime: RuntimeDep) -> dict:
    return runtime.participants.public(await runtime.participants.get(participant_id))


@router.get("/merchants", response_model=ParticipantPage, summary="List merchants")
async def list_merchants(
    runtime: RuntimeDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[str | None, Query(max_length=32)] = None,
) -> dict:
    rows = await runtime.participants.list(Role.MERCHANT, limit, cursor)
    return {"items": [runtime.participants.public(r) for r in rows],
            "next_cursor": rows[-1].id if len(rows) == limit else None}
