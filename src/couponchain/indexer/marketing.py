"""Read model of access-log anchors, reporting rules, reports and marketing info (DESIGN §2.5).

Built from the marketing contract's events only. The rules and the marketing
info travel whole in their events, so every version can be shown (and a
report's rules checked) without trusting the platform's own copy.
"""

from __future__ import annotations

import json

from sqlalchemy.orm import Session

from couponchain.indexer.projections import PROJECTIONS, IndexedEvent
from couponchain.store.models import (
    MarketingAnchor,
    MarketingInfoVersion,
    MarketingReportRecord,
    MarketingRuleSchedule,
    MarketingRulesVersion,
)

ZERO = "0x0000000000000000000000000000000000000000"

PROJECTIONS.owns(
    MarketingAnchor.__table__,  # type: ignore[arg-type]
    MarketingRulesVersion.__table__,  # type: ignore[arg-type]
    MarketingReportRecord.__table__,  # type: ignore[arg-type]
    MarketingInfoVersion.__table__,  # type: ignore[arg-type]
    MarketingRuleSchedule.__table__,  # type: ignore[arg-type]
)


def _text(value: str) -> str:
    """The UTF-8 text of a `Bytes` event value (0x hex in `IndexedEvent.args`)."""
    return bytes.fromhex(value[2:]).decode("utf-8", errors="replace")


@PROJECTIONS.on("marketing", "LogsAnchored")
def logs_anchored(session: Session, event: IndexedEvent) -> None:
    a = event.args
    session.add(MarketingAnchor(
        batch_id=int(a["batch_id"]), merchant=None if a["merchant"] == ZERO else a["merchant"],
        submitter=a["submitter"], merkle_root=a["merkle_root"],
        record_count=int(a["record_count"]), first_time=int(a["first_time"]),
        last_time=int(a["last_time"]), block_number=event.block_number, tx_hash=event.tx_hash,
        timestamp=event.timestamp,
    ))


@PROJECTIONS.on("marketing", "ReportingRulesSet")
def rules_set(session: Session, event: IndexedEvent) -> None:
    a = event.args
    session.add(MarketingRulesVersion(
        merchant=a["merchant"], version=int(a["version"]), rules_hash=a["rules_hash"],
        rules=_text(a["rules"]), block_number=event.block_number, tx_hash=event.tx_hash,
        timestamp=event.timestamp,
    ))


@PROJECTIONS.on("marketing", "ReportPublished")
def report_published(session: Session, event: IndexedEvent) -> None:
    a = event.args
    session.add(MarketingReportRecord(
        report_id=int(a["report_id"]), merchant=a["merchant"], report_hash=a["report_hash"],
        rules_version=int(a["rules_version"]), rule_index=int(a["rule_index"]),
        period_start=int(a["period_start"]), period_end=int(a["period_end"]),
        trigger=int(a["trigger"]), block_number=event.block_number, tx_hash=event.tx_hash,
        timestamp=event.timestamp, rule_id=int(a["rule_id"]), period=int(a["period"]),
        sources=json.dumps([[s, int(b)] for s, b in zip(
            a["source_submitters"], a["source_batch_ids"], strict=True)]),
    ))


@PROJECTIONS.on("marketing", "RuleScheduled")
def rule_scheduled(session: Session, event: IndexedEvent) -> None:
    a = event.args
    session.add(MarketingRuleSchedule(
        rule_id=int(a["rule_id"]), merchant=a["merchant"], rules_version=int(a["rules_version"]),
        rule_index=int(a["rule_index"]), start=int(a["start"]), period=int(a["period"]),
        block_number=event.block_number, tx_hash=event.tx_hash, timestamp=event.timestamp,
    ))


@PROJECTIONS.on("marketing", "MarketingInfoUpdated")
def info_updated(session: Session, event: IndexedEvent) -> None:
    a = event.args
    session.add(MarketingInfoVersion(
        merchant=a["merchant"], version=int(a["version"]), content_hash=a["content_hash"],
        info=_text(a["info"]), valid_from=int(a["valid_from"]),
        valid_until=int(a["valid_until"]), block_number=event.block_number,
        tx_hash=event.tx_hash, timestamp=event.timestamp,
    ))
