"""Contract-driven marketing: access logs, reporting rules, reports, marketing info (DESIGN §2.5).

The marketing contract is the authority for what was anchored, which rules a
merchant set, which reports were published and which marketing info is
current. This service keeps the records behind the anchors (visitor IPs only
as keyed hashes), computes the indicators over them
(`store/analytics.py`: Parquet files aggregated by DuckDB), runs the report
scheduler and hands fired reports to the webhook deliverer. One module per
job: access-log batches in `marketing_access_logs.py`, the scheduler in
`marketing_scheduler.py`, webhooks in `marketing_webhooks.py`; this one holds
them together and writes the merchant's rules and marketing info. Reads come
from `services/marketing_views.py`.

A merchant is named inside access logs by its *merchant number*: the top 63
bits of its chain address, so terminals, the platform and any auditor derive
it without asking anyone.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from couponchain.chain.gateway import Call, OpResult
from couponchain.domain import indicators as ind
from couponchain.domain.op_keys import op_key
from couponchain.domain.roles import Role
from couponchain.errors import Forbidden, InvalidInput, NotFound
from couponchain.services import marketing_indicators as own_indicators
from couponchain.services import marketing_views as views
from couponchain.services.marketing_access_logs import AccessLogIngest
from couponchain.services.marketing_scheduler import ReportScheduler
from couponchain.services.marketing_webhooks import WebhookDeliverer
from couponchain.services.participants import Caller
from couponchain.store.analytics import AccessLogStore
from couponchain.store.models import Participant

MAX_RULES_BYTES = 4096
MAX_INFO_BYTES = 8192


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
        #: The access-log records (the SQL store keeps the batches' rows only).
        self.store = AccessLogStore(runtime.settings.data_dir / "access-logs")
        self.webhooks = WebhookDeliverer(runtime)
        self.access_logs = AccessLogIngest(runtime, self.store)
        self.scheduler = ReportScheduler(runtime, self.store, self.webhooks)

    @property
    def db(self) -> Any:
        return self.rt.db

    @property
    def key(self) -> bytes:
        """The visitor pseudonym key, a stable platform secret (loaded at start)."""
        return self.access_logs.key

    @key.setter
    def key(self, value: bytes) -> None:
        self.access_logs.key = value

    async def ingest(self, caller: Caller, items: Sequence[Mapping[str, Any]],
                     idempotency_key: str | None) -> dict[str, Any]:
        """Store a batch of access-log records and anchor its Merkle root (all or nothing)."""
        return await self.access_logs.ingest(caller, items, idempotency_key)

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
        self.scheduler.start(interval)
        self.webhooks.start(delivery_interval)

    async def stop(self) -> None:
        """Stop the parsing workers, the webhook deliverer and the scheduler."""
        self.access_logs.stop()
        await self.webhooks.stop()
        await self.scheduler.stop()

    async def tick(self, now: int | None = None) -> list[int]:
        """One scheduler round (`ReportScheduler.tick`); the ids of the reports it made."""
        return await self.scheduler.tick(now)

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


def _epoch(value: datetime, field: str) -> int:
    if value.tzinfo is None:
        raise InvalidInput("give a time zone (e.g. Z)", field=field)
    return int(value.timestamp())


def _evidence(op: OpResult) -> dict[str, Any]:
    return {"tx_hash": op.tx_hash, "block_number": op.block_number}
