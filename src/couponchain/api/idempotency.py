"""Idempotency-Key handling for every write.

Same key and same payload: the stored response, whatever happened in between
(including a crash of this process). Same key, other payload: 422. Two requests
with one key at once: the second waits for the first. A key is scoped to the
caller, so two participants never collide.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import orjson
from fastapi.responses import JSONResponse
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from couponchain.api.problems import problem_of
from couponchain.chain.keys import KeyVault
from couponchain.errors import Conflict, CouponChainError, IdempotencyMismatch, InvalidInput
from couponchain.store.db import Database
from couponchain.store.models import IdempotencyRecord

# Short: the layers below are idempotent too (creation keys, op keys), so a retry that
# takes over the lease of a request still running converges on the same result.
LEASE_SECONDS = 5.0
MAX_KEY_LENGTH = 200

Handler = Callable[[], Awaitable[tuple[int, dict[str, Any]]]]


def _dumps(body: Any) -> bytes:
    """JSON of a stored response; orjson refuses integers beyond 64 bits (token amounts)."""
    try:
        return orjson.dumps(body)
    except TypeError:
        return json.dumps(body, separators=(",", ":")).encode()


def _loads(raw: bytes | memoryview) -> Any:
    """A stored response; the standard parser, as orjson reads integers beyond 64 bits
    as floats and a replay must answer what the first request did."""
    return json.loads(bytes(raw))


def request_hash(method: str, path: str, payload: Any) -> str:
    try:
        canonical = orjson.dumps([method, path, payload], option=orjson.OPT_SORT_KEYS)
    except TypeError:  # integers beyond 64 bits (token amounts) or lone surrogates
        canonical = json.dumps([method, path, payload], sort_keys=True,
                               separators=(",", ":")).encode()
    return hashlib.sha256(canonical).hexdigest()


def _lease(s: Session, *, scoped: str, fingerprint: str,
           now: float) -> tuple[int | None, bytes | None] | None:
    """Take the lease of key `scoped` (a `Database.write` work). None: the lease is
    taken; (status, encrypted body): the stored response; (None, None): the first
    request with this key is still running."""
    row = s.execute(select(IdempotencyRecord).where(IdempotencyRecord.key == scoped)).scalar()
    if row is None:
        s.add(IdempotencyRecord(key=scoped, request_hash=fingerprint,
                                locked_until=now + LEASE_SECONDS))
        return None
    if row.request_hash != fingerprint:
        raise IdempotencyMismatch("this Idempotency-Key was used with a different request",
                                  field="Idempotency-Key")
    if row.state == "done":
        assert row.response_body is not None
        return row.response_status, bytes(row.response_body)
    if row.locked_until < now:  # its first request died: take over
        row.locked_until = now + LEASE_SECONDS
        return None
    return None, None


class Idempotency:
    """Runs writes at most once per (caller, key)."""

    def __init__(self, db: Database, vault: KeyVault) -> None:
        self.db = db
        self.vault = vault

    async def run(
        self, caller_id: str, key: str | None, fingerprint: str, handler: Handler
    ) -> JSONResponse:
        if key is None:
            status, body = await handler()
            return JSONResponse(body, status_code=status)
        if not key or len(key) > MAX_KEY_LENGTH:
            raise InvalidInput(f"must be 1 to {MAX_KEY_LENGTH} characters",
                               field="Idempotency-Key")
        scoped = f"{caller_id}:{key}"
        stored = await self._claim(scoped, fingerprint)
        if stored is not None:
            return stored
        try:
            status, body = await handler()
        except CouponChainError as exc:
            if exc.status >= 500:
                await self._release(scoped)
                raise
            response = problem_of(exc)
            await self._store(scoped, response.status_code, _loads(response.body))
            return response
        except BaseException:
            await self._release(scoped)
            raise
        await self._store(scoped, status, body)
        return JSONResponse(body, status_code=status)

    async def _claim(self, scoped: str, fingerprint: str) -> JSONResponse | None:
        """Take the key's lease, or return the response stored under it."""
        deadline = time.monotonic() + LEASE_SECONDS * 2
        while True:
            try:  # group-committed with other writes, in the writer thread
                found = await self.db.write(partial(
                    _lease, scoped=scoped, fingerprint=fingerprint, now=time.time()))
            except IntegrityError:
                found = (None, None)  # another request inserted the key first; look again
            if found is None:
                return None
            status, stored = found
            if stored is not None:
                body = _loads(self.vault.decrypt(stored))
                media = ("application/problem+json" if status and status >= 400
                         else "application/json")
                return JSONResponse(body, status_code=status or 200, media_type=media)
            if time.monotonic() > deadline:
                raise Conflict("a request with this Idempotency-Key is still running",
                               field="Idempotency-Key")
            await asyncio.sleep(0.05)

    async def _store(self, scoped: str, status: int, body: dict[str, Any]) -> None:
        sealed = self.vault.encrypt(_dumps(body))
        await self.db.write(lambda s: s.execute(
            update(IdempotencyRecord).where(IdempotencyRecord.key == scoped)
            .values(state="done", response_status=status, response_body=sealed)))

    async def _release(self, scoped: str) -> None:
        await self.db.write(lambda s: s.execute(delete(IdempotencyRecord).where(
            IdempotencyRecord.key == scoped, IdempotencyRecord.state == "pending")))


async def write(idem: Idempotency, caller_id: str, key: str | None, request: Any, payload: Any,
                handler: Callable[[], Awaitable[dict[str, Any]]],
                status: int = 200) -> JSONResponse:
    """Run a write route's handler once per Idempotency-Key; `payload` fingerprints it."""
    fingerprint = request_hash(request.method, request.url.path, payload)

    async def run() -> tuple[int, dict[str, Any]]:
        return status, await handler()

    return await idem.run(caller_id, key, fingerprint, run)
