"""Typed dependencies shared by the routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from couponchain.api.idempotency import Idempotency
from couponchain.errors import ReadModelsBehind
from couponchain.runtime import Runtime
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


async def get_caller(
    runtime: RuntimeDep,
    authorization: Annotated[str | None, Header(description="Bearer <API key>")] = None,
) -> Caller:
    key = None
    if authorization:
        scheme, _, value = authorization.partition(" ")
        key = value.strip() if scheme.lower() == "bearer" else None
    return await runtime.participants.authenticate(key)


CallerDep = Annotated[Caller, Depends(get_caller)]
IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", description="retries with the same key apply once"),
]


async def get_idempotency(request: Request) -> Idempotency:
    return request.app.state.idempotency  # type: ignore[no-any-return]


IdempotencyDep = Annotated[Idempotency, Depends(get_idempotency)]
