"""Pages of the marketing capability: a merchant's storefront, inbox and dashboard.

The storefront is rendered here from the marketing-info read model, so it
shows the version published on chain the moment it is indexed, without
signing in, and the reports the merchant's rules have made due but nobody
published (`services/marketing_overdue.py`). The inbox is a shell that
`marketing.js` (reports, chart, report detail) and `marketing-editor.js`
(reporting rules, webhook, marketing info) fill through the JSON API with
the signed-in merchant's key; the dashboard (`/marketing`) is one that
`marketing-dashboard.js` fills with charts of the activity endpoint (visits
over time, by access method, the claim funnel).
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from couponchain.api.bounds import bounded_router
from couponchain.api.deps import RuntimeDep
from couponchain.api.routes.pages import templates
from couponchain.errors import CouponChainError
from couponchain.services import marketing_overdue
from couponchain.services import marketing_views as views
from couponchain.services.marketing import merchant_of

router = bounded_router(include_in_schema=False)


@router.get("/merchants/{merchant_id}/storefront", response_class=HTMLResponse)
async def storefront(request: Request, merchant_id: str, runtime: RuntimeDep) -> HTMLResponse:
    """A merchant's current marketing info, with the chain evidence of its version."""
    context: dict[str, Any] = {"merchant_id": merchant_id}
    try:
        merchant = await merchant_of(runtime, merchant_id)
    except CouponChainError as exc:
        context["error"] = exc.message
        return templates.TemplateResponse(request, "marketing/storefront.html", context,
                                          status_code=exc.status)
    info = await views.marketing_info(runtime.db, merchant.address)
    overdue = await marketing_overdue.overdue(runtime.db, merchant.address, limit=20)
    context.update(merchant=merchant, info=info["current"], versions=len(info["history"]),
                   overdue=overdue)
    return templates.TemplateResponse(request, "marketing/storefront.html", context)


@router.get("/inbox", response_class=HTMLResponse)
async def inbox(request: Request) -> HTMLResponse:
    """The signed-in merchant's reports and chart, and its rules, webhook and info editors."""
    return templates.TemplateResponse(request, "marketing/inbox.html", {})


@router.get("/marketing", response_class=HTMLResponse)
async def dashboard(request: Request) -> HTMLResponse:
    """The signed-in merchant's marketing dashboard (charts drawn by `marketing-dashboard.js`)."""
    return templates.TemplateResponse(request, "marketing/dashboard.html", {})
