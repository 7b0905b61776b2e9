"""The API keys page: one's keys listed, made and revoked (keys.js calls /v1/api-keys)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from couponchain.api.routes.pages import templates

router = APIRouter(include_in_schema=False)


@router.get("/keys", response_class=HTMLResponse)
async def keys_page(request: Request) -> HTMLResponse:
    return templates.TemplateResponse(request, "keys.html", {})
