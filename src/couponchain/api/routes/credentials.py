"""API keys and page sessions: create, list and revoke keys; sign a page in and out.

A participant manages its own keys; a merchant, its terminals' too (a till's
key copied from its browser is revoked by the shop); the platform, anyone's.
Someone else's key answers 404, as if it did not exist.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Path as UrlPath
from fastapi import Query, Request, Response
from pydantic import BaseModel, Field

from couponchain.api.bounds import bounded_router
from couponchain.api.csrf import clear_session_cookies, set_session_cookies
from couponchain.api.deps import (
    AuthDep,
    CallerDep,
    RuntimeDep,
)
from couponchain.api.inputs import ChainTime, Input
from couponchain.errors import Forbidden, NotFound, Unauthorized
from couponchain.services import credentials
from couponchain.services.credentials import API_KEY, SESSION

router = bounded_router(prefix="/v1", tags=["credentials"])

ParticipantId = Annotated[str, Field(min_length=1, max_length=32)]


class ApiKeyCreate(Input):
    name: str = Field(min_length=1, max_length=100,
                      description="what the key is for, e.g. 'till 2' or 'nightly export'")
    expires_at: ChainTime | None = Field(default=None,
                                         description="when the key stops working (default: never)")
    participant: ParticipantId | None = Field(
        default=None, description="whose key (default: the caller's; a merchant may name its "
                                  "terminals, the platform anyone)")


class ApiKeyPublic(BaseModel):
    id: str
    participant_id: str
    name: str
    prefix: str = Field(description="how the key begins (cc_<id>_), to tell keys apart")
    created_at: datetime
    last_used_at: datetime | None = Field(description="to the minute: written once a minute")
    expires_at: datetime | None
    revoked_at: datetime | None
    state: str = Field(description="active, expired or revoked")


class ApiKeyCreated(ApiKeyPublic):
    api_key: str = Field(description="shown once; store it safely")


class ApiKeyList(BaseModel):
    items: list[ApiKeyPublic]


class SessionPublic(BaseModel):
    id: str
    participant_id: str
    expires_at: datetime


async def _owner(runtime: RuntimeDep, caller: CallerDep, participant: str | None) -> str:
    owner = participant or caller.id
    try:
        await runtime.participants.caller(owner)
    except Unauthorized:
        raise NotFound(f"participant {owner} does not exist", field="participant") from None
    if not await runtime.participants.may_manage(caller, owner):
        raise Forbidden(f"the keys of participant {owner} are not yours to manage",
                        field="participant")
    return owner


@router.post("/api-keys", status_code=201, response_model=ApiKeyCreated,
             summary="Create an API key (shown once)")
async def create_api_key(body: ApiKeyCreate, runtime: RuntimeDep, caller: CallerDep) -> dict:
    owner = await _owner(runtime, caller, body.participant)
    row, token = await runtime.credentials.create(owner, body.name, created_by=caller.id,
                                                  expires_at=body.expires_at)
    return {**credentials.public(row), "api_key": token}


@router.get("/api-keys", response_model=ApiKeyList, summary="List API keys (never the keys)")
async def list_api_keys(
    runtime: RuntimeDep, caller: CallerDep,
    participant: Annotated[str | None, Query(min_length=1, max_length=32,
                                             description="whose keys (default: yours)")] = None,
) -> dict:
    owner = await _owner(runtime, caller, participant)
    return {"items": [credentials.public(r) for r in await runtime.credentials.list(owner)]}


@router.delete("/api-keys/{key_id}", response_model=ApiKeyPublic,
               summary="Revoke an API key (and its page sessions), at once")
async def revoke_api_key(key_id: Annotated[str, UrlPath(max_length=16)], runtime: RuntimeDep,
                         caller: CallerDep) -> dict:
    try:
        row = await runtime.credentials.get(key_id, API_KEY)
    except NotFound:
        row = None
    if row is None or not await runtime.participants.may_manage(caller, row.participant_id):
        raise NotFound(f"you have no API key {key_id}", field="key_id")
    return credentials.public(await runtime.credentials.revoke(key_id))


@router.post("/sessions", status_code=201, response_model=SessionPublic,
             summary="Sign a page in with an API key: a session cookie, not the key")
async def open_session(request: Request, response: Response, runtime: RuntimeDep,
                       auth: AuthDep) -> dict:
    """Sets `cc_session` (HttpOnly, SameSite=Lax, Secure over https) and `cc_csrf`,
    whose value a page sends back in `X-CSRF-Token` on every write."""
    if auth.grant.kind != API_KEY:
        raise Forbidden("a session is opened with an API key (Authorization: Bearer)",
                        field="Authorization")
    agent = request.headers.get("user-agent", "")[:80]
    row, token = await runtime.credentials.open_session(auth.grant, f"page sign-in {agent}")
    set_session_cookies(response, request, runtime.settings, token)
    public = credentials.public(row)
    return {"id": row.id, "participant_id": row.participant_id,
            "expires_at": public["expires_at"]}


@router.delete("/sessions/current", status_code=204, response_class=Response,
               summary="Sign the page out: its session is revoked")
async def close_session(request: Request, runtime: RuntimeDep, auth: AuthDep) -> Response:
    """Signed in with an API key (no session), there is nothing to revoke: 204 all the
    same, and the cookies are cleared."""
    if auth.grant.kind == SESSION:
        await runtime.credentials.close_session(auth.grant.credential_id)
    response = Response(status_code=204)
    clear_session_cookies(response, request, runtime.settings)
    return response
