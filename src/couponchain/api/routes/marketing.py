"""Marketing: access logs, reporting rules, reports, webhooks, marketing info (DESIGN §6)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import Path, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import Field
from sqlalchemy import select

from couponchain.api import lists
from couponchain.api.bounds import MAX_BYTES, body_limits, bounded_router
from couponchain.api.deps import CallerDep, IdempotencyDep, IdempotencyKey, RuntimeDep
from couponchain.api.idempotency import write
from couponchain.api.inputs import ChainTime, Input, epoch
from couponchain.api.lists import ListParamsDep
from couponchain.domain.access_logs import MAX_BATCH_RECORDS
from couponchain.domain.indicators import MAX_RULES, MAX_TZ_OFFSET_MINUTES, MIN_TZ_OFFSET_MINUTES
from couponchain.domain.roles import Role
from couponchain.errors import Forbidden, InvalidInput
from couponchain.services import list_specs_prizes, marketing_overdue
from couponchain.services import marketing_views as views
from couponchain.services.marketing import MarketingInfoRequest, merchant_of
from couponchain.services.marketing_chain_activity import chain_activity
from couponchain.services.participants import Caller
from couponchain.store.models import MarketingReport

router = bounded_router(prefix="/v1", tags=["marketing"])

MerchantId = Annotated[str, Path(min_length=1, max_length=32, description="the merchant's id")]
BatchId = Annotated[int, Path(ge=1, le=2**63 - 1, description="the access-log batch id")]
ReportId = Annotated[int, Path(ge=1, le=2**63 - 1, description="the report id")]


class AccessLogsCreate(Input):
    records: list[dict[str, Any]] = Field(
        max_length=MAX_BATCH_RECORDS,
        description="each {ip, account?, time (epoch s), merchant (number), method "
                    "(browser|desktop|app), operation (view|search|click|share|claim|"
                    "redeem|purchase)}; the IP is stored only as a keyed hash")


class RulesPut(Input):
    rules: list[dict[str, Any]] = Field(
        max_length=MAX_RULES,
        description="each {indicators: [...], condition: {type: periodic, every_minutes | "
                    "every_hours} | {type: threshold, indicator, op, value, window_minutes?}, "
                    "tz_offset_minutes?}")


class WebhookPut(Input):
    url: str = Field(min_length=8, max_length=2000, description="where reports are POSTed")
    secret: str | None = Field(default=None, min_length=16, max_length=200,
                               description="HMAC secret; generated when left out")


class Discount(Input):
    type: Literal["percent", "amount"]
    value: int = Field(ge=1, le=2**64, description="percent (1-100) or smallest token units")
    min_order_amount: int = Field(default=0, ge=0, le=2**64)


class MarketingInfoPut(Input):
    headline: str = Field(min_length=1, max_length=120)
    description: str = Field(default="", max_length=4000)
    discount: Discount | None = None
    target_segment: str = Field(default="", max_length=200,
                                description="who the offer is for, e.g. new app visitors")
    valid_from: ChainTime
    valid_until: ChainTime

    def request(self) -> MarketingInfoRequest:
        if self.discount is not None and self.discount.type == "percent" \
                and self.discount.value > 100:
            raise InvalidInput("a percentage is 1 to 100", field="discount.value")
        content = self.model_dump(mode="json", exclude={"valid_from", "valid_until"})
        return MarketingInfoRequest(content=content, valid_from=self.valid_from,
                                    valid_until=self.valid_until)


async def _may_read_reports(runtime: Any, caller: Caller, merchant_address: str) -> None:
    if caller.role == Role.PLATFORM:
        return
    if caller.role == Role.MERCHANT and caller.address == merchant_address:
        return
    raise Forbidden("only the merchant itself or the platform reads its reports")


def _records(body: Any) -> list[Any]:
    """The `records` of an access-log body (parsed within the route's bounds by
    `api.bounds`, with orjson: pydantic would build and check 50,000 dicts one by one
    before the columnar parser sees them)."""
    if not isinstance(body, dict):
        raise InvalidInput("the body must be an object {records: [...]}", field="body")
    unknown = sorted(set(body) - {"records"})
    if unknown:
        raise InvalidInput(f"unknown field {unknown[0]!r}", field=unknown[0])
    records = body.get("records")
    if not isinstance(records, list):
        raise InvalidInput("records must be a list", field="records")
    if len(records) > MAX_BATCH_RECORDS:
        raise InvalidInput(f"a batch holds at most {MAX_BATCH_RECORDS} records", field="records")
    return records


@router.post("/access-logs", status_code=201,
             summary="Submit a batch of access logs; its Merkle root is anchored (terminal)",
             **body_limits(MAX_BYTES, 10 * MAX_BATCH_RECORDS, openapi_extra={
                 "requestBody": {"required": True, "content": {
                     "application/json": {"schema": AccessLogsCreate.model_json_schema()}}}}))
async def ingest(request: Request, runtime: RuntimeDep, caller: CallerDep,
                 idem: IdempotencyDep, key: IdempotencyKey = None) -> JSONResponse:
    records = _records(await request.json())
    return await write(idem, caller.id, key, request, {"records": records},
                       lambda: runtime.marketing.ingest(caller, records, key), 201)


@router.get("/access-logs/{batch_id}/proof/{index}",
            summary="A record with its inclusion proof against the anchored root")
async def log_proof(batch_id: BatchId, runtime: RuntimeDep,
                    index: Annotated[int, Path(ge=0, le=2**31)]) -> dict[str, Any]:
    return await views.proof(runtime.db, runtime.marketing.store, batch_id, index)


@router.put("/merchants/{merchant_id}/reporting-rules",
            summary="Set the merchant's reporting rules on chain; returns the version (merchant)")
async def set_rules(merchant_id: MerchantId, body: RulesPut, request: Request,
                    runtime: RuntimeDep, caller: CallerDep, idem: IdempotencyDep,
                    key: IdempotencyKey = None) -> JSONResponse:
    document = body.model_dump(mode="json")
    return await write(idem, caller.id, key, request, document,
                       lambda: runtime.marketing.set_rules(caller, merchant_id, document, key))


@router.get("/merchants/{merchant_id}/reporting-rules",
            summary="The merchant's current reporting rules and their history")
async def get_rules(merchant_id: MerchantId, runtime: RuntimeDep) -> dict[str, Any]:
    merchant = await merchant_of(runtime, merchant_id)
    return {**await views.rules(runtime.db, merchant.address), "merchant_id": merchant.id,
            "merchant_number": views.merchant_number(merchant.address)}


@router.put("/merchants/{merchant_id}/webhook",
            summary="Set where reports are pushed; the signing secret is shown once (merchant)")
async def set_webhook(merchant_id: MerchantId, body: WebhookPut, runtime: RuntimeDep,
                      caller: CallerDep) -> dict[str, Any]:
    return await runtime.marketing.webhooks.configure(  # type: ignore[no-any-return]
        caller, merchant_id, body.url, body.secret)


@router.get("/merchants/{merchant_id}/reports", response_model=None,
            responses=lists.CSV_RESPONSE,
            summary="The merchant's report inbox, newest first (merchant, platform): search "
                    "by report number or hash; status and date filters; CSV")
async def list_reports(merchant_id: MerchantId, runtime: RuntimeDep, caller: CallerDep,
                       params: ListParamsDep) -> dict[str, Any] | StreamingResponse:
    merchant = await merchant_of(runtime, merchant_id)
    await _may_read_reports(runtime, caller, merchant.address)
    base = select(MarketingReport).where(MarketingReport.merchant == merchant.address)
    return await lists.respond(runtime.db, list_specs_prizes.reports(runtime.db), base,
                               params, "reports")


@router.get("/merchants/{merchant_id}/reports/overdue",
            summary="Every period of the merchant's periodic rules that is due and not "
                    "published on chain, oldest first (anyone)")
async def overdue_reports(
    merchant_id: MerchantId, runtime: RuntimeDep,
    at: Annotated[ChainTime | None, Query(description="the time to check at (ISO 8601); "
                                         "default: now")] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="periods listed at most; the "
                                                          "counts are always whole")] = 100,
) -> dict[str, Any]:
    merchant = await merchant_of(runtime, merchant_id)
    return {"merchant_id": merchant.id,
            **await marketing_overdue.overdue(runtime.db, merchant.address,
                                              None if at is None else epoch(at), limit)}


@router.get("/reports/{report_id}",
            summary="A report: its stored JSON, chain evidence and a reproduction check")
async def get_report(report_id: ReportId, runtime: RuntimeDep,
                     caller: CallerDep) -> dict[str, Any]:
    row, detail = await views.report(runtime.db, report_id)
    await _may_read_reports(runtime, caller, row.merchant)
    return {**detail, **await views.reproduce(runtime.db, runtime.marketing.store, row)}


@router.get("/merchants/{merchant_id}/activity",
            summary="What the marketing dashboard charts: visits over time and by access "
                    "method, the claim and redeem funnel (merchant, platform), and the "
                    "window's claims and redemptions from chain events")
async def activity(
    merchant_id: MerchantId, runtime: RuntimeDep, caller: CallerDep,
    start: Annotated[ChainTime | None, Query(description="window start (ISO 8601); "
                                            "default: 30 days before `end`")] = None,
    end: Annotated[ChainTime | None, Query(description="window end, exclusive (ISO 8601); "
                                          "default: just after the latest record")] = None,
    tz_offset_minutes: Annotated[int, Query(ge=MIN_TZ_OFFSET_MINUTES,
                                            le=MAX_TZ_OFFSET_MINUTES)] = 0,
) -> dict[str, Any]:
    merchant = await merchant_of(runtime, merchant_id)
    await _may_read_reports(runtime, caller, merchant.address)
    number = views.merchant_number(merchant.address)
    charted = await views.activity(runtime.db, runtime.marketing.store, number,
                                   None if start is None else epoch(start),
                                   None if end is None else epoch(end),
                                   tz_offset_minutes=tz_offset_minutes)
    # The same window's claims and redemptions as the contracts recorded them.
    chain = await chain_activity(runtime.db, merchant.address, _epoch_of(charted["start"]),
                                 _epoch_of(charted["end"]))
    return {"merchant_id": merchant.id, "merchant_number": number, **charted,
            "chain_events": chain}


def _epoch_of(text: str) -> int:
    """Epoch seconds of the ISO 8601 UTC text `views.iso` writes."""
    return int(datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp())




@router.put("/merchants/{merchant_id}/marketing-info",
            summary="Publish a new version of the marketing info on chain (merchant)")
async def update_info(merchant_id: MerchantId, body: MarketingInfoPut, request: Request,
                      runtime: RuntimeDep, caller: CallerDep, idem: IdempotencyDep,
                      key: IdempotencyKey = None) -> JSONResponse:
    return await write(idem, caller.id, key, request, body.model_dump(mode="json"),
                       lambda: runtime.marketing.update_info(caller, merchant_id,
                                                             body.request(), key))


@router.get("/merchants/{merchant_id}/marketing-info",
            summary="The merchant's current marketing info and every earlier version")
async def get_info(merchant_id: MerchantId, runtime: RuntimeDep) -> dict[str, Any]:
    merchant = await merchant_of(runtime, merchant_id)
    return {**await views.marketing_info(runtime.db, merchant.address),
            "merchant_id": merchant.id}
