"""Merchant-defined indicators: validate, preview, define, and the rules' commitments.

Included by `routes/marketing.py` (same tag and prefix). The expression
language is `couponchain.domain.indicator_language`; every refusal is an RFC
9457 problem naming the field (`expression`, `name`) and the broken rule.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import Path
from pydantic import Field

from couponchain.api.bounds import bounded_router
from couponchain.api.deps import CallerDep, RuntimeDep
from couponchain.api.inputs import Input
from couponchain.domain import indicator_language as lang
from couponchain.domain.roles import Role
from couponchain.errors import Forbidden, InvalidInput
from couponchain.services import marketing_indicators as own
from couponchain.services import marketing_views as views
from couponchain.services.marketing import merchant_of
from couponchain.services.participants import Caller

router = bounded_router(prefix="/v1", tags=["marketing"])

MerchantId = Annotated[str, Path(min_length=1, max_length=32, description="the merchant's id")]
Name = Annotated[str, Path(min_length=1, max_length=64, description="the indicator's name")]
#: The preview's default period: the last 30 days.
PREVIEW_DAYS = 30


class IndicatorExpression(Input):
    expression: str = Field(max_length=4 * lang.MAX_LENGTH, description=(
        'e.g. count(claims, window=7d) / count(views where method="app", window=7d); '
        "see docs/api.md, merchant-defined indicators"))


class IndicatorPreview(IndicatorExpression):
    start: int | None = Field(default=None, ge=0, le=2**40,
                              description="epoch s; default: 30 days before end")
    end: int | None = Field(default=None, ge=0, le=2**40, description="epoch s; default: now")


async def _merchant_or_platform(runtime: Any, caller: Caller, merchant_id: str) -> str:
    merchant = await merchant_of(runtime, merchant_id)
    if caller.role == Role.PLATFORM or (caller.role == Role.MERCHANT
                                        and caller.address == merchant.address):
        return merchant.address  # type: ignore[no-any-return]
    raise Forbidden("only the merchant itself or the platform reads its indicators")


@router.get("/indicators/language", summary="The indicator language: sources, filters, presets")
async def language() -> dict[str, Any]:
    return {"sources": {name: table for name, (table, _) in lang.SOURCES.items()},
            "filters": {table: {f: list(v) for f, v in fields.items()}
                        for table, fields in lang.FIELDS.items()},
            "group_by": {table: list(g) for table, g in lang.GROUPS.items()},
            "window_units": list(lang.UNITS), "presets": lang.PRESETS,
            "limits": {"characters": lang.MAX_LENGTH, "counts": lang.MAX_COUNTS,
                       "terms": lang.MAX_NODES, "depth": lang.MAX_DEPTH,
                       "window_seconds": lang.MAX_WINDOW_SECONDS, "top": lang.MAX_TOP}}


@router.post("/merchants/{merchant_id}/indicators:validate",
             summary="Check an indicator expression (no data read)")
async def validate(merchant_id: MerchantId, body: IndicatorExpression, runtime: RuntimeDep,
                   caller: CallerDep) -> dict[str, Any]:
    await _merchant_or_platform(runtime, caller, merchant_id)
    return {"valid": True, **own.describe(lang.parse(body.expression))}


@router.post("/merchants/{merchant_id}/indicators:preview",
             summary="An indicator's value over a period, from the logs and the ledger")
async def preview(merchant_id: MerchantId, body: IndicatorPreview, runtime: RuntimeDep,
                  caller: CallerDep) -> dict[str, Any]:
    address = await _merchant_or_platform(runtime, caller, merchant_id)
    tree = lang.parse(body.expression)
    end = int(time.time()) if body.end is None else body.end
    start = max(0, end - PREVIEW_DAYS * 86_400) if body.start is None else body.start
    if start >= end:
        raise InvalidInput("the period ends before it starts", field="end")
    value = await own.evaluate(runtime.db, runtime.marketing.store, address, tree, start, end)
    return {"value": own.plain(value), "start": views.iso(start), "end": views.iso(end),
            **own.describe(tree)}


@router.put("/merchants/{merchant_id}/indicators/{name}",
            summary="Define (or redefine) one of the merchant's indicators (merchant)")
async def define(merchant_id: MerchantId, name: Name, body: IndicatorExpression,
                 runtime: RuntimeDep, caller: CallerDep) -> dict[str, Any]:
    merchant = await merchant_of(runtime, merchant_id)
    if caller.role != Role.MERCHANT or caller.address != merchant.address:
        raise Forbidden("a merchant defines its own indicators only")
    return await own.define(runtime.db, merchant.address, name, body.expression)


@router.get("/merchants/{merchant_id}/indicators",
            summary="The merchant's indicators and the presets")
async def list_indicators(merchant_id: MerchantId, runtime: RuntimeDep,
                          caller: CallerDep) -> dict[str, Any]:
    address = await _merchant_or_platform(runtime, caller, merchant_id)
    return {"presets": lang.PRESETS, "indicators": await own.library(runtime.db, address)}


@router.get("/merchants/{merchant_id}/reporting-rules/{version}/indicators",
            summary="The definitions each rule of a rules version committed to (anyone)")
async def committed(merchant_id: MerchantId, runtime: RuntimeDep,
                    version: Annotated[int, Path(ge=1, le=2**31)]) -> dict[str, Any]:
    merchant = await merchant_of(runtime, merchant_id)
    # A rule set just before a crash has its definitions staged, not yet recorded.
    await own.reconcile(runtime.db, runtime.view, merchant.address)
    rules = await own.committed(runtime.db, merchant.address, version)
    return {"merchant": merchant.address, "rules_version": version,
            "check": "keccak256(definitions_json) == marketing.rule_indicators_hash(rule_id)",
            "rules": [{"rule_index": i, **rules[i]} for i in sorted(rules)]}
