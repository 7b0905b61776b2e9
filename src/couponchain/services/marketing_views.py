"""Reads of the marketing capability: indicators in SQL, proofs, rules, reports, info.

`indicators` computes the catalogue of `couponchain.domain.indicators` with
three aggregate queries over the anchored records; it returns exactly what
`indicators.compute` returns over the same records (the domain function stays
the reference, and the tests compare the two). `reproduce` recomputes a
report from the anchored logs with the domain code alone.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

from sqlalchemy import case, func, literal, select
from sqlalchemy.sql.elements import ColumnElement

from couponchain.domain import access_logs as logs
from couponchain.domain import indicators as ind
from couponchain.domain.access_logs import AccessMethod, Operation
from couponchain.errors import NotFound
from couponchain.store.models import (
    AccessLog,
    AccessLogBatch,
    MarketingAnchor,
    MarketingDelivery,
    MarketingInfoVersion,
    MarketingReport,
    MarketingReportRecord,
    MarketingRulesVersion,
)

TRIGGERS = {int(t): t.name.lower() for t in ind.Trigger}


def iso(epoch: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def merchant_number(address: str) -> int:
    """A merchant's number in access logs: the top 63 bits of its address (never 0)."""
    return int(address[2:18], 16) >> 1 or 1


def _anchored() -> ColumnElement[bool]:
    return AccessLog.batch_id.in_(
        select(AccessLogBatch.id).where(AccessLogBatch.status == "anchored"))


def _visitor_key() -> ColumnElement[str]:
    # AccessRecord.visitor_key: the account when logged in, else the IP's hash.
    return case((AccessLog.account != "", literal("a:") + AccessLog.account),
                else_=literal("v:") + AccessLog.visitor)


async def indicators(db: Any, merchant: int, start: int, end: int,
                     batches: Sequence[int] | None = None) -> dict[str, object]:
    """Every indicator of the catalogue for one merchant number over `[start, end)`,
    from the anchored records, or from the records of `batches` only (what
    `indicators.compute` gives over them)."""
    sources = _anchored() if batches is None else AccessLog.batch_id.in_(list(batches))
    in_window = (AccessLog.merchant == merchant, AccessLog.time >= start, AccessLog.time < end,
                 sources)
    key = _visitor_key()
    seen = (select(key.label("k"), func.min(AccessLog.time).label("first"),
                   func.max(AccessLog.time).label("last"))
            .where(AccessLog.merchant == merchant, AccessLog.time < end, sources)
            .group_by(key).subquery())
    async with db.session() as s:
        counts = (await s.execute(
            select(AccessLog.operation, AccessLog.method, func.count())
            .where(*in_window).group_by(AccessLog.operation, AccessLog.method))).all()
        visitors, new = (await s.execute(
            select(func.count(), func.coalesce(func.sum(case((seen.c.first >= start, 1),
                                                               else_=0)), 0))
            .where(seen.c.last >= start))).one()
    operations: Counter[Operation] = Counter()
    methods: Counter[AccessMethod] = Counter()
    for operation, method, n in counts:
        operations[Operation(operation)] += n
        methods[AccessMethod(method)] += n
    visitors, new = int(visitors), int(new)
    claims, redemptions = operations[Operation.CLAIM], operations[Operation.REDEEM]
    purchases = operations[Operation.PURCHASE]
    top = sorted(operations.items(), key=lambda item: (-item[1], item[0].label))
    return {
        ind.Indicator.PAGE_VIEWS: operations[Operation.VIEW],
        ind.Indicator.UNIQUE_VISITORS: visitors,
        ind.Indicator.VISITS_BY_METHOD: {m.label: methods[m] for m in AccessMethod},
        ind.Indicator.NEW_VISITORS: new,
        ind.Indicator.RETURNING_VISITORS: visitors - new,
        ind.Indicator.COUPON_CLAIMS: claims,
        ind.Indicator.REDEMPTIONS: redemptions,
        ind.Indicator.PURCHASES: purchases,
        ind.Indicator.CONVERSION_RATE: ind.Rate(purchases, visitors),
        ind.Indicator.REDEMPTION_RATE: ind.Rate(redemptions, claims),
        ind.Indicator.TOP_OPERATIONS: [(op.label, n) for op, n in top[:ind.TOP_OPERATIONS]],
    }


async def report_batches(db: Any, merchant: int, end: int) -> list[int]:
    """The anchored batches holding a merchant's records before `end` (a report's sources)."""
    async with db.session() as s:
        return list((await s.execute(
            select(AccessLog.batch_id).where(AccessLog.merchant == merchant,
                                             AccessLog.time < end, _anchored())
            .distinct().order_by(AccessLog.batch_id))).scalars())


# -- access logs -----------------------------------------------------------------------


def _record(row: AccessLog) -> logs.AccessRecord:
    return logs.AccessRecord(visitor=bytes.fromhex(row.visitor), account=row.account,
                             time=row.time, merchant=row.merchant,
                             method=AccessMethod(row.method),
                             operation=Operation(row.operation))


async def batch_records(db: Any, batch_id: int) -> list[logs.AccessRecord]:
    """A batch's records in batch order."""
    async with db.session() as s:
        rows = (await s.execute(select(AccessLog).where(AccessLog.batch_id == batch_id)
                                .order_by(AccessLog.record_index))).scalars().all()
    return [_record(r) for r in rows]


def record_public(record: logs.AccessRecord) -> dict[str, Any]:
    return {"visitor": "0x" + record.visitor.hex(), "account": record.account,
            "time": record.time, "merchant": record.merchant, "method": record.method.label,
            "operation": record.operation.label}


async def proof(db: Any, batch_id: int, index: int) -> dict[str, Any]:
    """A record of an anchored batch with its inclusion proof and the anchor's evidence."""
    async with db.session() as s:
        batch = await s.get(AccessLogBatch, batch_id)
        anchor = await s.get(MarketingAnchor, batch_id)
    if batch is None or batch.status != "anchored" or anchor is None:
        raise NotFound(f"access-log batch {batch_id} is not anchored", field="batch_id")
    if not 0 <= index < batch.record_count:
        raise NotFound(f"batch {batch_id} has records 0 to {batch.record_count - 1}",
                       field="index")
    records = await batch_records(db, batch_id)
    levels = await asyncio.to_thread(logs.tree_levels, [logs.leaf_hash(r) for r in records])
    path = logs.proof_from_levels(levels, index)
    leaf = levels[0][index]
    root = bytes.fromhex(anchor.merkle_root[2:])
    return {"batch_id": batch_id, "index": index, "record": record_public(records[index]),
            "encoded": "0x" + logs.encode_record(records[index]).hex(),
            "leaf": "0x" + leaf.hex(), "proof": ["0x" + p.hex() for p in path],
            "merkle_root": anchor.merkle_root, "verified": logs.verify(leaf, path, root),
            "anchor_tx": anchor.tx_hash, "block_number": anchor.block_number,
            "merchant": anchor.merchant, "anchored_at": iso(anchor.timestamp)}


# -- rules and marketing info ------------------------------------------------------------


async def rules(db: Any, merchant: str) -> dict[str, Any]:
    """A merchant's current rules and every earlier version (from the chain's events)."""
    async with db.session() as s:
        rows = (await s.execute(select(MarketingRulesVersion).where(
            MarketingRulesVersion.merchant == merchant)
            .order_by(MarketingRulesVersion.version.desc()))).scalars().all()
    versions = [{"version": r.version, "rules": json.loads(r.rules), "rules_hash": r.rules_hash,
                 "set_at": iso(r.timestamp), "tx_hash": r.tx_hash,
                 "block_number": r.block_number} for r in rows]
    current = versions[0] if versions else None
    return {"merchant": merchant, "version": current["version"] if current else 0,
            "rules": current["rules"] if current else None,
            "rules_hash": current["rules_hash"] if current else None, "history": versions}


async def marketing_info(db: Any, merchant: str) -> dict[str, Any]:
    """A merchant's current marketing info and its history (newest first)."""
    async with db.session() as s:
        rows = (await s.execute(select(MarketingInfoVersion).where(
            MarketingInfoVersion.merchant == merchant)
            .order_by(MarketingInfoVersion.version.desc()))).scalars().all()
    versions = [{"version": r.version, **json.loads(r.info), "valid_from": iso(r.valid_from),
                 "valid_until": iso(r.valid_until), "content_hash": r.content_hash,
                 "updated_at": iso(r.timestamp), "tx_hash": r.tx_hash,
                 "block_number": r.block_number} for r in rows]
    return {"merchant": merchant, "version": versions[0]["version"] if versions else 0,
            "current": versions[0] if versions else None, "history": versions}


# -- reports ---------------------------------------------------------------------------


def report_summary(row: MarketingReport, delivery: MarketingDelivery | None) -> dict[str, Any]:
    return {"id": row.id, "report_hash": row.report_hash, "merchant": row.merchant,
            "rules_version": row.rules_version, "rule_index": row.rule_index,
            "trigger": TRIGGERS[row.trigger], "period_start": iso(row.period_start),
            "period_end": iso(row.period_end), "status": row.status,
            "chain_report_id": row.chain_report_id, "tx_hash": row.tx_hash,
            "block_number": row.block_number, "created_at": iso(row.created_at),
            "indicators": json.loads(row.body)["indicators"],
            "delivery": None if delivery is None else {
                "status": delivery.status, "attempts": delivery.attempts,
                "delivered_at": None if delivery.delivered_at is None
                else iso(delivery.delivered_at), "log": delivery.log}}


async def reports(db: Any, merchant: str, limit: int, cursor: int | None) -> list[dict[str, Any]]:
    """A merchant's reports, newest first (`cursor`: the last id of the previous page)."""
    query = (select(MarketingReport, MarketingDelivery)
             .outerjoin(MarketingDelivery, MarketingDelivery.report_id == MarketingReport.id)
             .where(MarketingReport.merchant == merchant))
    if cursor is not None:
        query = query.where(MarketingReport.id < cursor)
    async with db.session() as s:
        rows = (await s.execute(query.order_by(MarketingReport.id.desc()).limit(limit))).all()
    return [report_summary(r, d) for r, d in rows]


async def report(db: Any, report_id: int) -> tuple[MarketingReport, dict[str, Any]]:
    async with db.session() as s:
        row = await s.get(MarketingReport, report_id)
        if row is None:
            raise NotFound(f"report {report_id} does not exist", field="id")
        delivery = (await s.execute(select(MarketingDelivery).where(
            MarketingDelivery.report_id == report_id))).scalar()
    return row, {**report_summary(row, delivery), "json": row.body,
                 "report": json.loads(row.body)}


async def reproduce(db: Any, row: MarketingReport) -> dict[str, Any]:
    """Recompute a report from its anchored batches with the domain code alone.

    Each batch's records must hash to the root anchored on chain, and the
    recomputed report's hash must equal the one published on chain.
    """
    body = json.loads(row.body)
    async with db.session() as s:
        published = (await s.execute(select(MarketingReportRecord).where(
            MarketingReportRecord.report_hash == row.report_hash))).scalar()
        anchors = {a.batch_id: a.merkle_root for a in (await s.execute(select(
            MarketingAnchor).where(MarketingAnchor.batch_id.in_(body["batches"])))).scalars()}
    records: list[logs.AccessRecord] = []
    roots_match = True
    for batch_id in body["batches"]:
        batch = await batch_records(db, batch_id)
        root = "0x" + (await asyncio.to_thread(logs.root, batch)).hex() if batch else None
        roots_match = roots_match and root is not None and anchors.get(batch_id) == root
        records.extend(batch)
    values = ind.compute(records, body["period_start"], body["period_end"],
                         merchant=merchant_number(body["merchant"]))
    again = ind.Report(merchant=body["merchant"], rules_version=body["rules_version"],
                       rule_index=body["rule_index"], trigger=ind.Trigger[body["trigger"].upper()],
                       period_start=body["period_start"], period_end=body["period_end"],
                       values={k: values[ind.Indicator(k)] for k in body["indicators"]},
                       batches=tuple(body["batches"]))
    recomputed = "0x" + ind.report_hash(again).hex()
    onchain = published.report_hash if published else None
    return {"reproduced": roots_match and recomputed == onchain, "recomputed_hash": recomputed,
            "onchain_hash": onchain, "batches_match_anchors": roots_match}
