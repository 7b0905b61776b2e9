"""Server-rendered pages: sign in with an API key, a home per role, chain status."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from couponchain.api.deps import RuntimeDep

WEB = Path(__file__).resolve().parents[2] / "web"
templates = Jinja2Templates(directory=WEB / "templates")

router = APIRouter(include_in_schema=False)


def mount_static(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=WEB / "static"), name="static")


@router.get("/", response_class=HTMLResponse)
async def home(request: Request, runtime: RuntimeDep) -> HTMLResponse:
    return templates.TemplateResponse(request, "home.html", {
        "dev_mode": runtime.settings.dev_mode,
        "contracts": runtime.addresses, "chain_id": runtime.chain_id,
    })


@router.get("/signin", response_class=HTMLResponse)
async def signin(request: Request) -> HTMLResponse:
    return templates.TemplateResponse(request, "signin.html", {})


@router.get("/me", response_class=HTMLResponse)
async def role_home(request: Request) -> HTMLResponse:
    return templates.TemplateResponse(request, "me.html", {})


@router.get("/status", response_class=HTMLResponse)
async def status(request: Request) -> HTMLResponse:
    return templates.TemplateResponse(request, "status.html", {})
