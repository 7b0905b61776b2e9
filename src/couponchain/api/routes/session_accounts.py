"""Ways in for people, without an API key: passkey sign-up and sign-in, recovery codes.

Each ceremony takes two calls: `.../options` begins it (the server keeps the
challenge; the browser gets the options for `navigator.credentials`), and the
second sends the authenticator's answer with the ceremony's id. A verified
answer signs the browser in with the page session cookies (api/csrf.py). These
calls need no credential; a browser's cross-site request is refused.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path as UrlPath
from fastapi import Request, Response
from pydantic import BaseModel, Field

from couponchain.api.bounds import bounded_router
from couponchain.api.csrf import relying_party, same_origin, set_session_cookies
from couponchain.api.deps import RuntimeDep
from couponchain.api.inputs import Input
from couponchain.services.accounts import SignedIn
from couponchain.services.accounts_invitations import state

router = bounded_router(prefix="/v1", tags=["accounts"])


class SignUpBegin(Input):
    name: str | None = Field(default=None, min_length=1, max_length=100,
                             description="what to call you (an invitation may name you)")
    invitation: str | None = Field(default=None, min_length=8, max_length=100,
                                   description="the token of a merchant's invitation link")


class CeremonyOptions(BaseModel):
    ceremony: str = Field(description="send it back with the authenticator's answer")
    options: dict[str, Any] = Field(description="for navigator.credentials (WebAuthn JSON)")


class CeremonyAnswer(Input):
    ceremony: str = Field(min_length=1, max_length=32)
    credential: dict[str, Any] = Field(description="the PublicKeyCredential, as its toJSON()")
    device: str | None = Field(default=None, max_length=100,
                               description="a name for the passkey, e.g. 'my phone'")


class RecoveryCodeIn(Input):
    code: str = Field(min_length=8, max_length=40)


class ParticipantBrief(BaseModel):
    id: str
    role: str
    name: str


class SignedInPublic(BaseModel):
    participant: ParticipantBrief
    session_id: str
    recovery_codes: list[str] | None = Field(
        default=None, description="a new account's one-time codes: shown once, keep them")


class InvitationBrief(BaseModel):
    kind: str
    name: str
    merchant_name: str
    state: str


def _signed_in(request: Request, response: Response, runtime: Any,
               done: SignedIn) -> dict[str, Any]:
    set_session_cookies(response, request, runtime.settings, done.token)
    caller = done.caller
    return {"participant": {"id": caller.id, "role": caller.role.label, "name": caller.name},
            "session_id": done.session_id, "recovery_codes": done.recovery_codes}


@router.post("/accounts/sign-up/options", response_model=CeremonyOptions,
             summary="Begin signing up with a passkey (a consumer, or by invitation)")
async def sign_up_options(body: SignUpBegin, request: Request, runtime: RuntimeDep) -> dict:
    same_origin(request, runtime.settings)
    ceremony = await runtime.accounts.begin_sign_up(
        relying_party(request, runtime.settings), body.name, body.invitation)
    return {"ceremony": ceremony.id, "options": ceremony.options}


@router.post("/accounts/sign-up", status_code=201, response_model=SignedInPublic,
             summary="Finish signing up: the new passkey; signs the browser in")
async def sign_up(body: CeremonyAnswer, request: Request, response: Response,
                  runtime: RuntimeDep) -> dict:
    same_origin(request, runtime.settings)
    device = body.device or request.headers.get("user-agent", "")[:40] or "passkey"
    done = await runtime.accounts.finish_sign_up(body.ceremony, body.credential, device)
    return _signed_in(request, response, runtime, done)


@router.post("/accounts/sign-in/options", response_model=CeremonyOptions,
             summary="Begin signing in with a passkey")
async def sign_in_options(request: Request, runtime: RuntimeDep) -> dict:
    same_origin(request, runtime.settings)
    ceremony = await runtime.accounts.begin_sign_in(relying_party(request, runtime.settings))
    return {"ceremony": ceremony.id, "options": ceremony.options}


@router.post("/accounts/sign-in", response_model=SignedInPublic,
             summary="Finish signing in: the passkey's answer; signs the browser in")
async def sign_in(body: CeremonyAnswer, request: Request, response: Response,
                  runtime: RuntimeDep) -> dict:
    same_origin(request, runtime.settings)
    done = await runtime.accounts.finish_sign_in(body.ceremony, body.credential)
    return _signed_in(request, response, runtime, done)


@router.post("/accounts/recover", response_model=SignedInPublic,
             summary="Sign in with a one-time recovery code (then add a passkey)")
async def recover(body: RecoveryCodeIn, request: Request, response: Response,
                  runtime: RuntimeDep) -> dict:
    same_origin(request, runtime.settings)
    done = await runtime.accounts.recover(body.code)
    return _signed_in(request, response, runtime, done)


@router.get("/invitations/{token}", response_model=InvitationBrief,
            summary="What an invitation link invites to (for its page)")
async def invitation_brief(token: Annotated[str, UrlPath(min_length=8, max_length=100)],
                           runtime: RuntimeDep) -> dict:
    row = await runtime.accounts.invitations.find(token)
    merchant = await runtime.participants.caller(row.merchant_id)
    return {"kind": row.kind, "name": row.name, "merchant_name": merchant.name,
            "state": state(row)}
