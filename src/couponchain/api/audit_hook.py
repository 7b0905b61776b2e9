"""The one hook that writes the audit log: every write request (not GET, HEAD or
OPTIONS) under /v1 whose caller was authenticated leaves an entry with the
operation, the answer's status and the chain evidence the answer carried.

It is ASGI middleware, so no route can forget it; the caller comes from
`deps.get_auth`, which leaves it on the request's state. The answer is copied
(up to `MAX_BODY` bytes) only to read its `tx_hash` and `block_number`.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from couponchain.services import audit

log = logging.getLogger(__name__)
_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})
#: Answers longer than this are not searched for evidence (a bulk import's list).
MAX_BODY = 256 * 1024
#: Where the authenticated caller is left on the request's state.
STATE_KEY = "audit_auth"


class AuditHook:
    """ASGI middleware recording one audit entry per authenticated write."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != "http" or scope["method"] in _SAFE
                or not scope["path"].startswith("/v1/")):
            await self.app(scope, receive, send)
            return
        seen: dict[str, Any] = {"status": 500, "body": bytearray()}

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                seen["status"] = message["status"]
            elif message["type"] == "http.response.body" and len(seen["body"]) < MAX_BODY:
                seen["body"] += message.get("body", b"")
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            auth = scope.get("state", {}).get(STATE_KEY)
            if auth is not None:
                await self._record(scope, auth, seen["status"], bytes(seen["body"]))

    async def _record(self, scope: Scope, auth: Any, status: int, body: bytes) -> None:
        tx_hash, block = _evidence(body)
        route = scope.get("route")
        endpoint = scope.get("endpoint")
        operation = (getattr(route, "name", None) or getattr(endpoint, "__name__", None)
                     or scope["path"])
        headers = dict(scope.get("headers") or [])
        key = headers.get(b"idempotency-key")
        written = audit.Written(
            auth.caller, auth.grant.credential_id, auth.grant.kind, scope["method"],
            scope["path"], operation, status, tx_hash, block,
            None if key is None else f"{auth.caller.id}:{key.decode('latin-1')}")
        try:
            await audit.record(scope["app"].state.runtime.db, written)
        except Exception:  # the write itself is done; a lost entry is logged, not a 500
            log.exception("audit entry not recorded for %s %s", scope["method"], scope["path"])


def _evidence(body: bytes) -> tuple[str | None, int | None]:
    """The first `tx_hash` (and its `block_number`) in a JSON answer, breadth first."""
    try:
        value = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        return None, None
    queue = [value]
    while queue:
        item = queue.pop(0)
        if isinstance(item, dict):
            tx = item.get("tx_hash")
            if isinstance(tx, str):
                block = item.get("block_number")
                return tx, block if isinstance(block, int) else None
            queue.extend(v for v in item.values() if isinstance(v, (dict, list)))
        elif isinstance(item, list):
            queue.extend(item[:50])
    return None, None
