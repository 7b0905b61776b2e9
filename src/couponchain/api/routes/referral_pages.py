"""Pages of peer-to-peer batch sales: originator console, product, purchase, holdings.

The console, the purchase page and the holdings page are shells that
`referrals*.js` fill through the JSON API with the signed-in participant's
key: the purchase page verifies its promotion link with the API before it
offers to buy. A product's public page is rendered here from the read models,
so it works without signing in.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from couponchain.api.bounds import bounded_router
from couponchain.api.deps import RuntimeDep
from couponchain.api.routes.pages import templates
from couponchain.api.routes.promotion_pages import token_amount
from couponchain.api.security_headers import IMPORT_MAP
from couponchain.domain.rebates import DEFAULT_PROMOTER_SHARE_BPS
from couponchain.errors import CouponChainError, InvalidInput
from couponchain.services import referral_views as views

router = bounded_router(include_in_schema=False)

_LARGEST_ID = 2**63 - 1
#: Longest link text the API accepts (see `LinkText` in routes/referrals.py).
_MAX_LINK = 400


def _product_number(text: str) -> int:
    """The product id in a page's path, or `InvalidInput` naming `id`."""
    number = int(text) if text.isdigit() and len(text) <= 19 else 0
    if not 1 <= number <= _LARGEST_ID:
        raise InvalidInput("a product id is a whole number from 1", field="id")
    return number


@router.get("/products", response_class=HTMLResponse)
async def products_console(request: Request, runtime: RuntimeDep) -> HTMLResponse:
    """The originator's console: register products, open and close batches (with
    their rebate terms, within the platform's bounds as the contract holds them), sales."""
    bounds = await runtime.referrals.rebate_bounds()
    share = min(max(DEFAULT_PROMOTER_SHARE_BPS, bounds.min_promoter_share_bps),
                bounds.max_promoter_share_bps)
    return templates.TemplateResponse(request, "referrals/console.html", {
        "max_rebate_bps": bounds.max_rebate_bps,
        "min_share_bps": bounds.min_promoter_share_bps,
        "max_share_bps": bounds.max_promoter_share_bps, "share_bps": share})


@router.get("/products/{product_id}", response_class=HTMLResponse)
async def product_page(request: Request, product_id: str, runtime: RuntimeDep) -> HTMLResponse:
    """A product's public page: on-chain identity, batches, and batch 1 purchases."""
    context: dict[str, Any] = {"product_id": product_id, "amount": token_amount,
                               "importmap": IMPORT_MAP}
    try:
        product = await views.product_detail(runtime.db, _product_number(product_id))
    except CouponChainError as exc:
        context["error"] = exc.message
        return templates.TemplateResponse(request, "referrals/product.html", context,
                                          status_code=exc.status)
    context.update(product=product, chain_id=runtime.chain_id,
                   contract=runtime.referrals.address)
    return templates.TemplateResponse(request, "referrals/product.html", context)


@router.get("/products/{product_id}/buy", response_class=HTMLResponse, response_model=None)
async def purchase_page(request: Request, product_id: str,
                        link: str | None = None) -> Response:
    """The purchase page a promotion link opens; referrals-buy.js verifies the link first.

    Without a link it is the product's page (batch 1 sells there without one).
    """
    try:
        number = _product_number(product_id)
    except CouponChainError as exc:
        return templates.TemplateResponse(request, "referrals/buy.html", {
            "error": exc.message}, status_code=exc.status)
    link = (link or "").strip()
    if not link:
        return RedirectResponse(f"/products/{number}", status_code=303)
    return templates.TemplateResponse(request, "referrals/buy.html", {
        "product_id": number, "link": link[:_MAX_LINK + 1], "importmap": IMPORT_MAP})


@router.get("/holdings", response_class=HTMLResponse)
async def holdings(request: Request) -> HTMLResponse:
    """A holder's page: units per product and batch, rebates, promotion links, payouts."""
    return templates.TemplateResponse(request, "referrals/holdings.html", {})
