"""The audit log: a merchant's own entries, the platform's view of all (issue 25).

Entries are written by `api/audit_hook.py` for every authenticated write and
listed with the shared list mechanism (search, status and date filters, cursor
paging, CSV export). The page (`/audit`) is a shell that `lists.js` fills.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, Request
from fastapi.responses import HTMLResponse, StreamingResponse
from pydantic import BaseModel, Field

from couponchain.api import lists
from couponchain.api.bounds import bounded_router
from couponchain.api.deps import CallerDep, RuntimeDep
from couponchain.api.lists import ListParamsDep
from couponchain.api.routes.pages import templates
from couponchain.services import audit as audit_log

router = bounded_router(prefix="/v1", tags=["audit"])
pages = bounded_router(include_in_schema=False)


class AuditEntryOut(BaseModel):
    id: int
    at: str = Field(description="when the request was answered (UTC)")
    merchant_id: str | None = Field(description="the merchant the caller acts for")
    participant_id: str
    role: str
    credential_id: str = Field(description="the API key's or page session's id")
    credential_kind: str = Field(description="api_key or session")
    method: str
    path: str
    operation: str = Field(description="the API operation (its route's name)")
    status: int = Field(description="the HTTP status of the answer")
    tx_hash: str | None = Field(description="the chain transaction of the write, if any")
    block_number: int | None
    op_key: str | None = Field(description="the operation's key: caller id and "
                                           "Idempotency-Key")


class AuditPage(BaseModel):
    entries: list[AuditEntryOut]
    next_cursor: int | None = Field(description="pass as `cursor` for the next page")


@router.get("/audit-log", response_model=AuditPage,
            responses=lists.CSV_RESPONSE,
            summary="Who did what, when, with the chain evidence (a merchant: its own; "
                    "the platform: all)")
async def list_audit_log(
    runtime: RuntimeDep, caller: CallerDep, params: ListParamsDep,
    merchant: Annotated[str | None, Query(max_length=32,
                                          description="one merchant's entries")] = None,
) -> dict[str, Any] | StreamingResponse:
    base = audit_log.scope(caller, merchant)
    return await lists.respond(runtime.db, audit_log.SPEC, base, params, "entries")


@pages.get("/audit", response_class=HTMLResponse)
async def audit_page(request: Request) -> HTMLResponse:
    """The audit log page; the signed-in merchant's or platform's key fills it."""
    return templates.TemplateResponse(request, "audit.html", {})
