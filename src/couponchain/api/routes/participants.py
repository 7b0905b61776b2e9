"""Participants: merchants, terminals, consumers (DESIGN §6, participants row)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal

from fastapi import Path, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field
from sqlalchemy import select

from couponchain.api import lists
from couponchain.api.bounds import bounded_router
from couponchain.api.deps import CallerDep, IdempotencyDep, IdempotencyKey, RuntimeDep
from couponchain.api.idempotency import request_hash
from couponchain.api.inputs import Input
from couponchain.api.lists import ListParamsDep
from couponchain.domain.roles import Role
from couponchain.errors import Forbidden
from couponchain.runtime import Runtime
from couponchain.services import list_specs
from couponchain.services.listing import ListSpec
from couponchain.store.models import Participant

router = bounded_router(prefix="/v1", tags=["participants"])

Name = Annotated[str, Field(min_length=1, max_length=200, description="display name")]


class ParticipantCreate(Input):
    name: Name


class TerminalCreate(Input):
    name: Name
    merchant_id: str | None = Field(
        default=None, max_length=32,
        description="the merchant the terminal belongs to: the calling merchant "
                    "itself (the default; no one else may create its terminals)")


class ParticipantPublic(BaseModel):
    id: str
    role: str
    name: str
    address: str
    merchant_id: str | None
    custody: Literal["custodial", "own"] = Field(
        default="custodial", description="whose key signs for it: the server's (custodial) "
        "or one the participant holds (own: the server never sees it)")


class ParticipantWithStanding(ParticipantPublic):
    standing: Literal["active", "suspended", "unbound"] = Field(
        description="the participant's own standing in the registry")
    active: bool = Field(description="whether it may act on chain now: its own standing "
                         "and, for a terminal, its merchant's are active")
    standing_reason: str | None = Field(description="the reason given with the last change")
    standing_changed_by: str | None = Field(description="who made the last change (address)")
    standing_tx: str | None = Field(description="the transaction of the last change")
    merchant_standing: Literal["active", "suspended", "unbound"] | None = Field(
        description="a terminal's merchant's standing")


class ParticipantCreated(ParticipantPublic):
    api_key: str = Field(description="shown once; store it safely")
    tx_hash: str
    block_number: int


class ParticipantPage(BaseModel):
    items: list[ParticipantWithStanding]
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
             summary="Create a terminal (its merchant only; the merchant's key registers it)")
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


async def _with_standing(runtime, rows: list) -> list[dict]:  # noqa: ANN001
    standings = await runtime.standing.standings(rows)
    return [{**runtime.participants.public(r), **standings[r.id].public()} for r in rows]


@router.get("/participants/me", response_model=ParticipantWithStanding, summary="Who am I")
async def me(runtime: RuntimeDep, caller: CallerDep) -> dict:
    return (await _with_standing(runtime, [await runtime.participants.get(caller.id)]))[0]


@router.get("/participants/{participant_id}", response_model=ParticipantWithStanding,
            summary="A participant's public data and standing (active, suspended, unbound)")
async def get_participant(participant_id: str, runtime: RuntimeDep) -> dict:
    return (await _with_standing(runtime, [await runtime.participants.get(participant_id)]))[0]


@router.get("/merchants", response_model=ParticipantPage,
            responses=lists.CSV_RESPONSE,
            summary="List merchants (search by name, id or address; date filter; CSV)")
async def list_merchants(runtime: RuntimeDep, params: ListParamsDep,
                         ) -> dict[str, Any] | StreamingResponse:
    return await lists.respond(runtime.db, _spec(runtime, "merchants"),
                               select(Participant).where(Participant.role == int(Role.MERCHANT)),
                               params, "items")


@router.get("/merchants/{merchant_id}/terminals", response_model=ParticipantPage,
            responses=lists.CSV_RESPONSE,
            summary="A merchant's terminals with their standing (the merchant, platform)")
async def list_terminals(
    merchant_id: Annotated[str, Path(max_length=32)],
    runtime: RuntimeDep,
    caller: CallerDep,
    params: ListParamsDep,
) -> dict[str, Any] | StreamingResponse:
    if caller.role != Role.PLATFORM and caller.id != merchant_id:
        raise Forbidden("a merchant lists its own terminals only", field="merchant_id")
    base = select(Participant).where(Participant.role == int(Role.TERMINAL),
                                     Participant.merchant_id == merchant_id)
    return await lists.respond(runtime.db, _spec(runtime, "terminals"), base, params, "items")


def _spec(runtime: Runtime, name: str) -> ListSpec:
    async def render(rows: Sequence[Any]) -> list[dict[str, Any]]:
        return await _with_standing(runtime, list(rows))
    return list_specs.participants(render, name)
