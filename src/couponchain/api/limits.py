"""Request guards: a request id on every log line, write rate limits.

`Guard` is plain ASGI middleware (streams such as the prize dashboard's
server-sent events pass through untouched):

- every request gets an id (a well-formed incoming `X-Request-ID` is kept),
  returned in the `X-Request-ID` header and attached to every log record
  written while the request runs (`RequestIdFilter`);
- writes (anything but GET, HEAD and OPTIONS) are limited per API key (or
  page session) by a token bucket (`rate` per second, bursts up to `burst`); over the limit the
  answer is 429 with `Retry-After`. Reads are not limited.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import time
import uuid
from contextvars import ContextVar
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from couponchain.api.problems import problem

REQUEST_ID: ContextVar[str] = ContextVar("couponchain_request_id", default="-")
_GOOD_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
#: Methods that carry no body to check and are not rate limited (api.bounds too).
READS = frozenset({"GET", "HEAD", "OPTIONS"})


class RequestIdFilter(logging.Filter):
    """Adds `request_id` (or "-" outside a request) to every log record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, request id, message (and error)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(), "logger": record.name,
            "request_id": getattr(record, "request_id", REQUEST_ID.get()),
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def _session(headers: dict[bytes, bytes]) -> bytes:
    """The page session cookie's value (a page's writes carry no Authorization
    header: without this, every signed-in page would share one bucket)."""
    for part in headers.get(b"cookie", b"").split(b";"):
        name, _, value = part.strip().partition(b"=")
        if name == b"cc_session":
            return value
    return b""


class _Bucket:
    __slots__ = ("tokens", "stamp")

    def __init__(self, burst: float, now: float) -> None:
        self.tokens = burst
        self.stamp = now


class Guard:
    """The ASGI middleware described in the module docstring."""

    def __init__(self, app: ASGIApp, *, rate: float, burst: int) -> None:
        self.app = app
        self.rate = rate
        self.burst = float(burst)
        self._buckets: dict[bytes, _Bucket] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        incoming = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _GOOD_ID.match(incoming) else uuid.uuid4().hex
        token = REQUEST_ID.set(request_id)
        id_header = (b"x-request-id", request_id.encode())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), id_header]
            await send(message)

        try:
            refusal = self._refusal(scope, headers)
            if refusal is not None:
                await refusal(scope, receive, send_with_id)
                return
            await self.app(scope, receive, send_with_id)
        finally:
            REQUEST_ID.reset(token)

    def _refusal(self, scope: Scope, headers: dict[bytes, bytes]) -> Any:
        if scope["method"] in READS or self.rate <= 0:
            return None
        key = hashlib.sha256(headers.get(b"authorization") or _session(headers)).digest()[:16]
        wait = self._take(key)
        if wait > 0:
            response = problem(429, "rate-limited", "Too many writes",
                               f"this API key may write {self.rate:g} times a second (bursts "
                               f"of {self.burst:g}); retry after {wait:.2f} s")
            response.headers["Retry-After"] = str(max(1, math.ceil(wait)))
            return response
        return None

    def _take(self, key: bytes) -> float:
        """Take one token; 0 when granted, else the seconds until one is free."""
        now = time.monotonic()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) > 100_000:  # forget idle keys rather than grow forever
                self._buckets.clear()
            bucket = self._buckets[key] = _Bucket(self.burst, now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.stamp) * self.rate)
        bucket.stamp = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) / self.rate
