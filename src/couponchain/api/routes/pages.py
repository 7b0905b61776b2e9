"""Server-rendered pages: sign in with an API key, a home per role, chain status."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import segno
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from couponchain.api.deps import RuntimeDep
from couponchain.chain import contracts
from couponchain.chain.proofs import verify_coupon_proof
from couponchain.domain.edition_slots import layout_from_compiler
from couponchain.errors import CouponChainError

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


@router.get("/coupons", response_class=HTMLResponse)
async def coupon_lookup(request: Request, runtime: RuntimeDep,
                        serial: str | None = None) -> HTMLResponse:
    if serial:
        return await coupon_page(request, serial.strip().upper(), runtime)
    return templates.TemplateResponse(request, "editions/coupon.html", {"serial": None})


@router.get("/coupons/{serial}", response_class=HTMLResponse)
async def coupon_page(request: Request, serial: str, runtime: RuntimeDep) -> HTMLResponse:
    """A coupon's public page; the badge is the outcome of checking its storage proofs."""
    context: dict[str, Any] = {"serial": serial, "api": str(request.base_url).rstrip("/")}
    try:
        coupon = await runtime.editions.coupon(serial)
        proof = await runtime.editions.proof(serial)
    except CouponChainError as exc:
        context["error"] = exc.message
        return templates.TemplateResponse(request, "editions/coupon.html", context,
                                          status_code=exc.status)
    trusted = await runtime.rpc.call("eth_getBlockByNumber", proof["block"]["number"], False)
    verdicts = verify_coupon_proof(proof, layout_from_compiler(contracts.layout("editions")),
                                   trusted_block=trusted)
    # The page shows the proven snapshot's counts, so badge and numbers agree.
    edition = {**coupon["edition"], **{k: proof["claims"][k] for k in
                                        ("sold", "voided", "redeemed")}}
    page_url = str(request.url_for("coupon_page", serial=coupon["serial"]))
    context.update(
        coupon=coupon, edition=edition, verified=all(v.ok for v in verdicts),
        failed=[v.claim for v in verdicts if not v.ok],
        block_number=int(proof["block"]["number"], 16),
        qr=segno.make(page_url, error="m").svg_data_uri(scale=4),
    )
    return templates.TemplateResponse(request, "editions/coupon.html", context)
