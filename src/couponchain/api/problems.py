"""RFC 9457 problem details for every error the API returns."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException

from couponchain.errors import CouponChainError, DatabaseBusy

log = logging.getLogger(__name__)

TYPE_BASE = "https://couponchain.dev/problems/"
MEDIA_TYPE = "application/problem+json"


class FieldRule(BaseModel):
    field: str
    rule: str


class Problem(BaseModel):
    """An RFC 9457 problem: what went wrong, and which field broke which rule."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str
    field: str | None = None
    reason: str | None = None
    errors: list[FieldRule] | None = None


_STATUSES = {400: "Bad request", 401: "Not signed in (no or unknown API key)",
             403: "Not allowed for this caller", 404: "Not found",
             409: "Conflicts with the current state (or the contract refused it)",
             413: "Request too large", 422: "Input breaks a rule; `field` names it",
             429: "Too many writes; see Retry-After",
             503: "The chain or the database is unavailable; see Retry-After"}
#: The error answers every API operation documents (routers are included with them).
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"description": text, "model": Problem,
             "content": {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}}
    for status, text in _STATUSES.items()}


def problem(status: int, type_: str, title: str, detail: str, **extra: Any) -> JSONResponse:
    body = {"type": TYPE_BASE + type_, "title": title, "status": status, "detail": detail}
    body.update({k: v for k, v in extra.items() if v is not None})
    headers = {"Retry-After": "1"} if status == 503 else None
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def problem_of(exc: CouponChainError) -> JSONResponse:
    """The problem response of a domain error."""
    title = type(exc).__doc__ or type(exc).__name__
    return problem(exc.status, exc.type, title.strip().splitlines()[0], exc.message,
                   field=exc.field, reason=getattr(exc, "reason", None))


def _field(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def install(app: FastAPI) -> None:
    """Map every error to a problem response; nothing escapes as a bare 500."""

    @app.exception_handler(CouponChainError)
    async def _domain(_request: Request, exc: CouponChainError) -> JSONResponse:
        return problem_of(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"field": _field(tuple(e["loc"])), "rule": e["msg"]} for e in exc.errors()]
        first = errors[0] if errors else {"field": "body", "rule": "invalid"}
        return problem(422, "invalid-input", "Input breaks a rule",
                       f"{first['field']}: {first['rule']}", field=first["field"],
                       errors=errors)

    @app.exception_handler(HTTPException)
    async def _http(_request: Request, exc: HTTPException) -> JSONResponse:
        return problem(exc.status_code, "http", str(exc.detail), str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        if isinstance(exc, PoolTimeout):
            # Overload, not a fault (also raised in a middleware, which only this
            # handler sees): say so, 503 and retry later, instead of a bare 500.
            log.warning("database pool exhausted on %s %s", request.method, request.url.path)
            response = problem_of(DatabaseBusy(
                "every database connection stayed busy; retry in a moment "
                "(with the same Idempotency-Key for a write)"))
            response.headers["Retry-After"] = "1"
            return response
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem(500, "internal", "Internal error",
                       "the server failed; the request may be retried with its Idempotency-Key")
