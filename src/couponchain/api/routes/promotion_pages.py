"""Pages of the promotion coupons: platform console, merchant till, consumer wallet.

The console, the till and the wallet are shells that `promotions.js` fills
through the JSON API with the signed-in participant's key; a coupon's public
page is rendered here from the read models, so it works without signing in.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from couponchain.api.bounds import bounded_router
from couponchain.api.deps import RuntimeDep
from couponchain.api.routes.pages import templates
from couponchain.api.security_headers import IMPORT_MAP
from couponchain.errors import CouponChainError, InvalidInput
from couponchain.services import promotion_views as views
from couponchain.services.participant_names import names_by_address
from couponchain.web.money import format_amount

router = bounded_router(include_in_schema=False)

_LARGEST_ID = 2**63 - 1


def token_amount(units: int | None) -> str:
    """An amount in the smallest unit as CCC text, e.g. 1250000 -> "1.250000 CCC"
    (the pages' one formatter, web/money.py; templates may use its `amount` filter)."""
    return format_amount(units)


@router.get("/promotions", response_class=HTMLResponse)
async def promotions_console(request: Request) -> HTMLResponse:
    """The platform's console: evaluate and open rounds, allocate them to merchants."""
    return templates.TemplateResponse(request, "promotions/console.html", {})


@router.get("/promotions/merchant", response_class=HTMLResponse)
async def promotions_merchant(request: Request) -> HTMLResponse:
    """A merchant's or terminal's till: grant, scan consent codes, write off, reverse."""
    return templates.TemplateResponse(request, "promotions/merchant.html", {})


@router.get("/wallet", response_class=HTMLResponse)
async def wallet(request: Request) -> HTMLResponse:
    """A consumer's wallet: coupons, consent QR, transfers and payouts."""
    return templates.TemplateResponse(request, "promotions/wallet.html",
                                      {"importmap": IMPORT_MAP})


@router.get("/promotion-coupons", response_class=HTMLResponse, response_model=None)
async def promotion_coupon_lookup(request: Request, id: str | None = None) -> Response:  # noqa: A002
    """A lookup form; with `?id=` it goes to that coupon's page."""
    if id and id.strip().isdigit():
        return RedirectResponse(f"/promotion-coupons/{int(id.strip())}", status_code=303)
    return templates.TemplateResponse(request, "promotions/coupon.html", {
        "coupon_id": id, "error": "a coupon id is a whole number" if id else None})


@router.get("/promotion-coupons/{coupon_id}", response_class=HTMLResponse)
async def promotion_coupon_page(request: Request, coupon_id: str,
                                runtime: RuntimeDep) -> HTMLResponse:
    """A promotion coupon's public page: status, pool, the round's shares and its path."""
    context: dict[str, Any] = {"coupon_id": coupon_id, "amount": token_amount}
    try:
        number = int(coupon_id) if coupon_id.isdigit() else 0
        if not 1 <= number <= _LARGEST_ID:
            raise InvalidInput("a coupon id is a whole number from 1", field="id")
        coupon = await views.coupon_detail(runtime.db, number)
        round_ = await views.round_detail(runtime.db, coupon["round_id"])
    except CouponChainError as exc:
        context["error"] = exc.message
        return templates.TemplateResponse(request, "promotions/coupon.html", context,
                                          status_code=exc.status)
    people = [coupon.get("holder"), *(p.get(k) for p in coupon.get("path") or ()
                                      for k in ("from", "to", "by"))]
    context.update(coupon=coupon, round=round_,
                   names=await names_by_address(runtime.db, people))
    return templates.TemplateResponse(request, "promotions/coupon.html", context)
