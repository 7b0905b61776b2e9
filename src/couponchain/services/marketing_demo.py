"""Realistic demo access logs, by the million: for demos, the dashboard and the benchmark.

The stream imitates a merchant's visitors over the last `days` days:

- seasonality: sessions follow the hour of the day (quiet at night, peaks at
  lunch and in the evening) and the day of the week (busier weekends), with a
  slow upward trend over the period;
- returning visitors: a third of the sessions come from a visitor seen before
  (the same IP or account, the same favourite access method most of the time),
  so new vs returning and unique visitors are meaningful; 40% of visitors are
  logged in (their account counts them across devices);
- a funnel per session: one or more page views, some searches and clicks,
  then a coupon claim for some, a redemption for part of those (often hours
  later) and a purchase for most redemptions.

Deterministic for a seed. `demo_batches` yields submitted-shape records
(`{ip, account, time, merchant, method, operation}`) in batches, ready for
`POST /v1/access-logs` or `MarketingService.ingest`; `ingest_demo_logs` feeds
them to a service with a progress callback.
"""

from __future__ import annotations

import random
import time
from bisect import bisect_left
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from couponchain.domain.access_logs import MAX_BATCH_RECORDS

HOUR, DAY = 3600, 86_400
#: Relative sessions per hour of the day (local time = UTC + tz offset).
HOURLY = (2, 1, 1, 1, 1, 2, 4, 7, 9, 9, 10, 12, 15, 14, 11, 10, 10, 11, 14, 17, 18, 15, 9, 5)
#: Relative sessions per weekday, Monday first.
WEEKLY = (1.0, 0.95, 0.95, 1.0, 1.15, 1.4, 1.3)
METHODS = ("browser", "app", "desktop")
METHOD_WEIGHTS = (50, 35, 15)
RETURNING = 0.35
LOGGED_IN = 0.4
CLAIM, REDEEM, PURCHASE = 0.18, 0.45, 0.7


@dataclass(slots=True)
class _Visitor:
    ip: str
    account: str
    method: str


class _Stream:
    """The session generator behind `demo_records`."""

    def __init__(self, merchant: int, start: int, days: int, tz_offset: int, seed: int) -> None:
        self.rng = random.Random(seed)
        self.merchant, self.start, self.end = merchant, start, start + days * DAY
        self.visitors: list[_Visitor] = []
        # One weight per hour of the period: hour of day x weekday x a 30% trend.
        self.slots = range(days * 24)
        weights = []
        for slot in self.slots:
            local = start + slot * HOUR + tz_offset
            weekday = (local // DAY + 3) % 7  # 1970-01-01 was a Thursday
            weights.append(HOURLY[local // HOUR % 24] * WEEKLY[weekday]
                           * (1 + 0.3 * slot / max(1, len(self.slots))))
        self.cumulative = _cumulative(tuple(weights))

    def visitor(self) -> _Visitor:
        r = self.rng.random
        n = len(self.visitors)
        if n and r() < RETURNING:
            # Recent visitors come back more often than old ones.
            return self.visitors[n - 1 - min(n - 1, int(self.rng.expovariate(1 / 2000)))]
        if r() < 0.05:
            ip = f"2001:db8:{int(r() * 65536):x}::{1 + int(r() * 65535):x}"
        else:
            ip = (f"{_FIRST_OCTETS[int(r() * 5)]}.{int(r() * 256)}.{int(r() * 256)}."
                  f"{1 + int(r() * 254)}")
        account = f"member-{n}" if r() < LOGGED_IN else ""
        visitor = _Visitor(ip, account, _pick(METHODS, _METHOD_CUMULATIVE, r()))
        self.visitors.append(visitor)
        return visitor

    def session(self) -> list[dict[str, Any]]:
        r = self.rng.random
        who = self.visitor()
        slot = min(len(self.slots) - 1, bisect_left(self.cumulative, r()))
        t = self.start + slot * HOUR + int(r() * HOUR)
        method = who.method if r() < 0.9 else METHODS[int(r() * 3)]
        events = ["view"]
        while r() < 0.55:
            events.append(_pick(_BROWSING, _BROWSING_CUMULATIVE, r()))
        if r() < CLAIM:
            events.append("claim")
            if r() < REDEEM:
                events.append("redeem")
                if r() < PURCHASE:
                    events.append("purchase")
        out = []
        ip, account, merchant, end = who.ip, who.account, self.merchant, self.end
        for operation in events:
            # Redemptions happen at the till, often hours after the claim.
            t += (2 * HOUR + int(r() * 28 * HOUR)) if operation == "redeem" \
                else 5 + int(r() * 175)
            if t >= end:
                break
            out.append({"ip": ip, "account": account, "time": t, "merchant": merchant,
                        "method": method, "operation": operation})
        return out


_FIRST_OCTETS = (81, 93, 151, 176, 203)
_BROWSING = ("view", "search", "click", "share")


def _cumulative(weights: tuple[float, ...]) -> list[float]:
    total, acc, out = sum(weights), 0.0, []
    for w in weights:
        acc += w / total
        out.append(acc)
    out[-1] = 1.0
    return out


_METHOD_CUMULATIVE = _cumulative(METHOD_WEIGHTS)
_BROWSING_CUMULATIVE = _cumulative((6, 2, 3, 0.2))


def _pick(values: tuple[str, ...], cumulative: list[float], x: float) -> str:
    return values[bisect_left(cumulative, x)]


def demo_batches(merchant: int, records: int, *, days: int = 30, end: int | None = None,
                 batch_size: int = MAX_BATCH_RECORDS, tz_offset_minutes: int = 0,
                 seed: int = 7) -> Iterator[list[dict[str, Any]]]:
    """`records` demo records of merchant number `merchant`, over the `days` days
    before `end` (default: now, to the hour), in batches of `batch_size`."""
    if records < 0 or days < 1 or not 1 <= batch_size <= MAX_BATCH_RECORDS:
        raise ValueError("records >= 0, days >= 1 and 1 <= batch_size <= 50,000")
    end = (int(time.time()) // HOUR + 1) * HOUR if end is None else end
    stream = _Stream(merchant, end - days * DAY, days, tz_offset_minutes * 60, seed)
    batch: list[dict[str, Any]] = []
    made = 0
    while made < records:
        for record in stream.session():
            batch.append(record)
            made += 1
            if len(batch) == batch_size or made == records:
                yield batch
                batch = []
            if made == records:
                break


async def ingest_demo_logs(service: Any, caller: Any, merchant: int, records: int, *,
                           days: int = 30, end: int | None = None,
                           progress: Callable[[int], None] | None = None,
                           seed: int = 7) -> list[int]:
    """Generate and ingest demo logs through `service.ingest` (validated, stored,
    anchored like any terminal's); `progress(records so far)`. Returns the batch ids."""
    done, batches = 0, []
    for batch in demo_batches(merchant, records, days=days, end=end, seed=seed):
        made = await service.ingest(caller, batch, None)
        batches.append(made["batch_id"])
        done += len(batch)
        if progress is not None:
            progress(done)
    return batches
