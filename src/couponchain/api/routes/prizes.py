"""Prize campaigns, awards, rotating codes, scans, claims and the live view (DESIGN §6)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

import orjson
from fastapi import Path, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field

from couponchain.api.bounds import body_limits, bounded_router
from couponchain.api.deps import CallerDep, IdempotencyDep, IdempotencyKey, RuntimeDep
from couponchain.api.idempotency import write
from couponchain.api.inputs import ChainTime, Input, epoch
from couponchain.runtime import Runtime
from couponchain.services import prize_views as views
from couponchain.services.prize_claims import SYNC_MAX
from couponchain.services.prizes import (
    AWARD_REQUEST_MAX,
    MAX_PRIZES,
    MAX_QUANTITY,
    MAX_TERMINALS,
    REASON_MAX,
    CampaignRequest,
)

router = bounded_router(prefix="/v1", tags=["prizes"])

#: Seconds between heartbeats of a live stream (proxies drop silent connections).
HEARTBEAT_SECONDS = 15.0

Participant = Annotated[str, Field(min_length=1, max_length=42,
                                   description="a participant id or a chain address")]
CampaignId = Annotated[int, Path(ge=1, le=2**63 - 1, description="the prize campaign id")]
AwardId = Annotated[int, Path(ge=1, le=2**63 - 1, description="the prize award id")]
ClaimId = Annotated[int, Path(ge=1, le=2**63 - 1, description="the prize claim id")]
Code = Annotated[str, Field(min_length=1, max_length=400,
                            description="the scanned code text (CCPZ2.…)")]


class PrizeIn(Input):
    name: str = Field(min_length=1, max_length=32, description="1-32 bytes of UTF-8")
    quantity: int = Field(ge=1, le=MAX_QUANTITY)


class AwardRevoke(Input):
    reason: str = Field(min_length=1, max_length=REASON_MAX,
                        description="why the award is withdrawn; kept off chain (the "
                                    "contract's AwardRevoked event has no reason) and "
                                    "shown with the award")


class CampaignCreate(Input):
    title: str = Field(min_length=1, max_length=64)
    prizes: list[PrizeIn] = Field(min_length=1, max_length=MAX_PRIZES)
    terminals: list[Participant] = Field(
        default=[], max_length=MAX_TERMINALS,
        description="the merchant's terminals that may hand prizes out")
    all_terminals: bool = Field(default=False,
                                description="every terminal of the merchant, present and future")
    starts_at: ChainTime | None = Field(default=None, description="default: now")
    ends_at: ChainTime
    per_consumer_limit: int = Field(default=1, ge=1, le=MAX_QUANTITY)

    def request(self) -> CampaignRequest:
        return CampaignRequest(
            title=self.title, prizes=[(p.name, p.quantity) for p in self.prizes],
            terminals=self.terminals, all_terminals=self.all_terminals,
            starts=None if self.starts_at is None else epoch(self.starts_at),
            ends=epoch(self.ends_at), per_consumer_limit=self.per_consumer_limit)


class AwardIn(Input):
    consumer: Participant
    prize_index: int = Field(default=0, ge=0, lt=MAX_PRIZES)


class AwardsCreate(Input):
    awards: list[AwardIn] = Field(min_length=1, max_length=AWARD_REQUEST_MAX)


class ScanCreate(Input):
    code: Code


class ClaimCreate(Input):
    scan_id: str = Field(min_length=1, max_length=32, description="from POST /v1/prize-scans")


class QueuedClaim(Input):
    code: Code
    scanned_at: ChainTime = Field(description="when the offline terminal scanned it")


class SyncCreate(Input):
    claims: list[QueuedClaim] = Field(min_length=1, max_length=SYNC_MAX)


class TerminalOut(BaseModel):
    address: str
    id: str | None
    name: str | None


class PrizeOut(BaseModel):
    index: int
    name: str
    quantity: int
    awarded: int = Field(description="live awards, claimed ones included")
    claimed: int
    revoked: int
    unawarded: int
    left: int = Field(description="units not yet handed out")


class CampaignOut(BaseModel):
    id: int
    title: str
    merchant: str
    merchant_id: str | None
    all_terminals: bool
    terminals: list[TerminalOut]
    starts_at: str
    ends_at: str
    open: bool
    per_consumer_limit: int
    awarded: int
    claimed: int
    revoked: int
    prizes: list[PrizeOut]
    created_at: str
    created_block: int
    created_tx: str
    code_signer: str = Field(description="the address that signs this platform's prize codes")


class CampaignWritten(CampaignOut):
    tx_hash: str
    block_number: int


class AwardMade(BaseModel):
    id: int
    consumer: str
    prize_index: int
    prize_name: str


class Awarded(BaseModel):
    campaign_id: int
    awarded: int
    awards: list[AwardMade]
    transactions: list[str]
    tx_hash: str
    block_number: int


class AwardOut(BaseModel):
    id: int
    campaign_id: int
    campaign_title: str | None
    consumer: str
    prize_index: int
    prize_name: str | None
    status: Literal["awarded", "claimed", "revoked"]
    claim_starts_at: str | None
    claim_ends_at: str | None
    awarded_at: str
    awarded_block: int
    awarded_tx: str
    claimed_at: str | None
    claimed_by: str | None
    claim_tx: str | None
    revoked_reason: str | None = Field(
        description="the merchant's reason, kept off chain (revoked awards)")
    revoked_at: str | None
    revoke_tx: str | None
    consumer_id: str | None = Field(default=None, description="the winner's participant id "
                                                              "(in lists)")
    consumer_name: str | None = Field(default=None, description="the winner's name (in lists)")


class AwardRevoked(AwardOut):
    tx_hash: str
    block_number: int


class AwardPage(BaseModel):
    awards: list[AwardOut]
    next_cursor: int | None


class CodeOut(BaseModel):
    award_id: int
    code: str = Field(description="show it as a QR; accepted once, until expires_at")
    nonce: str
    issued_at: str
    expiry: int
    expires_at: str
    refresh_in_seconds: int = Field(description="fetch a fresh code after this many seconds")
    signer: str
    qr_svg: str = Field(description="the code as an SVG data URI")


class SignerOut(BaseModel):
    address: str
    key_id: str
    scheme: str
    signing_tag: str
    prefix: str
    max_lifetime_seconds: int
    clock_skew_seconds: int


class ConditionOut(BaseModel):
    name: Literal["signature", "not_expired", "not_claimed", "terminal_eligible",
                  "inside_window", "per_consumer_limit", "stock_left",
                  "winner_signed"]
    ok: bool | None = Field(description="null: not checked (an earlier condition failed)")
    reason: str


class CodeSeen(BaseModel):
    award_id: int
    consumer: str
    issued_at: str
    expires_at: str
    nonce: str


class CampaignBrief(BaseModel):
    id: int
    title: str
    starts_at: str
    ends_at: str


class PrizeBrief(BaseModel):
    index: int
    name: str


class ScanOut(BaseModel):
    scan_id: str
    claimable: bool
    conditions: list[ConditionOut]
    problems: list[str]
    award: AwardOut | None = Field(description="the claim information (authentic codes only)")
    campaign: CampaignBrief | None
    prize: PrizeBrief | None
    code: CodeSeen
    scanned_at: str
    confirm_before: str | None


class ClaimOut(BaseModel):
    id: int
    award_id: int
    campaign_id: int
    prize_index: int
    prize_name: str
    consumer: str
    terminal: str
    terminal_id: str
    scan_id: str
    scan_result: list[ConditionOut]
    status: Literal["pending", "recorded", "refused"] = Field(
        description="pending: stored, on its way to the chain; recorded: on chain "
                    "(tx_hash, block_number); refused: the contract said no (refusal)")
    source: Literal["online", "offline"] = Field(
        description="offline: queued by a terminal without a connection and synced later; "
                    "its scan time is the terminal's word, bounded by the code's validity "
                    "and the offline window")
    claimed_at: str
    tx_hash: str | None
    block_number: int | None
    refusal: str | None = Field(description="the contract's reason, for a refused claim")


class CampaignClaim(ClaimOut):
    terminal_name: str | None
    consumer_id: str | None = None
    consumer_name: str | None = None
    scanned_offline_at: str | None = Field(
        description="an offline claim's scan time by the terminal's own clock (bounded by "
                    "the code's validity and the offline window); null when online")


class ClaimPage(BaseModel):
    claims: list[CampaignClaim]
    next_cursor: int | None = Field(description="pass as `cursor` for older claims")


class SyncItem(BaseModel):
    index: int = Field(description="the item's position in the request")
    status: Literal["claimed", "duplicate", "refused"]
    reason: str
    award_id: int | None
    scan_id: str | None
    conditions: list[ConditionOut] | None = None
    claim: ClaimOut | None = None


class SyncOut(BaseModel):
    results: list[SyncItem]
    claimed: int
    duplicates: int
    refused: int


class TerminalClaims(BaseModel):
    terminal: str
    terminal_id: str | None
    terminal_name: str | None
    claims: int


class MinuteClaims(BaseModel):
    at: str
    claims: int


class StatsOut(BaseModel):
    campaign_id: int
    title: str
    awarded: int
    claimed: int
    revoked: int
    pending_claims: int = Field(description="written, not yet confirmed on chain")
    offline_claims: int = Field(description="claims an offline terminal synced (source "
                                            "offline), refused ones not counted")
    claims_by_terminal: list[TerminalClaims]
    claims_per_minute: list[MinuteClaims]
    stock: list[PrizeOut]
    minute_seconds: int
    generated_at: str
    code_signer: str


@router.post("/prize-campaigns", status_code=201, response_model=CampaignWritten,
             summary="Create a prize campaign (merchant)")
async def create_campaign(body: CampaignCreate, request: Request, runtime: RuntimeDep,
                          caller: CallerDep, idem: IdempotencyDep,
                          key: IdempotencyKey = None) -> JSONResponse:
    return await write(idem, caller.id, key, request, body.model_dump(mode="json"),
                       lambda: runtime.prizes.create_campaign(caller, body.request(), key), 201)


@router.get("/prize-campaigns/{campaign_id}", response_model=CampaignOut,
            summary="A campaign: window, eligible terminals, stock per prize")
async def get_campaign(campaign_id: CampaignId, runtime: RuntimeDep) -> dict[str, Any]:
    return {**await views.campaign_detail(runtime.db, campaign_id),
            "code_signer": runtime.prizes.code_signer.address}


@router.post("/prize-campaigns/{campaign_id}/awards", status_code=201, response_model=Awarded,
             **body_limits(2 * 1024 * 1024, 5 * AWARD_REQUEST_MAX),
             summary="Award prizes to consumers, one or many (the campaign's merchant)")
async def award(campaign_id: CampaignId, body: AwardsCreate, request: Request,
                runtime: RuntimeDep, caller: CallerDep, idem: IdempotencyDep,
                key: IdempotencyKey = None) -> JSONResponse:
    awards = [(a.consumer, a.prize_index) for a in body.awards]
    return await write(idem, caller.id, key, request, body.model_dump(mode="json"),
                       lambda: runtime.prizes.award(caller, campaign_id, awards, key), 201)


@router.get("/prize-awards/{award_id}", response_model=AwardOut,
            summary="An award: prize, status and claim evidence")
async def get_award(award_id: AwardId, runtime: RuntimeDep) -> dict[str, Any]:
    return await views.award_detail(runtime.db, award_id)


@router.post("/prize-awards/{award_id}/revoke", response_model=AwardRevoked,
             summary="Revoke an unclaimed award (the campaign's merchant)")
async def revoke_award(award_id: AwardId, body: AwardRevoke, request: Request,
                       runtime: RuntimeDep, caller: CallerDep, idem: IdempotencyDep,
                       key: IdempotencyKey = None) -> JSONResponse:
    return await write(idem, caller.id, key, request, body.model_dump(mode="json"),
                       lambda: runtime.prizes.revoke(caller, award_id, body.reason, key), 200)


@router.get("/prize-awards/{award_id}/code", response_model=CodeOut,
            summary="A fresh rotating code for the prize (the winning consumer)")
async def award_code(award_id: AwardId, runtime: RuntimeDep, caller: CallerDep,
                     ) -> JSONResponse:
    body = await runtime.prizes.code(caller, award_id)
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


@router.get("/prize-codes/signer", response_model=SignerOut,
            summary="The key that signs prize codes, for offline verification at terminals")
async def code_signer(runtime: RuntimeDep) -> dict[str, Any]:
    return runtime.prizes.signer_public()


@router.post("/prize-scans", status_code=201, response_model=ScanOut,
             summary="Check a scanned code: claim information and each condition (terminal)")
async def scan(body: ScanCreate, request: Request, runtime: RuntimeDep, caller: CallerDep,
               idem: IdempotencyDep, key: IdempotencyKey = None) -> JSONResponse:
    return await write(idem, caller.id, key, request, body.model_dump(mode="json"),
                       lambda: runtime.prizes.scan(caller, body.code), 201)


@router.post("/prize-claims", status_code=201, response_model=ClaimOut,
             summary="Confirm a successful scan: the claim is stored (answered then) and "
                     "put on chain right after (terminal)")
async def claim(body: ClaimCreate, request: Request, runtime: RuntimeDep, caller: CallerDep,
                idem: IdempotencyDep, key: IdempotencyKey = None) -> JSONResponse:
    return await write(idem, caller.id, key, request, body.model_dump(mode="json"),
                       lambda: runtime.prizes.claim(caller, body.scan_id, key), 201)


@router.get("/prize-claims/{claim_id}", response_model=ClaimOut,
            summary="A claim and whether the chain recorded it (the campaign's merchant, "
                    "its terminals, platform)")
async def get_claim(claim_id: ClaimId, runtime: RuntimeDep, caller: CallerDep,
                    ) -> dict[str, Any]:
    return await runtime.prizes.get_claim(caller, claim_id)


@router.post("/prize-claims:sync", response_model=SyncOut,
             summary="Reconcile an offline terminal's queued claims; first claim wins "
                     "(terminal)")
async def sync(body: SyncCreate, request: Request, runtime: RuntimeDep, caller: CallerDep,
               idem: IdempotencyDep, key: IdempotencyKey = None) -> JSONResponse:
    queued = [(c.code, epoch(c.scanned_at)) for c in body.claims]
    return await write(idem, caller.id, key, request, body.model_dump(mode="json"),
                       lambda: runtime.prizes.sync(caller, queued))


@router.get("/prize-campaigns/{campaign_id}/stats", response_model=StatsOut,
            summary="Claims by terminal and per minute, stock per prize (merchant, platform)")
async def stats(campaign_id: CampaignId, runtime: RuntimeDep,
                caller: CallerDep) -> dict[str, Any]:
    return await runtime.prizes.stats(caller, campaign_id)  # type: ignore[no-any-return]


@router.get("/prize-campaigns/{campaign_id}/live",
            response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}},
                             "description": "`stats` events (the stats JSON) on every "
                                            "change, a comment as heartbeat"}},
            summary="Server-sent events: the stats, pushed whenever a claim lands "
                    "(merchant, platform)")
async def live(campaign_id: CampaignId, request: Request, runtime: RuntimeDep,
               caller: CallerDep) -> StreamingResponse:
    await runtime.prizes.check_watcher(caller, campaign_id)
    return StreamingResponse(_events(runtime, campaign_id, request),
                             media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


async def _events(runtime: Runtime, campaign_id: int, request: Request) -> AsyncIterator[bytes]:
    """The stats now and after every change; ends on disconnect or when the runtime stops."""
    signals = runtime.prizes.signals
    yield b"retry: 3000\n\n"
    while not signals.closed.is_set():
        changed = signals.current(campaign_id)  # taken first: no change slips between
        body = await runtime.prizes.stats(runtime.platform.caller, campaign_id)
        yield b"event: stats\ndata: " + orjson.dumps(body) + b"\n\n"
        while not changed.is_set():
            try:
                await asyncio.wait_for(changed.wait(), HEARTBEAT_SECONDS)
            except TimeoutError:
                if await request.is_disconnected():
                    return
                yield b": heartbeat\n\n"
        if await request.is_disconnected():
            return
    yield b"event: end\ndata: {}\n\n"
