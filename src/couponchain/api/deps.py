"""Typed dependencies shared by the routes."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request

from couponchain.api.audit_hook import STATE_KEY as AUDIT_STATE_KEY
from couponchain.api.csrf import CSRF_HEADER, SESSION_COOKIE, same_origin
from couponchain.api.idempotency import Idempotency
from couponchain.errors import Forbidden, ReadModelsBehind, Unauthorized
from couponchain.runtime import Runtime
from couponchain.services.credentials import API_KEY, SESSION, Grant, csrf_token
from couponchain.services.participants import Caller

# The dependencies are coroutines even where nothing is awaited: FastAPI runs a
# plain function dependency in a worker thread, a thread hop on every request
# (measured: most of a request's overhead outside its route under load).


async def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime  # type: ignore[no-any-return]


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]

#: Seconds a request waits for the read models to be whole again after a rewind.
REBUILD_WAIT = 10.0


async def read_models_whole(runtime: RuntimeDep) -> None:
    """Hold a request while the read models catch up after the chain changed under
    them (a restarted node): served then, they would miss rows (a 404 for an edition
    that exists) or show old counts. Past `REBUILD_WAIT`, a 503 to retry."""
    if not await runtime.indexer.whole(REBUILD_WAIT):
        raise ReadModelsBehind("the read models are catching up with the chain after it "
                               "changed; retry in a moment")


_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Auth:
    """Who is calling, and with which credential (an API key, or a page session)."""

    caller: Caller
    grant: Grant


async def get_auth(
    request: Request,
    runtime: RuntimeDep,
    authorization: Annotated[str | None, Header(description="Bearer <API key>")] = None,
) -> Auth:
    """The caller of an `Authorization: Bearer <API key>` header, or else of the page
    session cookie. A write through the cookie must carry the session's CSRF token
    in `X-CSRF-Token` (a page sends it; another site cannot read it), and come from
    the platform's own origin (api/csrf.py)."""
    participants = runtime.participants
    if authorization:
        scheme, _, value = authorization.partition(" ")
        key = value.strip() if scheme.lower() == "bearer" else None
        caller, grant = await participants.grant(key, API_KEY)
        return _seen(request, Auth(caller, grant))
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise Unauthorized("an API key is required: Authorization: Bearer <key>")
    caller, grant = await participants.grant(token, SESSION)
    if request.method not in _SAFE_METHODS:
        same_origin(request, runtime.settings)
        sent = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent.encode(), csrf_token(token).encode()):
            raise Forbidden("a write from a signed-in page needs the X-CSRF-Token header "
                            "(the value of the cc_csrf cookie)", field="X-CSRF-Token")
    return _seen(request, Auth(caller, grant))


def _seen(request: Request, auth: Auth) -> Auth:
    # The audit hook (api/audit_hook.py) records who made each write from here.
    setattr(request.state, AUDIT_STATE_KEY, auth)
    return auth


AuthDep = Annotated[Auth, Depends(get_auth)]


async def get_caller(auth: AuthDep) -> Caller:
    return auth.caller


CallerDep = Annotated[Caller, Depends(get_caller)]
IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", description="retries with the same key apply once"),
]


async def get_idempotency(request: Request) -> Idempotency:
    return request.app.state.idempotency  # type: ignore[no-any-return]


IdempotencyDep = Annotated[Idempotency, Depends(get_idempotency)]
