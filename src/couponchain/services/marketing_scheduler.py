"""The report scheduler: evaluates merchants' reporting rules and publishes fired reports.

Each round (`tick`) first reconciles rules whose own-indicator definitions
were not recorded after their chain call (`marketing_indicators.reconcile`),
then evaluates every merchant's current rules, stores each fired report
(its state and the report commit together, so a restart never fires twice),
publishes the hashes of stored reports on the marketing contract, and queues
their webhook pushes (`services/marketing_webhooks.py`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select, update

from couponchain.chain.gateway import Call, OpResult
from couponchain.domain import indicators as ind
from couponchain.domain.op_keys import platform_key
from couponchain.errors import ContractRevert, InvalidInput
from couponchain.loops import BackgroundLoop
from couponchain.services import marketing_indicators as own_indicators
from couponchain.services import marketing_views as views
from couponchain.services.marketing_views import merchant_number
from couponchain.services.marketing_webhooks import WebhookDeliverer
from couponchain.store.analytics import AccessLogStore
from couponchain.store.models import (
    MarketingReport,
    MarketingRuleSchedule,
    MarketingRuleState,
    MarketingRulesVersion,
)

log = logging.getLogger(__name__)

#: Reports one scheduler round publishes (the contract's MAX_BATCH per call).
PUBLISH_MAX = 64
#: Anchored batches one report may name (the contract's MAX_SOURCES).
MAX_SOURCES = 64
#: Periods of one rule one scheduler round reports at most (catching up).
BACKFILL_MAX = 8
#: The revert of a period the chain's clock has not closed yet (retried).
NOT_CLOSED = "marketing: period not closed"


class ReportScheduler:
    """Evaluates rules and publishes reports, in rounds (`tick`) or in the background."""

    def __init__(self, runtime: Any, store: AccessLogStore, webhooks: WebhookDeliverer) -> None:
        self.rt = runtime
        self.store = store
        self.webhooks = webhooks
        self._tick_lock = asyncio.Lock()
        self._loop: BackgroundLoop | None = None

    @property
    def db(self) -> Any:
        return self.rt.db

    def start(self, interval: float) -> None:
        """Run a round every `interval` s in the background."""
        # A failed round (a node restart, a DB hiccup) is logged; the next one retries.
        self._loop = BackgroundLoop("marketing report scheduler", self.tick, interval,
                                    logger=log, failed="marketing report round failed; retrying")
        self._loop.start()

    async def stop(self) -> None:
        """Cancel the background rounds and wait for the current one to end."""
        if self._loop is not None:
            await self._loop.stop()
            self._loop = None

    async def tick(self, now: int | None = None) -> list[int]:
        """One scheduler round: evaluate every merchant's rules at `now`, publish
        the fired (and any still unpublished) reports, queue their pushes.
        Returns the ids of the reports this round made."""
        async with self._tick_lock:
            # Rules whose definitions were not recorded after their chain call.
            await own_indicators.reconcile(self.db, self.rt.view)
            made = await self.evaluate(int(time.time()) if now is None else now)
            await self.publish_pending()
            return made

    async def evaluate(self, now: int) -> list[int]:
        """Evaluate each merchant's current rules; store every fired report."""
        async with self.db.session() as s:
            versions = (await s.execute(select(MarketingRulesVersion).order_by(
                MarketingRulesVersion.merchant, MarketingRulesVersion.version))).scalars().all()
            scheduled = (await s.execute(select(MarketingRuleSchedule))).scalars().all()
        current = {row.merchant: row for row in versions}
        by_rule = {(r.merchant, r.rules_version, r.rule_index): r for r in scheduled}
        made: list[int] = []
        for merchant, row in current.items():
            try:
                rules = ind.rules_from_json(row.rules)
            except InvalidInput:
                log.warning("rules v%s of %s are unreadable; skipped", row.version, merchant)
                continue
            for index, rule in enumerate(rules.rules):
                schedule = by_rule.get((merchant, row.version, index))
                if schedule is None:  # the indexer has not seen RuleScheduled yet
                    continue
                # A periodic rule reports each due period in turn, a few per
                # round, so a scheduler that was down catches up.
                for _ in range(BACKFILL_MAX):
                    report_id = await self._evaluate_rule(merchant, row.version, index, rule,
                                                          schedule, now)
                    if report_id is None:
                        break
                    made.append(report_id)
        return made

    async def _evaluate_rule(self, merchant: str, version: int, index: int,
                             rule: ind.ReportingRule, schedule: MarketingRuleSchedule,
                             now: int) -> int | None:
        number = merchant_number(merchant)
        async with self.db.session() as s:
            row = await s.get(MarketingRuleState, (merchant, version, index))
        state = ind.RuleState() if row is None else ind.RuleState(row.last_period, row.armed)
        window: Mapping[str, object] = {}
        batches: list[int] = []
        condition = rule.condition
        if isinstance(condition, ind.Threshold):
            start = 0 if condition.window_minutes is None else max(
                0, now - condition.window_minutes * 60)
            if start < now:  # evaluate_rule computes this same window
                batches = await views.report_batches(self.db, self.store, number, now, start)
                window = await views.indicators(self.db, self.store, number, start, now,
                                                batches)
                if condition.custom is not None:  # the merchant's own, as committed
                    window = {**window, **await own_indicators.custom_raw(
                        self.db, self.store, merchant, version, index, start, now, batches,
                        [condition.custom])}
            decision = ind.evaluate_rule(rule, state, now, lambda _s, _e: window)
        else:
            decision = _next_period(schedule, state, now)
        report: MarketingReport | None = None
        if decision.fires:
            assert decision.period_start is not None and decision.period_end is not None
            values = window
            if decision.trigger != ind.Trigger.THRESHOLD:
                # The batch list first, then the values from exactly those batches:
                # a batch anchored meanwhile cannot make the report irreproducible.
                batches = await views.report_batches(self.db, self.store, number,
                                                     decision.period_end)
                values = await views.indicators(self.db, self.store, number,
                                                decision.period_start, decision.period_end,
                                                batches)
            if rule.custom:  # the merchant's own, over the same batches
                values = {**values, **await own_indicators.custom_values(
                    self.db, self.store, merchant, version, index, decision.period_start,
                    decision.period_end, batches)}
            built = ind.Report(
                merchant=merchant, rules_version=version, rule_index=index,
                trigger=decision.trigger,  # type: ignore[arg-type]
                period_start=decision.period_start, period_end=decision.period_end,
                values={str(i): values[i] for i in (*rule.indicators, *rule.custom)},
                batches=tuple(batches))
            # A threshold report names the anchors it read; a periodic one its period.
            sources = [] if decision.trigger != ind.Trigger.THRESHOLD else \
                await views.batch_sources(self.db, batches)
            report = MarketingReport(
                report_hash="0x" + ind.report_hash(built).hex(), merchant=merchant,
                rules_version=version, rule_index=index, trigger=int(built.trigger),
                period_start=built.period_start, period_end=built.period_end,
                body=ind.report_json(built).decode("utf-8"), status="pending", created_at=now,
                rule_id=schedule.rule_id, period=decision.period_index or 0,
                sources=json.dumps(sources))
            if len(sources) > MAX_SOURCES:
                report.status = "failed"
                report.error = (f"the report read {len(sources)} anchored batches; the "
                                f"contract takes at most {MAX_SOURCES} per report")
        if decision.state == state and report is None:
            return None
        # The state and the report commit together: a restart never fires twice.
        async with self.db.transaction() as s:
            row = await s.get(MarketingRuleState, (merchant, version, index))
            if row is None:
                row = MarketingRuleState(merchant=merchant, rules_version=version,
                                         rule_index=index)
                s.add(row)
            row.last_period, row.armed = decision.state.last_period, decision.state.armed
            if report is not None:
                known = (await s.execute(select(MarketingReport.id).where(
                    MarketingReport.report_hash == report.report_hash))).scalar()
                if known is not None:
                    return None
                s.add(report)
                await s.flush()
        return None if report is None else report.id

    async def publish_pending(self) -> int:
        """Publish the hashes of stored reports not yet on chain; returns how many."""
        async with self.db.session() as s:
            pending = (await s.execute(select(MarketingReport).where(
                MarketingReport.status == "pending").order_by(MarketingReport.id)
                .limit(PUBLISH_MAX))).scalars().all()
        if not pending:
            return 0
        signer = await self.rt.participants.signer(self.rt.platform.caller.id)
        outcomes = await asyncio.gather(*[self.rt.gateway.submit(signer, Call(
            "marketing", "publish_reports", item=((
                r.merchant, r.rule_id or 0, r.period, bytes.fromhex(r.report_hash[2:]),
                r.period_start, r.period_end, r.trigger,
                [(a, int(b)) for a, b in json.loads(r.sources)]),), kind="publish report"),
            op_key=platform_key("publish-report", r.report_hash)) for r in pending],
            return_exceptions=True)
        done: list[OpResult] = []
        for report, outcome in zip(pending, outcomes, strict=True):
            if isinstance(outcome, ContractRevert) and outcome.reason == NOT_CLOSED:
                # The node's clock is behind ours: the period closes in a block or two.
                log.info("report %s waits for its period to close on chain", report.id)
                continue
            if isinstance(outcome, ContractRevert):
                async with self.db.transaction() as s:
                    await s.execute(update(MarketingReport).where(
                        MarketingReport.id == report.id).values(
                        status="failed", error=outcome.reason[:500]))
                continue
            if isinstance(outcome, BaseException):
                log.info("report %s not published yet: %s", report.id, outcome)
                continue
            chain_id = next(int(e.args["report_id"]) for e in await outcome.events()
                            if e.name == "ReportPublished"
                            and _hex(e.args["report_hash"]) == report.report_hash)
            async with self.db.transaction() as s:
                await s.execute(update(MarketingReport).where(
                    MarketingReport.id == report.id).values(
                    status="published", chain_report_id=chain_id, tx_hash=outcome.tx_hash,
                    block_number=outcome.block_number))
                await self.webhooks.queue(s, report)
            done.append(outcome)
        if done:
            await self.rt.indexer.wait_for(max(o.block_number for o in done))
        return len(done)


def _next_period(schedule: MarketingRuleSchedule, state: ind.RuleState,
                 now: int) -> ind.Decision:
    """The periodic rule's next unreported period, when it has closed at `now`.

    Periods are the contract's (`period_due`): numbered from 1 from the rule's
    on-chain start; the persisted `last_period` is the last one reported.
    """
    due = ind.due_period(schedule.start, schedule.period, now)
    period = (state.last_period or 0) + 1
    if period > due:
        return ind.Decision(False, state)
    start, end = ind.period_bounds(schedule.start, schedule.period, period)
    return ind.Decision(True, ind.RuleState(period, state.armed), ind.Trigger.PERIODIC,
                        start, end, period)


def _hex(value: str | bytes) -> str:
    return value if isinstance(value, str) else "0x" + value.hex()
