"""Pushing notifications to merchants' webhooks, signed, with retries.

The same webhook as the reports' (`marketing_webhooks.py`): the merchant's URL
and secret, the address policy checked before each attempt, the signature
(`X-CouponChain-Signature: sha256=<hex HMAC-SHA256 of the raw body>`), the
backoff and the bounded attempts, and the failure classes in the log. Only the
rows differ: a notification carries its own delivery state. The receiver may
use `X-CouponChain-Notification` to ignore one it already has.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from typing import Any

import httpx
from sqlalchemy import select

from couponchain.services.marketing_webhooks import (
    SIGNATURE_HEADER,
    DuePushes,
    WebhookDeliverer,
    backoff,
    sign,
)
from couponchain.services.notifications import public
from couponchain.store.models import MarketingWebhook, Notification

log = logging.getLogger(__name__)

NOTIFICATION_HEADER = "X-CouponChain-Notification"


def body_of(row: Notification) -> bytes:
    """The webhook body of a notification: its public JSON, keys sorted."""
    item = public(row)
    item.pop("read")
    item.pop("delivery")
    return json.dumps(item, sort_keys=True, separators=(",", ":")).encode()


class NotificationDeliverer(DuePushes):
    """Attempts due notification pushes through the reports' webhook mechanism."""

    loop_name = "notification webhooks"
    failed = "notification delivery failed; retrying"
    logger = log

    def __init__(self, db: Any, vault: Any, settings: Any, webhooks: WebhookDeliverer) -> None:
        super().__init__()
        self.db, self.vault, self.settings, self.webhooks = db, vault, settings, webhooks

    @property
    def push_settings(self) -> Any:
        return self.settings

    async def _due(self) -> Sequence[int]:
        async with self.db.session() as s:
            return (await s.execute(select(Notification.id).where(
                Notification.delivery == "pending",
                Notification.next_attempt_at <= time.time())
                .order_by(Notification.id).limit(100))).scalars().all()

    async def _attempt(self, http: httpx.AsyncClient, notification_id: int) -> bool:
        async with self.db.session() as s:
            row = await s.get(Notification, notification_id)
            hook = await s.get(MarketingWebhook, row.merchant_id)
            body = body_of(row)
        if hook is None:  # the webhook was removed since: nothing to push to
            status_code, error, url = None, None, None
        else:
            url = hook.url
            secret = self.vault.decrypt(hook.secret).decode()
            status_code, error = await self.webhooks.post(http, url, body, {
                "Content-Type": "application/json", SIGNATURE_HEADER: sign(secret, body),
                NOTIFICATION_HEADER: str(notification_id)})
        now = time.time()
        async with self.db.transaction() as s:
            row = await s.get(Notification, notification_id)
            if hook is None:
                row.delivery = None
                return False
            row.attempts += 1
            row.log = [*row.log, {"at": int(now), "url": url, "status_code": status_code,
                                  "error": error}]
            if error is None:
                row.delivery, row.delivered_at = "delivered", int(now)
            elif row.attempts >= self.settings.webhook_max_attempts:
                row.delivery = "failed"
            else:
                row.next_attempt_at = now + backoff(row.attempts, self.settings.webhook_retry_base,
                                                    self.settings.webhook_retry_max_delay)
        return error is None
