"""Server-rendered pages: sign in, a home per role, chain status, editions and coupons."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import FastAPI, Query, Request
from fastapi import Path as UrlPath
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

from couponchain.api.bounds import bounded_router
from couponchain.api.csrf import safe_next
from couponchain.api.deps import RuntimeDep
from couponchain.api.security_headers import IMPORT_MAP, PROOF_PAGE_POLICY
from couponchain.chain.node import node_dir
from couponchain.domain.edition_slots import CouponStatus
from couponchain.errors import CouponChainError
from couponchain.services import edition_views
from couponchain.services.editions import serial_text
from couponchain.services.participant_names import names_by_address
from couponchain.web import display, i18n, qr

if TYPE_CHECKING:
    from couponchain.runtime import Runtime

WEB = Path(__file__).resolve().parents[2] / "web"
# Every page router renders with this object, so each page gets the request's locale.
templates = i18n.LocalizedTemplates(env=i18n.template_environment(WEB / "templates"),
                                    context_processors=[i18n.page_context])
display.register(templates.env)

router = bounded_router(include_in_schema=False)
#: Coupons listed per page on an edition's public page.
PAGE_SIZE = 200


def mount_static(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=WEB / "static"), name="static")
    # The terminal page checks prize-code signatures offline with @noble/curves,
    # installed (not vendored) with the embedded node; absent, the page keeps the
    # server's check.
    for name, folder in noble_modules().items():
        app.mount(f"/vendor/noble-{name}", StaticFiles(directory=folder), name=f"noble-{name}")
    # The charts (uPlot) and Swagger UI come from the npm packages the set-up
    # installs beside the node, never from a CDN (ReDoc's bundle: routes/docs.py).
    for name, folder in vendor_bundles().items():
        app.mount(f"/vendor/{name}", StaticFiles(directory=folder), name=f"vendor-{name}")


#: The npm packages served under /vendor/<name>: the folder of each that holds its
#: browser bundles.
VENDOR_BUNDLES = {"uplot": Path("uplot") / "dist", "swagger-ui": Path("swagger-ui-dist")}


def vendor_bundles() -> dict[str, Path]:
    """The installed folders of `VENDOR_BUNDLES` (one missing is left out)."""
    modules = node_dir() / "node_modules"
    return {name: modules / sub for name, sub in VENDOR_BUNDLES.items()
            if (modules / sub).is_dir()}


def noble_modules() -> dict[str, Path]:
    """The ES module folders of @noble/curves and the @noble/hashes it uses."""
    noble = node_dir() / "node_modules" / "@noble"
    candidates = {"curves": [noble / "curves" / "esm"],
                  "hashes": [noble / "curves" / "node_modules" / "@noble" / "hashes" / "esm",
                             noble / "hashes" / "esm"]}
    found = {}
    for name, folders in candidates.items():
        folder = next((f for f in folders if f.is_dir()), None)
        if folder is not None:
            found[name] = folder
    return found


@router.get("/", response_class=HTMLResponse)
async def home(request: Request, runtime: RuntimeDep) -> HTMLResponse:
    return templates.TemplateResponse(request, "home.html", {
        "dev_mode": runtime.settings.dev_mode,
        "contracts": runtime.addresses, "chain_id": runtime.chain_id,
        "tour": runtime.demo_tour if runtime.settings.dev_mode else [],
    })


@router.get("/signin", response_class=HTMLResponse)
async def signin(request: Request, next: str | None = None) -> HTMLResponse:  # noqa: A002
    return templates.TemplateResponse(request, "signin.html", {"next": safe_next(next)})


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


def _badge(request: Request, runtime: Runtime, serial: str) -> dict[str, Any]:
    """What the page's proof badge (static/proof-badge.js) needs: the serial whose
    proofs it checks, the node offered by default and the import map of its modules.
    The server renders no verdict: the browser computes it from the proofs."""
    return {"badge_serial": serial, "default_node": runtime.settings.public_rpc_url or "",
            "importmap": IMPORT_MAP, "api": str(request.base_url).rstrip("/")}


def _proof_page(response: HTMLResponse) -> HTMLResponse:
    """The page's scripts may call the chain node the person chooses, on any origin."""
    response.headers["Content-Security-Policy"] = PROOF_PAGE_POLICY
    return response


@router.get("/coupons/{serial}", response_class=HTMLResponse)
async def coupon_page(request: Request, serial: str, runtime: RuntimeDep) -> HTMLResponse:
    """A coupon's public page; its badge is computed in the browser from the proofs."""
    context: dict[str, Any] = {"serial": serial, "api": str(request.base_url).rstrip("/")}
    try:
        coupon = await runtime.editions.coupon(serial)
    except CouponChainError as exc:
        context["error"] = exc.message
        return templates.TemplateResponse(request, "editions/coupon.html", context,
                                          status_code=exc.status)
    people = [coupon["owner"], coupon["edition"]["merchant"]]
    for step in coupon["history"]:
        people += [step.get("from"), step.get("to"), step.get("by")]
    context.update(coupon=coupon, edition=coupon["edition"],
                   names=await names_by_address(runtime.db, people),
                   qr=request.url_for("coupon_qr", serial=coupon["serial"]),
                   **_badge(request, runtime, coupon["serial"]))
    return _proof_page(templates.TemplateResponse(request, "editions/coupon.html", context))


@router.get("/coupons/{serial}/qr.png")
async def coupon_qr(request: Request, serial: str, runtime: RuntimeDep) -> Response:
    """A PNG QR code holding the absolute URL of the coupon's public page."""
    coupon = await runtime.editions.coupon(serial)  # 404 for a serial never sold
    page_url = str(request.url_for("coupon_page", serial=coupon["serial"]))
    return Response(qr.png(page_url), media_type="image/png",
                    headers={"cache-control": "public, max-age=86400"})


@router.get("/editions", response_class=HTMLResponse)
async def editions_console(request: Request) -> HTMLResponse:
    """The merchant console; editions.js fills it through the JSON API."""
    return templates.TemplateResponse(request, "editions/console.html", {})


@router.get("/editions/{edition_id}", response_class=HTMLResponse)
async def edition_page(request: Request, runtime: RuntimeDep,
                       edition_id: Annotated[int, UrlPath(ge=1, le=2**63 - 1)],
                       after: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0) -> HTMLResponse:
    """An edition's public page: declared cap against sold, redeemed and voided.

    When a coupon was sold, the page's badge checks the counters shown against the
    newest coupon's storage proofs, in the browser.
    """
    try:
        edition = await runtime.editions.get(edition_id)
    except CouponChainError as exc:
        return templates.TemplateResponse(request, "editions/edition.html",
                                          {"error": exc.message}, status_code=exc.status)
    context: dict[str, Any] = {"edition": edition}
    if edition["sold"]:  # the badge proves the counters with the newest coupon's proofs
        context.update(_badge(request, runtime, serial_text(edition["prefix"], edition["sold"])))
    rows = await edition_views.coupons_of(runtime.db, edition_id, PAGE_SIZE + 1, after)
    context["coupons"] = [{"serial": serial_text(edition["prefix"], r.serial),
                           "status": CouponStatus(r.status).name.lower(), "owner": r.owner}
                          for r in rows[:PAGE_SIZE]]
    context["next_after"] = rows[PAGE_SIZE - 1].serial if len(rows) > PAGE_SIZE else None
    context["names"] = await names_by_address(
        runtime.db, [edition["merchant"], *(c["owner"] for c in context["coupons"])])
    return _proof_page(templates.TemplateResponse(request, "editions/edition.html", context))
