"""The prize lists (issue 25): campaigns, a campaign's and a consumer's awards, a
campaign's claims; each searched, filtered by status and date, paged by cursor
and exported as CSV by the shared list mechanism (`api/lists.py`,
`services/list_specs_prizes.py`). The prizes' other routes are in `prizes.py`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any, Literal

from fastapi import Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from sqlalchemy import select

from couponchain.api import lists
from couponchain.api.bounds import bounded_router
from couponchain.api.deps import CallerDep, RuntimeDep
from couponchain.api.lists import ListParamsDep
from couponchain.api.routes.prizes import AwardPage, CampaignId, ClaimPage
from couponchain.domain.roles import Role
from couponchain.errors import Forbidden
from couponchain.services import list_specs_prizes as specs
from couponchain.store.models import PrizeAward, PrizeCampaign, PrizeClaim

router = bounded_router(prefix="/v1", tags=["prizes"])


class CampaignSummary(BaseModel):
    id: int
    title: str
    merchant: str
    merchant_id: str | None
    merchant_name: str | None
    status: Literal["upcoming", "open", "ended"]
    starts_at: str
    ends_at: str
    per_consumer_limit: int
    awarded: int
    claimed: int
    revoked: int
    all_terminals: bool
    terminals: int = Field(description="how many terminals are listed as eligible")
    created_at: str
    created_block: int
    created_tx: str


class CampaignPage(BaseModel):
    campaigns: list[CampaignSummary]
    next_cursor: int | None


@router.get("/prize-campaigns", response_model=CampaignPage, responses=lists.CSV_RESPONSE,
            summary="Prize campaigns, newest first (a merchant its own, the platform all): "
                    "search by number, title or merchant; status and date filters; CSV")
async def list_campaigns(runtime: RuntimeDep, caller: CallerDep, params: ListParamsDep,
                         ) -> dict[str, Any] | StreamingResponse:
    base = select(PrizeCampaign)
    if caller.role == Role.MERCHANT:
        base = base.where(PrizeCampaign.merchant == caller.address)
    elif caller.role != Role.PLATFORM:
        raise Forbidden("a merchant lists its own prize campaigns, the platform all of them")
    return await lists.respond(runtime.db, specs.campaigns(runtime.db), base, params,
                               "campaigns")


@router.get("/prize-campaigns/{campaign_id}/awards", response_model=AwardPage,
            responses=lists.CSV_RESPONSE,
            summary="A campaign's awards (its merchant or the platform): search by award "
                    "or winner; status and date filters; CSV")
async def campaign_awards(campaign_id: CampaignId, runtime: RuntimeDep, caller: CallerDep,
                          params: ListParamsDep) -> dict[str, Any] | StreamingResponse:
    await runtime.prizes.check_watcher(caller, campaign_id)
    base = select(PrizeAward).where(PrizeAward.campaign_id == campaign_id)
    return await lists.respond(runtime.db, specs.awards(runtime.db), base, params, "awards")


@router.get("/prize-awards", response_model=AwardPage, responses=lists.CSV_RESPONSE,
            summary="A consumer's prize awards: search, status and date filters, CSV")
async def list_awards(
    runtime: RuntimeDep, params: ListParamsDep,
    consumer: Annotated[str, Query(min_length=1, max_length=42,
                                   description="a participant id or address")],
    campaign_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
) -> dict[str, Any] | StreamingResponse:
    (address,) = await runtime.participants.addresses([consumer], ["consumer"])
    base = select(PrizeAward).where(PrizeAward.consumer == address)
    if campaign_id is not None:
        base = base.where(PrizeAward.campaign_id == campaign_id)
    return await lists.respond(runtime.db, specs.awards(runtime.db), base, params, "awards")


@router.get("/prize-campaigns/{campaign_id}/claims", response_model=ClaimPage,
            responses=lists.CSV_RESPONSE,
            summary="The campaign's claims, newest first; offline ones marked (merchant, "
                    "platform): search by claim, award, winner or terminal; status and "
                    "date filters; CSV")
async def campaign_claims(
    campaign_id: CampaignId, runtime: RuntimeDep, caller: CallerDep, params: ListParamsDep,
    before: Annotated[int | None, Query(ge=1, le=2**63 - 1, description=(
        "claims with a smaller id (the same as `cursor`, kept for older callers)"))] = None,
) -> dict[str, Any] | StreamingResponse:
    await runtime.prizes.check_watcher(caller, campaign_id)
    if before is not None and params.cursor is None:
        params = replace(params, cursor=str(before))
    base = select(PrizeClaim).where(PrizeClaim.campaign_id == campaign_id)
    return await lists.respond(runtime.db, specs.claims(runtime.db), base, params, "claims")
