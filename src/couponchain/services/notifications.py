"""Notifications for merchants: what happened that a merchant cares about (issue 25).

A notification is a durable row per merchant, written in the transaction that
learnt of it: the indexer's projection of a prize awarded or claimed and of a
report published (`indexer/notifications.py`), and the notification watch for
coupons about to expire and a budget nearly spent (`notifications_watch.py`).
Each kind is switchable per merchant (on unless switched off); a kind switched
off is not recorded at all. `dedupe` names what a notification is about
("prize_awarded:12"), so an event replayed after a rewind notifies once.

The console lists them (`SPEC`, cursor paging like every list), marks them
read and streams new ones (server-sent events, `stream`); a merchant with a
webhook also gets each one pushed, signed (`notifications_delivery.py`).

Usage (inside a projection, a sync session)::

    record(session, [Pending("0xMerchant…", PRIZE_AWARDED, "prize_awarded:12", {...})])
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import Session

from couponchain.domain.roles import Role
from couponchain.errors import Forbidden, InvalidInput
from couponchain.services.listing import ListSpec, exact
from couponchain.services.participants import Caller
from couponchain.store.models import (
    MarketingWebhook,
    Notification,
    NotificationSetting,
    Participant,
)

PRIZE_AWARDED, PRIZE_CLAIMED = "prize_awarded", "prize_claimed"
COUPONS_EXPIRING, BUDGET_LOW, REPORT_READY = "coupons_expiring", "budget_low", "report_ready"
#: Every kind, in the order the settings page shows them.
KINDS = (PRIZE_AWARDED, PRIZE_CLAIMED, COUPONS_EXPIRING, BUDGET_LOW, REPORT_READY)
#: Events older than this (seconds) notify nobody: after an upgrade, the first rebuild
#: of the read models replays every event since the first block, and those that came
#: before notifications existed must not flood the merchants (nor their webhooks).
FRESH_FOR = 86_400
#: Seconds between two looks for new notifications while a stream is open.
STREAM_POLL = 1.0
#: Seconds between two keep-alive comments on a quiet stream (proxies close idle ones).
STREAM_KEEPALIVE = 15.0


@dataclass(frozen=True)
class Pending:
    """A notification to record: for the merchant at `merchant` (its chain address)."""

    merchant: str
    kind: str
    dedupe: str
    data: dict[str, Any]


def fresh(timestamp: int, now: float | None = None) -> bool:
    """Whether an event at `timestamp` is recent enough to notify (`FRESH_FOR`)."""
    return timestamp >= (time.time() if now is None else now) - FRESH_FOR


def record(session: Session, items: Sequence[Pending]) -> int:
    """Add the notifications not recorded before, for merchants that did not switch
    their kind off (a handful of statements for any number); returns how many."""
    if not items:
        return 0
    addresses = {i.merchant for i in items}
    ids = dict(session.execute(select(Participant.address, Participant.id).where(
        Participant.address.in_(addresses), Participant.role == int(Role.MERCHANT))).all())
    items = [i for i in items if i.merchant in ids]
    if not items:
        return 0
    merchants = {ids[i.merchant] for i in items}
    off = set(session.execute(select(NotificationSetting.merchant_id, NotificationSetting.kind)
                              .where(NotificationSetting.merchant_id.in_(merchants),
                                     NotificationSetting.enabled.is_(False))).all())
    seen = set(session.execute(select(Notification.dedupe).where(
        Notification.dedupe.in_({i.dedupe for i in items}))).scalars())
    hooked = set(session.execute(select(MarketingWebhook.merchant_id).where(
        MarketingWebhook.merchant_id.in_(merchants))).scalars())
    now = int(time.time())
    rows = []
    for item in items:
        merchant_id = ids[item.merchant]
        if (merchant_id, item.kind) in off or item.dedupe in seen:
            continue
        seen.add(item.dedupe)
        push = pushed(item.kind, merchant_id in hooked)
        rows.append(Notification(
            merchant_id=merchant_id, kind=item.kind, dedupe=item.dedupe, data=item.data,
            created_at=now, delivery="pending" if push else None,
            attempts=0, next_attempt_at=0.0, log=[]))
    session.add_all(rows)
    return len(rows)


def pushed(kind: str, hooked: bool) -> bool:
    """Whether a notification of `kind` goes to the merchant's webhook: every kind when
    it has one, except a report ready, whose webhook push is the report itself
    (`marketing_webhooks.py`): one event, one push."""
    return hooked and kind != REPORT_READY


def public(row: Notification) -> dict[str, Any]:
    """A notification as the API, the stream and the webhook show it."""
    return {"id": row.id, "merchant_id": row.merchant_id, "kind": row.kind, "data": row.data,
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(row.created_at)),
            "read": row.read_at is not None, "delivery": row.delivery}


def own(caller: Caller, merchant_id: str) -> None:
    """A merchant reads and changes its own notifications only."""
    if caller.role != Role.MERCHANT or caller.id != merchant_id:
        raise Forbidden("a merchant reads its own notifications only", field="merchant_id")


def scope(merchant_id: str) -> Select[Any]:
    """The merchant's notifications, as the list's base query."""
    return select(Notification).where(Notification.merchant_id == merchant_id)


async def _render(rows: Sequence[Any]) -> list[dict[str, Any]]:
    return [public(r) for r in rows]


#: The notifications as a list, newest first: search by kind; read or unread.
SPEC = ListSpec(
    name="notifications", key=Notification.id, render=_render, descending=True,
    search=(exact(Notification.kind),),
    statuses={"unread": Notification.read_at.is_(None),
              "read": Notification.read_at.is_not(None)},
    date=Notification.created_at)


class Notifications:
    """The merchant's side: settings, unread count, marking read, the live stream."""

    def __init__(self, db: Any) -> None:
        self.db = db
        #: Set when the platform stops: open streams end (a server shutting down
        #: waits for its open responses).
        self.closed = asyncio.Event()

    def close(self) -> None:
        """End every open stream."""
        self.closed.set()

    async def settings(self, merchant_id: str) -> dict[str, bool]:
        """Each kind on or off for the merchant (on unless switched off)."""
        async with self.db.session() as s:
            rows = dict((await s.execute(select(
                NotificationSetting.kind, NotificationSetting.enabled).where(
                NotificationSetting.merchant_id == merchant_id))).all())
        return {kind: bool(rows.get(kind, True)) for kind in KINDS}

    async def change(self, merchant_id: str, switches: dict[str, bool]) -> dict[str, bool]:
        """Switch kinds on or off; the kinds not named stay as they are."""
        for kind in switches:
            if kind not in KINDS:
                raise InvalidInput(f"is not a notification kind (one of {', '.join(KINDS)})",
                                   field=f"kinds.{kind}")
        async with self.db.transaction() as s:
            for kind, enabled in switches.items():
                row = await s.get(NotificationSetting, (merchant_id, kind))
                if row is None:
                    s.add(NotificationSetting(merchant_id=merchant_id, kind=kind,
                                              enabled=enabled))
                else:
                    row.enabled = enabled
        return await self.settings(merchant_id)

    async def unread(self, merchant_id: str) -> int:
        """How many of the merchant's notifications are unread."""
        async with self.db.session() as s:
            return int((await s.execute(select(func.count()).select_from(Notification).where(
                Notification.merchant_id == merchant_id,
                Notification.read_at.is_(None)))).scalar_one())

    async def mark_read(self, merchant_id: str, ids: list[int] | None) -> int:
        """Mark the given notifications (all when None) read; returns how many changed."""
        query = update(Notification).where(Notification.merchant_id == merchant_id,
                                           Notification.read_at.is_(None))
        if ids is not None:
            query = query.where(Notification.id.in_(ids))
        async with self.db.transaction() as s:
            result = await s.execute(query.values(read_at=int(time.time())))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def latest_id(self, merchant_id: str) -> int:
        """The id of the merchant's newest notification (0 for none)."""
        async with self.db.session() as s:
            return int((await s.execute(select(func.coalesce(func.max(Notification.id), 0))
                                        .where(Notification.merchant_id == merchant_id)))
                       .scalar_one())

    async def after(self, merchant_id: str, last: int, limit: int = 100) -> list[dict[str, Any]]:
        """The merchant's notifications after id `last`, oldest first."""
        async with self.db.session() as s:
            rows = (await s.execute(select(Notification).where(
                Notification.merchant_id == merchant_id, Notification.id > last)
                .order_by(Notification.id).limit(limit))).scalars().all()
        return [public(r) for r in rows]

    async def stream(self, merchant_id: str, last: int, seconds: float,
                     disconnected: Any) -> AsyncIterator[str]:
        """Server-sent events: each notification after id `last` as it is recorded
        (`id:` its id, so a reconnecting EventSource resumes after it), for up to
        `seconds` (or until the platform stops); then the stream ends and the
        browser reconnects.

        The stream looks at the table every `STREAM_POLL` s rather than listening
        in-process: the notification may be recorded by another process (the
        indexer leader, with PostgreSQL)."""
        yield f"retry: 3000\nevent: ready\ndata: {json.dumps({'last_id': last})}\n\n"
        ends = time.monotonic() + seconds
        quiet_since = time.monotonic()
        while (time.monotonic() < ends and not self.closed.is_set()
               and not await disconnected()):
            for item in await self.after(merchant_id, last):
                last = item["id"]
                quiet_since = time.monotonic()
                yield f"id: {last}\nevent: notification\ndata: {json.dumps(item)}\n\n"
            if time.monotonic() - quiet_since >= STREAM_KEEPALIVE:
                quiet_since = time.monotonic()
                yield ": keep-alive\n\n"
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.closed.wait(),
                                       min(STREAM_POLL, max(0.0, ends - time.monotonic())))
