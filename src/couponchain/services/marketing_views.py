"""Reads of the marketing capability: indicators in SQL, proofs, rules, reports, info.

`indicators` computes the catalogue of `couponchain.domain.indicators` from
its preset expressions (`indicator_language.PRESETS`) with the engine of the
merchant-defined indicators (`marketing_engine.py`, DuckDB over the anchored
batches' files); it returns exactly what `indicators.compute` returns over the
same records (the domain function stays the reference, and the tests compare
the two). `reproduce` recomputes a report from the anchored logs with
the domain code alone.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, select

from couponchain.domain import access_log_columns as columnar
from couponchain.domain import access_logs as logs
from couponchain.domain import indicators as ind
from couponchain.domain.times import iso
from couponchain.errors import InvalidInput, NotFound
from couponchain.services import marketing_engine as engine
from couponchain.services.marketing_webhooks import public_log
from couponchain.store.analytics import AccessLogStore
from couponchain.store.models import (
    AccessLogBatch,
    MarketingAnchor,
    MarketingDelivery,
    MarketingInfoVersion,
    MarketingReport,
    MarketingReportRecord,
    MarketingRulesVersion,
    Participant,
)

TRIGGERS = {int(t): t.name.lower() for t in ind.Trigger}


def merchant_number(address: str) -> int:
    """A merchant's number in access logs: the top 63 bits of its address (never 0)."""
    return int(address[2:18], 16) >> 1 or 1


async def source_batches(db: Any, merchant: int, end: int,
                         start: int = 0) -> tuple[list[int], list[int]]:
    """The anchored batches that may hold a merchant's records in `[start, end)`:
    (the merchant's own batches, the platform's batches mixing merchants)."""
    async with db.session() as s:
        rows = (await s.execute(
            select(AccessLogBatch.id, AccessLogBatch.merchant)
            .where(AccessLogBatch.status == "anchored", AccessLogBatch.first_time < end,
                   AccessLogBatch.last_time >= start)
            .order_by(AccessLogBatch.id))).all()
    # The number is derived from the address, so it is matched here, not in SQL.
    own = [i for i, address in rows if address is not None and merchant_number(address) == merchant]
    mixed = [i for i, address in rows if address is None]
    return own, mixed


async def indicators(db: Any, store: AccessLogStore, merchant: int, start: int, end: int,
                     batches: Sequence[int] | None = None) -> dict[str, object]:
    """Every indicator of the catalogue for one merchant number over `[start, end)`,
    from the anchored records, or from the records of `batches` only (what
    `indicators.compute` gives over them), aggregated by DuckDB."""
    if batches is None:
        own, mixed = await source_batches(db, merchant, end)
        batches = own + mixed

    # The presets are expressions of the indicator language: the one engine
    # that computes the merchant's own indicators computes them too.
    return await asyncio.to_thread(engine.catalogue, store, batches, merchant, start, end)


async def report_batches(db: Any, store: AccessLogStore, merchant: int, end: int,
                         start: int = 0) -> list[int]:
    """The anchored batches that may hold a merchant's records in `[start, end)`
    (a report's sources; the default `start` 0 is all history before `end`)."""
    own, mixed = await source_batches(db, merchant, end, start)
    return sorted(own + await asyncio.to_thread(store.batches_with, mixed, merchant, end))


async def batch_sources(db: Any, batch_ids: Sequence[int]) -> list[list[Any]]:
    """The anchors of the service's batches as the contract names them:
    [submitter address, batch id] (anchors are keyed per submitter on chain)."""
    if not batch_ids:
        return []
    async with db.session() as s:
        rows = (await s.execute(
            select(Participant.address, AccessLogBatch.id)
            .join(Participant, Participant.id == AccessLogBatch.submitter_id)
            .where(AccessLogBatch.id.in_(batch_ids)).order_by(AccessLogBatch.id))).all()
    return [[address, batch_id] for address, batch_id in rows]


# -- the dashboard -----------------------------------------------------------------------

FUNNEL = (("visit", None), ("claim", logs.Operation.CLAIM), ("redeem", logs.Operation.REDEEM),
          ("purchase", logs.Operation.PURCHASE))
DEFAULT_DAYS = 30
#: Hourly buckets up to this many; daily beyond.
MAX_HOURLY = 72


async def activity(db: Any, store: AccessLogStore, merchant: int, start: int | None,
                   end: int | None, tz_offset_minutes: int = 0) -> dict[str, Any]:
    """What the dashboard charts over `[start, end)`: records per time bucket and
    access method, totals per method, and the funnel visit -> claim -> redeem ->
    purchase in distinct visitors. Without a window: the last 30 days of the
    merchant's anchored logs (or of the clock, when it has none)."""
    async with db.session() as s:
        rows = (await s.execute(
            select(AccessLogBatch.id, AccessLogBatch.merchant, AccessLogBatch.first_time,
                   AccessLogBatch.last_time)
            .where(AccessLogBatch.status == "anchored").order_by(AccessLogBatch.id))).all()
    rows = [r for r in rows if r[1] is None or merchant_number(r[1]) == merchant]
    if end is None:
        end = max((r[3] for r in rows), default=int(time.time())) + 1
    if start is None:
        start = max(min((r[2] for r in rows), default=end), end - DEFAULT_DAYS * 86_400)
    if start >= end:
        raise InvalidInput("the window ends before it starts", field="end")
    bucket = 3600 if end - start <= MAX_HOURLY * 3600 else 86_400
    offset = tz_offset_minutes * 60
    batches = [r[0] for r in rows if r[2] < end and r[3] >= start]

    def run() -> tuple[list[tuple[int, int, int]], dict[int, int]]:
        return (store.activity(batches, merchant, start, end, bucket, offset),
                store.funnel(batches, merchant, start, end))

    counts, funnel = await asyncio.to_thread(run)
    methods = [m.label for m in logs.AccessMethod]
    first = (start + offset) // bucket * bucket - offset
    series = {at: dict.fromkeys(methods, 0) for at in range(first, end, bucket)}
    for at, method, n in counts:
        series[at][logs.AccessMethod(method).label] += n
    return {"start": iso(start), "end": iso(end), "tz_offset_minutes": tz_offset_minutes,
            "bucket": "hour" if bucket == 3600 else "day",
            "visits": [{"at": iso(at), **by_method} for at, by_method in series.items()],
            "by_method": {m: sum(v[m] for v in series.values()) for m in methods},
            "records": sum(n for _, _, n in counts),
            "funnel": [{"step": step, "visitors": funnel.get(0 if op is None else int(op), 0)}
                       for step, op in FUNNEL]}


# -- access logs -----------------------------------------------------------------------


async def batch_records(store: AccessLogStore, batch_id: int) -> list[logs.AccessRecord]:
    """A batch's records in batch order."""
    return (await asyncio.to_thread(store.read, batch_id)).records()


def record_public(record: logs.AccessRecord) -> dict[str, Any]:
    return {"visitor": "0x" + record.visitor.hex(), "account": record.account,
            "time": record.time, "merchant": record.merchant, "method": record.method.label,
            "operation": record.operation.label}


def _anchors_of(batch_ids: Sequence[int]) -> Select[MarketingAnchor]:
    """The anchors of the service's batches `batch_ids`.

    Anchor ids are per submitter on chain, so each batch's anchor is found
    under the account of the participant that submitted it: an anchor another
    caller made with the same id is never taken for it.
    """
    return (select(MarketingAnchor)
            .join(AccessLogBatch, AccessLogBatch.id == MarketingAnchor.batch_id)
            .join(Participant, Participant.id == AccessLogBatch.submitter_id)
            .where(MarketingAnchor.batch_id.in_(batch_ids),
                   MarketingAnchor.submitter == Participant.address))


async def proof(db: Any, store: AccessLogStore, batch_id: int, index: int) -> dict[str, Any]:
    """A record of an anchored batch with its inclusion proof and the anchor's evidence."""
    async with db.session() as s:
        batch = await s.get(AccessLogBatch, batch_id)
        anchor = None if batch is None else (await s.execute(_anchors_of([batch_id]))).scalar()
    if batch is None or batch.status != "anchored" or anchor is None:
        raise NotFound(f"access-log batch {batch_id} is not anchored", field="batch_id")
    if not 0 <= index < batch.record_count:
        raise NotFound(f"batch {batch_id} has records 0 to {batch.record_count - 1}",
                       field="index")

    def build() -> tuple[logs.AccessRecord, list[list[bytes]]]:
        columns = store.read(batch_id)
        return columns.record(index), logs.tree_levels(columnar.leaves(columns))

    record, levels = await asyncio.to_thread(build)
    path = logs.proof_from_levels(levels, index)
    leaf = levels[0][index]
    root = bytes.fromhex(anchor.merkle_root[2:])
    return {"batch_id": batch_id, "index": index, "record": record_public(record),
            "encoded": "0x" + logs.encode_record(record).hex(),
            "leaf": "0x" + leaf.hex(), "proof": ["0x" + p.hex() for p in path],
            "merkle_root": anchor.merkle_root, "verified": logs.verify(leaf, path, root),
            "submitter": anchor.submitter,
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
            "rule_id": row.rule_id, "period": row.period or None,
            "sources": json.loads(row.sources or "[]"),
            "trigger": TRIGGERS[row.trigger], "period_start": iso(row.period_start),
            "period_end": iso(row.period_end), "status": row.status,
            "chain_report_id": row.chain_report_id, "tx_hash": row.tx_hash,
            "block_number": row.block_number, "created_at": iso(row.created_at),
            "indicators": json.loads(row.body)["indicators"],
            "delivery": None if delivery is None else {
                "status": delivery.status, "attempts": delivery.attempts,
                "delivered_at": None if delivery.delivered_at is None
                else iso(delivery.delivered_at), "log": public_log(delivery.log)}}


async def report(db: Any, report_id: int) -> tuple[MarketingReport, dict[str, Any]]:
    async with db.session() as s:
        row = await s.get(MarketingReport, report_id)
        if row is None:
            raise NotFound(f"report {report_id} does not exist", field="id")
        delivery = (await s.execute(select(MarketingDelivery).where(
            MarketingDelivery.report_id == report_id))).scalar()
    return row, {**report_summary(row, delivery), "json": row.body,
                 "report": json.loads(row.body)}


async def reproduce(db: Any, store: AccessLogStore, row: MarketingReport) -> dict[str, Any]:
    """Recompute a report from its anchored batches with the domain code alone.

    Each batch's records must hash to the root anchored on chain, and the
    recomputed report's hash must equal the one published on chain.
    """
    body = json.loads(row.body)
    async with db.session() as s:
        published = (await s.execute(select(MarketingReportRecord).where(
            MarketingReportRecord.report_hash == row.report_hash))).scalar()
        anchors = {a.batch_id: a.merkle_root
                   for a in (await s.execute(_anchors_of(body["batches"]))).scalars()}

    def recompute() -> tuple[bool, dict[str, object]]:
        records: list[logs.AccessRecord] = []
        roots_match = True
        for batch_id in body["batches"]:
            try:
                columns = store.read(batch_id)
            except FileNotFoundError:
                roots_match = False
                continue
            root = "0x" + columnar.root(columns).hex()
            roots_match = roots_match and anchors.get(batch_id) == root
            records.extend(columns.records())
        return roots_match, ind.compute(records, body["period_start"], body["period_end"],
                                        merchant=merchant_number(body["merchant"]))

    roots_match, values = await asyncio.to_thread(recompute)
    own: dict[str, object] = {}
    if set(body["indicators"]) - set(ind.Indicator):
        # The merchant's own indicators, from the same batches and the indexed
        # ledger events (imported here: that module builds on this one).
        from couponchain.services.marketing_indicators import custom_values
        own = await custom_values(db, store, body["merchant"], body["rules_version"],
                                  body["rule_index"], body["period_start"],
                                  body["period_end"], body["batches"])
    again = ind.Report(merchant=body["merchant"], rules_version=body["rules_version"],
                       rule_index=body["rule_index"], trigger=ind.Trigger[body["trigger"].upper()],
                       period_start=body["period_start"], period_end=body["period_end"],
                       values={k: values[ind.Indicator(k)] if k in set(ind.Indicator)
                               else own.get(k) for k in body["indicators"]},
                       batches=tuple(body["batches"]))
    recomputed = "0x" + ind.report_hash(again).hex()
    onchain = published.report_hash if published else None
    return {"reproduced": roots_match and recomputed == onchain, "recomputed_hash": recomputed,
            "onchain_hash": onchain, "batches_match_anchors": roots_match}
