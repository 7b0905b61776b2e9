"""The notification watch: what no event announces, looked for now and then.

- Coupons about to expire: an edition whose coupons end (`valid_until`) within
  `EXPIRY_WINDOW` while some are still active; one notification per edition,
  so each of its coupons is announced once (they all end together). Promotion
  coupons have no end on chain (only their consents do): nothing to announce.
- A budget nearly spent: a merchant's incentive cap (`incentive_caps.py`) with
  at most `BUDGET_LEFT_PCT` % of it left on chain; once per cap the merchant
  set (a new cap may be announced again).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import func, select

from couponchain.loops import BackgroundLoop
from couponchain.services.notifications import BUDGET_LOW, COUPONS_EXPIRING, Pending, record
from couponchain.store.models import CouponRecord, EditionRecord, IncentiveCap, Notification

log = logging.getLogger(__name__)

#: Seconds ahead a coupon's end is announced.
EXPIRY_WINDOW = 3 * 86_400
#: A cap with this share (percent) or less left is nearly spent.
BUDGET_LEFT_PCT = 10
ACTIVE = 1


def _expiring_key(edition_id: int) -> str:
    return f"{COUPONS_EXPIRING}:edition:{edition_id}"


def _budget_key(cap: IncentiveCap) -> str:
    return f"{BUDGET_LOW}:{cap.merchant}:{cap.tx_hash}"


class NotificationWatch:
    """Looks for expiring coupons and low budgets (`look`), or in the background."""

    def __init__(self, db: Any, cap_left: Callable[[str], Awaitable[int]]) -> None:
        self.db = db
        self.cap_left = cap_left
        self._loop: BackgroundLoop | None = None

    def start(self, interval: float) -> None:
        self._loop = BackgroundLoop("notification watch", self.look, interval, logger=log,
                                    failed="looking for notifications failed; retrying")
        self._loop.start()

    async def stop(self) -> None:
        if self._loop is not None:
            await self._loop.stop()
            self._loop = None

    async def look(self, now: int | None = None) -> int:
        """One look at `now` (default: the clock); returns how many notifications it made."""
        now = int(time.time()) if now is None else now
        items = await self._expiring(now) + await self._budgets()
        if not items:
            return 0
        return int(await self.db.write(lambda s: record(s, items)))

    async def _expiring(self, now: int) -> list[Pending]:
        # The editions ending soon first (few), then their active coupons only: the
        # coupons table may hold millions of rows.
        async with self.db.session() as s:
            editions = {e.id: e for e in (await s.execute(select(EditionRecord).where(
                EditionRecord.valid_until > now,
                EditionRecord.valid_until <= now + EXPIRY_WINDOW))).scalars()}
            if not editions:
                return []
            done = set((await s.execute(select(Notification.dedupe).where(
                Notification.dedupe.in_([_expiring_key(i) for i in editions])))).scalars())
            todo = [i for i in editions if _expiring_key(i) not in done]
            if not todo:
                return []
            active = dict((await s.execute(
                select(CouponRecord.edition_id, func.count()).where(
                    CouponRecord.edition_id.in_(todo), CouponRecord.status == ACTIVE)
                .group_by(CouponRecord.edition_id))).all())
        return [Pending(editions[i].merchant, COUPONS_EXPIRING, _expiring_key(i), {
            "edition_id": i, "title": editions[i].title,
            "valid_until": editions[i].valid_until, "coupons": int(n)})
            for i, n in active.items()]

    async def _budgets(self) -> list[Pending]:
        async with self.db.session() as s:
            caps = (await s.execute(select(IncentiveCap))).scalars().all()
            done = set((await s.execute(select(Notification.dedupe).where(
                Notification.kind == BUDGET_LOW))).scalars())
        items = []
        for cap in caps:
            total = int(cap.cap)
            if total <= 0 or _budget_key(cap) in done:
                continue  # nothing to spend, or told already: no chain read
            left = await self.cap_left(cap.merchant)
            if left * 100 <= total * BUDGET_LEFT_PCT:
                items.append(Pending(cap.merchant, BUDGET_LOW, _budget_key(cap),
                                     {"cap": str(total), "left": str(left)}))
        return items
