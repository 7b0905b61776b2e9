"""Pages of prize write-off: merchant campaigns, live dashboard, consumer codes, terminal.

Every page is a shell that `prizes*.js` fills through the JSON API with the
signed-in participant's key (kept in the browser, see app.js). The merchant's
campaign page also needs the merchant's own terminals and campaigns, which the
public API does not list yet; `console.json` serves exactly that to the
signed-in merchant, read from the participants table and the read models.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select

from couponchain.api.bounds import bounded_router
from couponchain.api.deps import CallerDep, RuntimeDep
from couponchain.api.routes.pages import templates
from couponchain.api.security_headers import IMPORT_MAP
from couponchain.domain.roles import Role
from couponchain.errors import Forbidden
from couponchain.services.prize_views import iso
from couponchain.store.models import Participant, PrizeCampaign

router = bounded_router(include_in_schema=False)

_LARGEST_ID = 2**63 - 1
#: Newest campaigns the console lists.
CONSOLE_CAMPAIGNS = 200


@router.get("/prizes", response_class=HTMLResponse)
async def prizes_console(request: Request) -> HTMLResponse:
    """A merchant's prize campaigns: create one, award its prizes, open its dashboard."""
    return templates.TemplateResponse(request, "prizes/console.html", {})


@router.get("/prizes/console.json")
async def prizes_console_data(runtime: RuntimeDep, caller: CallerDep) -> dict[str, Any]:
    """The signed-in merchant's terminals and newest campaigns, for the console's forms."""
    if caller.role != Role.MERCHANT:
        raise Forbidden("only a merchant has prize campaigns")
    async with runtime.db.session() as s:
        terminals = (await s.execute(
            select(Participant).where(Participant.merchant_id == caller.id,
                                      Participant.role == int(Role.TERMINAL))
            .order_by(Participant.name, Participant.id))).scalars().all()
        campaigns = (await s.execute(
            select(PrizeCampaign).where(PrizeCampaign.merchant == caller.address)
            .order_by(PrizeCampaign.id.desc()).limit(CONSOLE_CAMPAIGNS))).scalars().all()
    return {
        "terminals": [{"id": t.id, "name": t.name, "address": t.address} for t in terminals],
        "campaigns": [{"id": c.id, "title": c.title, "starts_at": iso(c.starts),
                       "ends_at": iso(c.ends), "awarded": c.awarded, "claimed": c.claimed,
                       "all_terminals": c.all_terminals, "terminals": len(c.terminals)}
                      for c in campaigns],
    }


@router.get("/prizes/{campaign_id}", response_class=HTMLResponse)
async def prize_dashboard(request: Request, campaign_id: str) -> HTMLResponse:
    """A campaign's live dashboard: claims by terminal and over time, stock per prize."""
    number = int(campaign_id) if campaign_id.isdigit() and len(campaign_id) <= 19 else 0
    if not 1 <= number <= _LARGEST_ID:
        return templates.TemplateResponse(
            request, "prizes/dashboard.html",
            {"campaign_id": None, "error": "a campaign id is a whole number from 1"},
            status_code=404)
    return templates.TemplateResponse(request, "prizes/dashboard.html",
                                      {"campaign_id": number})


@router.get("/my-prizes", response_class=HTMLResponse)
async def my_prizes(request: Request) -> HTMLResponse:
    """A consumer's prizes: each unclaimed one as a rotating QR code for the terminal."""
    return templates.TemplateResponse(request, "prizes/mine.html", {})


@router.get("/terminal", response_class=HTMLResponse)
async def terminal(request: Request) -> HTMLResponse:
    """A store terminal: scan a prize code, see every condition, confirm the claim."""
    return templates.TemplateResponse(request, "prizes/terminal.html",
                                      {"importmap": IMPORT_MAP})
