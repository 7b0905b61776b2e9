"""The pages of accounts for people: sign up, the account (passkeys, recovery codes,
sessions, a merchant's invitations) and an invitation link's page. Sign-in is
`/signin` (api/routes/pages.py); passkeys.js and account.js drive the ceremonies."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path as UrlPath
from fastapi import Request
from fastapi.responses import HTMLResponse

from couponchain.api.bounds import bounded_router
from couponchain.api.csrf import safe_next
from couponchain.api.routes.pages import templates

router = bounded_router(include_in_schema=False)


@router.get("/signup", response_class=HTMLResponse)
async def signup_page(request: Request, next: str | None = None) -> HTMLResponse:  # noqa: A002
    return templates.TemplateResponse(request, "signup.html", {"next": safe_next(next)})


@router.get("/account", response_class=HTMLResponse)
async def account_page(request: Request) -> HTMLResponse:
    return templates.TemplateResponse(request, "account.html", {})


@router.get("/join/{token}", response_class=HTMLResponse)
async def join_page(request: Request,
                    token: Annotated[str, UrlPath(min_length=8, max_length=100)]) -> HTMLResponse:
    return templates.TemplateResponse(request, "join.html", {"token": token})
