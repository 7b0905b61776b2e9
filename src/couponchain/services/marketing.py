"""Contract-driven marketing: access logs, reporting rules, reports, marketing info (DESIGN §2.5).

The marketing contract is the authority for what was anchored, which rules a
merchant set, which reports were published and which marketing info is
current. This service keeps the records behind the anchors (visitor IPs only
as keyed hashes), computes the indicators over them
(`store/analytics.py`: Parquet files aggregated by DuckDB), runs the report
scheduler and hands fired reports to the webhook deliverer
(`services/marketing_webhooks.py`). Reads come from `services/marketing_views.py`.

A merchant is named inside access logs by its *merchant number*: the top 63
bits of its chain address, so terminals, the platform and any auditor derive
it without asking anyone.
"""

from __future__ import annotations

import asyncio
import json
import logging
import multiprocessing
import os
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import delete, select, update

from couponchain import supervision
from couponchain.chain.gateway import Call, OpResult
from couponchain.domain import access_log_columns as columnar
from couponchain.domain import indicators as ind
from couponchain.domain.access_log_columns import RecordColumns
from couponchain.domain.roles import Role
from couponchain.errors import ContractRevert, Forbidden, InvalidInput, NotFound
from couponchain.loops import BackgroundLoop
from couponchain.services import marketing_indicators as own_indicators
from couponchain.services import marketing_views as views
from couponchain.services.marketing_views import merchant_number
from couponchain.services.marketing_webhooks import WebhookDeliverer
from couponchain.services.op_keys import op_key, platform_key
from couponchain.services.participants import Caller
from couponchain.store.analytics import AccessLogStore
from couponchain.store.models import (
    AccessLogBatch,
    MarketingReport,
    MarketingRuleSchedule,
    MarketingRuleState,
    MarketingRulesVersion,
    Participant,
)

log = logging.getLogger(__name__)

ZERO = "0x0000000000000000000000000000000000000000"
#: Reports one scheduler round publishes (the contract's MAX_BATCH per call).
PUBLISH_MAX = 64
#: Batches from this size on are parsed and hashed in a worker process.
POOL_MIN_RECORDS = 5_000
MAX_RULES_BYTES = 4096
MAX_INFO_BYTES = 8192
#: Anchored batches one report may name (the contract's MAX_SOURCES).
MAX_SOURCES = 64
#: Periods of one rule one scheduler round reports at most (catching up).
BACKFILL_MAX = 8
#: The revert of a period the chain's clock has not closed yet (retried).
NOT_CLOSED = "marketing: period not closed"


def log_key(master_secret: str) -> bytes:
    """The key that pseudonymised visitor IPs before it became a stored secret
    (services/platform_secrets.py): a database from then keeps this value.

    Deterministic, so equal IPs give equal visitors across restarts and
    workers; the HKDF purpose keeps it apart from every other derived key.
    """
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=b"access-log-visitors").derive(master_secret.encode())


@dataclass(frozen=True)
class MarketingInfoRequest:
    """A new version of a merchant's marketing information."""

    content: Mapping[str, Any]
    valid_from: datetime
    valid_until: datetime


class MarketingService:
    """Writes go through the gateway; the report scheduler runs in the background."""

    def __init__(self, runtime: Any) -> None:
        self.rt = runtime
        #: The visitor pseudonym key, a stable platform secret (loaded at start).
        self.key = b""
        #: The access-log records (the SQL store keeps the batches' rows only).
        self.store = AccessLogStore(runtime.settings.data_dir / "access-logs")
        self.webhooks = WebhookDeliverer(runtime)
        self._tick_lock = asyncio.Lock()
        #: None: not started yet; False: broken, parse in threads.
        self._workers: ProcessPoolExecutor | None | bool = None
        self._scheduler: BackgroundLoop | None = None

    @property
    def db(self) -> Any:
        return self.rt.db

    # -- access logs ---------------------------------------------------------------

    async def ingest(self, caller: Caller, items: Sequence[Mapping[str, Any]],
                     idempotency_key: str | None) -> dict[str, Any]:
        """Store a batch of records, anchor its Merkle root; all or nothing.

        The records are parsed and hashed column by column (`access_log_columns`),
        written to the analytics store as one file, and only then is the batch
        row committed; a refused anchor removes both.
        """
        if caller.role not in (Role.TERMINAL, Role.PLATFORM):
            raise Forbidden("only terminal service nodes (or the platform) submit access logs")
        columns, root = await self._parse_and_hash(items)
        merchant = await self._batch_merchant(caller, columns)
        first, last = min(columns.time), max(columns.time)
        batch_id: int | None = None
        try:
            async with self.db.transaction() as s:
                batch = AccessLogBatch(submitter_id=caller.id, merchant=merchant,
                                       merkle_root="0x" + root.hex(), record_count=len(columns),
                                       first_time=first, last_time=last, status="pending")
                s.add(batch)
                await s.flush()
                batch_id = batch.id
                await asyncio.to_thread(self.store.write, batch_id, columns)
        except BaseException:
            if batch_id is not None:  # the file may exist while its row never committed
                await asyncio.to_thread(self.store.remove, batch_id)
            raise
        call = Call("marketing", "anchor_logs_batch",
                    item=((batch_id, merchant or ZERO, root, len(columns), first, last),),
                    kind=f"anchor {len(columns)} access logs")
        try:
            op = await self.rt.gateway.submit(
                await self.rt.participants.signer(caller.id), call,
                op_key=platform_key("anchor-logs", batch_id))
        except ContractRevert:
            await self._forget_batch(batch_id)
            raise
        async with self.db.transaction() as s:
            await s.execute(update(AccessLogBatch).where(AccessLogBatch.id == batch_id).values(
                status="anchored", tx_hash=op.tx_hash, block_number=op.block_number))
        await self.rt.indexer.wait_for(op.block_number)
        return {"batch_id": batch_id, "merkle_root": "0x" + root.hex(),
                "record_count": len(columns), "first_time": views.iso(first),
                "last_time": views.iso(last), "merchant": merchant,
                "anchor_tx": op.tx_hash, **_evidence(op)}

    async def _parse_and_hash(self, items: Sequence[Mapping[str, Any]]
                              ) -> tuple[RecordColumns, bytes]:
        """The batch's columns and Merkle root, computed off the event loop.

        A large batch goes to a worker process: parsing and hashing are pure
        Python and the GIL would serialise them in threads, so two batches in
        flight use both cores (pickling costs the loop ~40 ms per 50,000
        records, against ~300 ms of work it no longer does).
        """
        if (not isinstance(items, list) or len(items) < POOL_MIN_RECORDS
                or self._workers is False):
            return await asyncio.to_thread(columnar.parse_and_hash, items, self.key)
        if not isinstance(self._workers, ProcessPoolExecutor):
            # Workers die with this process even when it is killed (they would
            # wait for work forever); started from the event loop's thread.
            self._workers = ProcessPoolExecutor(
                max_workers=min(2, os.cpu_count() or 1),
                mp_context=multiprocessing.get_context("spawn"),  # no fork of a threaded loop
                initializer=supervision.die_with_parent, initargs=(os.getpid(),))
        try:
            outcome = await asyncio.get_running_loop().run_in_executor(
                self._workers, columnar.parse_and_hash_plain, items, self.key)
        except BrokenProcessPool:
            # E.g. a __main__ without the `if __name__ == "__main__"` guard that
            # spawning needs: slower in a thread, but never refused.
            log.warning("access-log worker processes failed; parsing in threads from now on")
            self._workers = False
            return await asyncio.to_thread(columnar.parse_and_hash, items, self.key)
        if isinstance(outcome[0], str):  # an InvalidInput, carried as (message, field)
            raise InvalidInput(outcome[0], field=outcome[1])
        return outcome  # type: ignore[return-value]

    async def _batch_merchant(self, caller: Caller, columns: RecordColumns) -> str | None:
        """The merchant address the anchor names; checks every record's merchant."""
        numbers = set(columns.merchant)
        if caller.role == Role.TERMINAL:
            assert caller.merchant_id is not None
            own = (await self.rt.participants.get(caller.merchant_id)).address
            number = merchant_number(own)
            if numbers != {number}:
                i = next(i for i, m in enumerate(columns.merchant) if m != number)
                raise InvalidInput(
                    f"record {i}: a terminal submits logs of its own merchant "
                    f"(number {number}) only", field=f"records.{i}.merchant")
            return own  # type: ignore[no-any-return]
        known = await self.merchants_by_number()
        if not numbers <= known.keys():
            i = next(i for i, m in enumerate(columns.merchant) if m not in known)
            raise InvalidInput(f"record {i}: no merchant has number {columns.merchant[i]}",
                               field=f"records.{i}.merchant")
        return known[numbers.pop()] if len(numbers) == 1 else None

    async def merchants_by_number(self) -> dict[int, str]:
        """Every merchant's address by its merchant number."""
        async with self.db.session() as s:
            addresses = (await s.execute(select(Participant.address).where(
                Participant.role == int(Role.MERCHANT)))).scalars().all()
        return {merchant_number(a): a for a in addresses}

    async def _forget_batch(self, batch_id: int) -> None:
        async with self.db.transaction() as s:
            await s.execute(delete(AccessLogBatch).where(AccessLogBatch.id == batch_id))
        await asyncio.to_thread(self.store.remove, batch_id)

    # -- reporting rules -------------------------------------------------------------

    async def set_rules(self, caller: Caller, merchant_id: str, document: Mapping[str, Any],
                        idempotency_key: str | None) -> dict[str, Any]:
        """Validate a merchant's rules and store them on chain as a new version."""
        await self._own_merchant(caller, merchant_id, "sets its reporting rules")
        # A periodic rule without a start starts at the next period boundary:
        # the start goes into the JSON and the contract's schedule alike.
        rules = ind.with_start(ind.rules_from_json(document), int(time.time()))
        encoded = ind.rules_to_json(rules)
        if len(encoded) > MAX_RULES_BYTES:
            raise InvalidInput(f"the rules take {len(encoded)} bytes; at most "
                               f"{MAX_RULES_BYTES}", field="rules")
        # A rule with the merchant's own indicators commits to their hash.
        definitions = await own_indicators.rule_definitions(self.db, caller.address, rules)
        # Saved before the chain call: a hash on chain never lacks its definitions.
        await own_indicators.stage(self.db, caller.address, definitions)
        call = Call("marketing", "set_reporting_rules", fixed=(encoded, ind.schedules(rules)),
                    kind="set reporting rules") if not any(definitions) else Call(
            "marketing", "set_reporting_rules_with_indicators", fixed=(
                encoded, ind.schedules(rules),
                [own_indicators.lang.definitions_hash(d) for d in definitions]),
            kind="set reporting rules")
        op = await self._submit(caller, call, idempotency_key, "rules")
        events = await op.events()
        version = next(int(e.args["version"]) for e in events if e.name == "ReportingRulesSet")
        # From the hashes the chain recorded (a retry's library may have changed since).
        await own_indicators.record_committed(self.db, caller.address,
                                              own_indicators.commitments(events))
        await self.rt.indexer.wait_for(op.block_number)
        return {**await views.rules(self.db, caller.address), "version": version,
                **_evidence(op)}

    # -- marketing info ----------------------------------------------------------------

    async def update_info(self, caller: Caller, merchant_id: str, request: MarketingInfoRequest,
                          idempotency_key: str | None) -> dict[str, Any]:
        """Publish a new version of the merchant's marketing info; current at once."""
        await self._own_merchant(caller, merchant_id, "updates its marketing info")
        valid_from = _epoch(request.valid_from, "valid_from")
        valid_until = _epoch(request.valid_until, "valid_until")
        if valid_until <= valid_from:
            raise InvalidInput("must be after valid_from", field="valid_until")
        if valid_until <= int(time.time()):
            raise InvalidInput("must be in the future", field="valid_until")
        encoded = ind.canonical_json(dict(request.content))
        if len(encoded) > MAX_INFO_BYTES:
            raise InvalidInput(f"the marketing info takes {len(encoded)} bytes; at most "
                               f"{MAX_INFO_BYTES}", field="description")
        op = await self._submit(caller, Call("marketing", "update_marketing_info",
                                             fixed=(encoded, valid_from, valid_until),
                                             kind="update marketing info"),
                                idempotency_key, "info")
        version = next(int(e.args["version"]) for e in await op.events()
                       if e.name == "MarketingInfoUpdated")
        await self.rt.indexer.wait_for(op.block_number)
        return {**await views.marketing_info(self.db, caller.address), "version": version,
                **_evidence(op)}

    # -- the report scheduler ----------------------------------------------------------

    def start(self, interval: float, delivery_interval: float) -> None:
        """Evaluate rules every `interval` s and deliver webhooks every `delivery_interval` s."""
        # A failed round (a node restart, a DB hiccup) is logged; the next one retries.
        self._scheduler = BackgroundLoop("marketing report scheduler", self.tick, interval,
                                         logger=log,
                                         failed="marketing report round failed; retrying")
        self._scheduler.start()
        self.webhooks.start(delivery_interval)

    async def stop(self) -> None:
        if isinstance(self._workers, ProcessPoolExecutor):
            self._workers.shutdown(wait=False, cancel_futures=True)
            self._workers = None
        await self.webhooks.stop()
        if self._scheduler is not None:
            await self._scheduler.stop()
            self._scheduler = None

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

    # -- helpers -----------------------------------------------------------------------

    async def _own_merchant(self, caller: Caller, merchant_id: str, what: str) -> None:
        if caller.role != Role.MERCHANT:
            raise Forbidden(f"only a merchant {what}")
        if caller.id != merchant_id:
            raise Forbidden(f"a merchant {what} only for itself", field="id")

    async def _submit(self, caller: Caller, call: Call, idempotency_key: str | None,
                      what: str) -> OpResult:
        return await self.rt.gateway.submit(  # type: ignore[no-any-return]
            await self.rt.participants.signer(caller.id), call,
            op_key=op_key(caller.id, idempotency_key, what))


async def merchant_of(runtime: Any, merchant_id: str) -> Participant:
    """The merchant participant named by a path id, or NotFound."""
    try:
        row = await runtime.participants.get(merchant_id)
    except NotFound:
        raise NotFound(f"merchant {merchant_id} does not exist", field="id") from None
    if row.role != Role.MERCHANT:
        raise NotFound(f"participant {merchant_id} is not a merchant", field="id")
    return row  # type: ignore[no-any-return]


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


def _epoch(value: datetime, field: str) -> int:
    if value.tzinfo is None:
        raise InvalidInput("give a time zone (e.g. Z)", field=field)
    return int(value.timestamp())


def _hex(value: str | bytes) -> str:
    return value if isinstance(value, str) else "0x" + value.hex()


def _evidence(op: OpResult) -> dict[str, Any]:
    return {"tx_hash": op.tx_hash, "block_number": op.block_number}
