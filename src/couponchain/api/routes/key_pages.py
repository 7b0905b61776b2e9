"""The API keys page: one's keys listed, made and revoked (keys.js calls /v1/api-keys)."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import HTMLResponse

from couponchain.api.bounds import bounded_router
from couponchain.api.routes.pages import templates

router = bounded_router(include_in_schema=False)


@router.get("/keys", response_class=HTMLResponse)
async def keys_page(request: Request) -> HTMLResponse:
    return templates.TemplateResponse(request, "keys.html", {})
