"""A signed-in person's account: passkeys, recovery codes, sessions; a merchant's
invitation links for its staff and terminals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import Path as UrlPath
from fastapi import Request, Response
from pydantic import BaseModel, Field

from couponchain.api.bounds import bounded_router
from couponchain.api.csrf import origin, relying_party
from couponchain.api.deps import AuthDep, CallerDep, RuntimeDep
from couponchain.api.inputs import Input
from couponchain.api.routes.session_accounts import CeremonyOptions
from couponchain.services import accounts_invitations
from couponchain.services.accounts import passkey_public, session_public
from couponchain.services.credentials import SESSION

router = bounded_router(prefix="/v1", tags=["accounts"])


def _aware(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None else None


class PasskeyPublic(BaseModel):
    id: str
    name: str
    created_at: datetime
    last_used_at: datetime | None


class SessionPublic(BaseModel):
    id: str
    name: str
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    current: bool


class AccountPublic(BaseModel):
    id: str
    role: str
    name: str
    passkeys: list[PasskeyPublic]
    recovery_codes_left: int
    sessions: list[SessionPublic]


class PasskeyBegin(Input):
    name: str = Field(min_length=1, max_length=100, description="e.g. 'my laptop'")


class PasskeyAnswer(Input):
    ceremony: str = Field(min_length=1, max_length=32)
    credential: dict[str, Any]


class RecoveryCodes(BaseModel):
    recovery_codes: list[str] = Field(description="shown once; the unused old ones stop working")


class InvitationCreate(Input):
    kind: str = Field(description="staff (acts as the merchant) or terminal (a new till)")
    name: str = Field(min_length=1, max_length=100, description="who or which till")
    valid_hours: int = Field(default=72, ge=1, le=720)


class InvitationPublic(BaseModel):
    id: str
    merchant_id: str
    kind: str
    name: str
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None
    revoked_at: datetime | None
    participant_id: str | None
    state: str


class InvitationCreated(InvitationPublic):
    url: str = Field(description="the one-time link, shown once")


class InvitationList(BaseModel):
    items: list[InvitationPublic]


def _times(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _aware(v) if isinstance(v, datetime) else v for k, v in item.items()}


@router.get("/accounts/me", response_model=AccountPublic,
            summary="Your account: passkeys, recovery codes left, sessions")
async def my_account(runtime: RuntimeDep, auth: AuthDep) -> dict:
    caller = auth.caller
    accounts = runtime.accounts
    current = auth.grant.credential_id if auth.grant.kind == SESSION else None
    return {"id": caller.id, "role": caller.role.label, "name": caller.name,
            "passkeys": [_times(passkey_public(p)) for p in await accounts.passkeys(caller.id)],
            "recovery_codes_left": await accounts.recovery_codes_left(caller.id),
            "sessions": [_times(session_public(s)) | {"current": s.id == current}
                         for s in await accounts.sessions.live(caller.id)]}


@router.post("/accounts/me/passkeys/options", response_model=CeremonyOptions,
             summary="Begin adding a passkey to your account")
async def add_passkey_options(body: PasskeyBegin, request: Request, runtime: RuntimeDep,
                              caller: CallerDep) -> dict:
    ceremony = await runtime.accounts.begin_add(relying_party(request, runtime.settings),
                                                caller, body.name)
    return {"ceremony": ceremony.id, "options": ceremony.options}


@router.post("/accounts/me/passkeys", status_code=201, response_model=PasskeyPublic,
             summary="Finish adding a passkey")
async def add_passkey(body: PasskeyAnswer, runtime: RuntimeDep, caller: CallerDep) -> dict:
    row = await runtime.accounts.finish_add(caller, body.ceremony, body.credential)
    return _times(passkey_public(row))


@router.delete("/accounts/me/passkeys/{passkey_id}", status_code=204, response_class=Response,
               summary="Remove one of your passkeys")
async def remove_passkey(passkey_id: Annotated[str, UrlPath(max_length=16)],
                         runtime: RuntimeDep, caller: CallerDep) -> Response:
    await runtime.accounts.remove_passkey(caller, passkey_id)
    return Response(status_code=204)


@router.post("/accounts/me/recovery-codes", status_code=201, response_model=RecoveryCodes,
             summary="New recovery codes (the unused old ones stop working)")
async def new_recovery_codes(runtime: RuntimeDep, caller: CallerDep) -> dict:
    return {"recovery_codes": await runtime.accounts.new_recovery_codes(caller.id)}


@router.delete("/accounts/me/sessions/{session_id}", status_code=204, response_class=Response,
               summary="Sign one of your sessions out (another browser, say)")
async def end_session(session_id: Annotated[str, UrlPath(max_length=16)], runtime: RuntimeDep,
                      caller: CallerDep) -> Response:
    await runtime.accounts.sessions.revoke(caller.id, session_id)
    return Response(status_code=204)


@router.post("/invitations", status_code=201, response_model=InvitationCreated,
             summary="Invite a member of staff or a terminal (a one-time link)")
async def invite(body: InvitationCreate, request: Request, runtime: RuntimeDep,
                 caller: CallerDep) -> dict:
    row, token = await runtime.accounts.invitations.create(
        caller, body.kind, body.name, timedelta(hours=body.valid_hours))
    return _times(accounts_invitations.public(row)) | {
        "url": f"{origin(request, runtime.settings)}/join/{token}"}


@router.get("/invitations", response_model=InvitationList,
            summary="Your invitations (a merchant's), newest first")
async def invitations(runtime: RuntimeDep, caller: CallerDep) -> dict:
    rows = await runtime.accounts.invitations.of_merchant(caller.id)
    return {"items": [_times(accounts_invitations.public(r)) for r in rows]}


@router.delete("/invitations/{invitation_id}", response_model=InvitationPublic,
               summary="Revoke an open invitation")
async def revoke_invitation(invitation_id: Annotated[str, UrlPath(max_length=16)],
                            runtime: RuntimeDep, caller: CallerDep) -> dict:
    row = await runtime.accounts.invitations.revoke(caller, invitation_id)
    return _times(accounts_invitations.public(row))
