"""Pushing published reports to merchants: signed webhook POSTs with retries.

Each report is delivered at most once: its delivery row turns `delivered` on
the first 2xx answer and is never sent again. A failed attempt (an error
status, a refused connection, a timeout) is logged and retried after an
exponential backoff (`base * 2**(attempt - 1)`, capped), up to a bounded
number of attempts; then the delivery is `failed` and the report stays in the
merchant's inbox.

A webhook reaches public addresses only (`services/webhook_addresses.py`):
its host is checked when the URL is set and again before each attempt, which
connects to the address checked. An attempt's log entry says what happened
as a status code or a generic class (`FAILURES`), never a connection error's
text: that would tell a merchant which of the operator's ports answer.

The receiver verifies `X-CouponChain-Signature: sha256=<hex>`, the
HMAC-SHA256 of the raw body under the merchant's webhook secret, and may use
`X-CouponChain-Report` to ignore a report it already has.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from couponchain.domain.roles import Role
from couponchain.errors import Forbidden, InvalidInput
from couponchain.loops import BackgroundLoop
from couponchain.services.participants import Caller
from couponchain.services.webhook_addresses import AddressGuard, AddressRefused, Unresolvable
from couponchain.store.models import (
    MarketingDelivery,
    MarketingReport,
    MarketingWebhook,
    Participant,
)

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-CouponChain-Signature"
MIN_SECRET_LENGTH = 16
#: What a failed attempt's log entry may say besides `HTTP <status>`.
REFUSED, UNRESOLVED, TIMED_OUT, CONNECTION_FAILED = (
    "refused by address policy", "host did not resolve", "timed out", "connection failed")
FAILURES = (REFUSED, UNRESOLVED, TIMED_OUT, CONNECTION_FAILED)


def sign(secret: str, body: bytes) -> str:
    """The signature header's value for a body: `sha256=<hex HMAC-SHA256>`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def public_log(log: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A delivery log as merchants see it: an error other than a status or a
    generic class (an entry written before the address policy) reads as
    `connection failed`."""
    return [{**e, "error": e["error"] if e.get("error") is None or e["error"] in FAILURES
             or str(e["error"]).startswith("HTTP ") else CONNECTION_FAILED} for e in log]


def backoff(attempts: int, base: float, cap: float) -> float:
    """Seconds to wait after the `attempts`-th failed attempt."""
    return float(min(cap, base * 2 ** max(0, attempts - 1)))


async def attempt_each(settings: Any, due: Sequence[int],
                       attempt: Callable[[httpx.AsyncClient, int], Awaitable[bool]]) -> int:
    """Make each due push (`attempt(http, id)`) at once over one client, and return how
    many succeeded. The client takes no proxy from the environment (it would resolve
    the host itself), follows no redirect (one could point anywhere) and keeps no
    connection (a pinned one must not carry another host's request)."""
    if not due:
        return 0
    async with httpx.AsyncClient(
            timeout=settings.webhook_timeout, trust_env=False, follow_redirects=False,
            limits=httpx.Limits(max_keepalive_connections=0)) as http:
        results = await asyncio.gather(*[attempt(http, d) for d in due])
    return sum(results)


class DuePushes:
    """Pushes kept in a table and attempted when due, in a background loop: the
    reports' deliveries and the notifications share it. A subclass says which rows
    are due (`_due`) and how one is attempted (`_attempt`)."""

    #: The loop's name, and what it logs (and where) when a round fails.
    loop_name = "webhook pushes"
    failed = "webhook delivery round failed; retrying"
    logger = log

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._loop: BackgroundLoop | None = None

    @property
    def push_settings(self) -> Any:
        """The settings the pushes read (timeout, retries): the runtime's."""
        raise NotImplementedError

    def start(self, interval: float) -> None:
        """Attempt due pushes every `interval` s in the background."""
        self._loop = BackgroundLoop(self.loop_name, self.deliver_due, interval,
                                    logger=self.logger, failed=self.failed)
        self._loop.start()

    async def stop(self) -> None:
        """Stop pushing (the round in flight is cancelled)."""
        if self._loop is not None:
            await self._loop.stop()
            self._loop = None

    async def deliver_due(self) -> int:
        """Attempt every push whose time has come (100 at a time); returns how many
        succeeded."""
        async with self._lock:
            return await attempt_each(self.push_settings, await self._due(), self._attempt)

    async def _due(self) -> Sequence[int]:
        raise NotImplementedError

    async def _attempt(self, http: httpx.AsyncClient, push_id: int) -> bool:
        raise NotImplementedError


class WebhookDeliverer(DuePushes):
    """Webhook settings per merchant and the reports' delivery loop."""

    loop_name = "marketing webhooks"

    def __init__(self, runtime: Any) -> None:
        super().__init__()
        self.rt = runtime
        # The settings are read at each check: what the operator allows now counts.
        self.guard = AddressGuard(lambda: self.rt.settings.webhook_allow_hosts,
                                  lambda: self.rt.settings.webhook_timeout)
        _ = self.guard.allowed  # a bad allow-list fails at start, not at the first delivery

    @property
    def db(self) -> Any:
        return self.rt.db

    async def configure(self, caller: Caller, merchant_id: str, url: str,
                        secret: str | None) -> dict[str, Any]:
        """Set the merchant's webhook; the secret (given or generated) is shown once."""
        if caller.role != Role.MERCHANT or caller.id != merchant_id:
            raise Forbidden("a merchant sets its own webhook only", field="id")
        await self.guard.check(url)  # the address policy; raises naming `url`
        if secret is not None and len(secret) < MIN_SECRET_LENGTH:
            raise InvalidInput(f"must be at least {MIN_SECRET_LENGTH} characters",
                               field="secret")
        secret = secret or secrets.token_urlsafe(32)
        async with self.db.transaction() as s:
            row = await s.get(MarketingWebhook, merchant_id)
            if row is None:
                row = MarketingWebhook(merchant_id=merchant_id, url=url, secret=b"")
                s.add(row)
            row.url, row.secret = url, self.rt.vault.encrypt(secret.encode())
        return {"merchant_id": merchant_id, "url": url, "secret": secret,
                "signature_header": SIGNATURE_HEADER,
                "signature": "sha256=<hex HMAC-SHA256 of the raw body under the secret>"}

    async def queue(self, session: AsyncSession, report: MarketingReport) -> None:
        """Queue the push of a published report (inside the publishing transaction)."""
        merchant_id = (await session.execute(select(Participant.id).where(
            Participant.address == report.merchant))).scalar()
        if merchant_id is None or await session.get(MarketingWebhook, merchant_id) is None:
            return  # no webhook: the inbox alone
        session.add(MarketingDelivery(report_id=report.id, merchant_id=merchant_id,
                                      status="pending", attempts=0, next_attempt_at=0.0, log=[]))

    @property
    def push_settings(self) -> Any:
        return self.rt.settings

    async def _due(self) -> Sequence[int]:
        async with self.db.session() as s:
            return (await s.execute(select(MarketingDelivery.id).where(
                MarketingDelivery.status == "pending",
                MarketingDelivery.next_attempt_at <= time.time())
                .order_by(MarketingDelivery.id).limit(100))).scalars().all()

    async def _attempt(self, http: httpx.AsyncClient, delivery_id: int) -> bool:
        settings = self.rt.settings
        async with self.db.session() as s:
            delivery = await s.get(MarketingDelivery, delivery_id)
            report = await s.get(MarketingReport, delivery.report_id)
            hook = await s.get(MarketingWebhook, delivery.merchant_id)
        body = report.body.encode("utf-8")
        secret = self.rt.vault.decrypt(hook.secret).decode()
        status_code, error = await self.post(http, hook.url, body, {
            "Content-Type": "application/json", SIGNATURE_HEADER: sign(secret, body),
            "X-CouponChain-Report": str(report.id),
            "X-CouponChain-Delivery": str(delivery.id)})
        ok = error is None
        now = time.time()
        attempts = delivery.attempts + 1
        entry = {"at": int(now), "url": hook.url, "status_code": status_code, "error": error}
        async with self.db.transaction() as s:
            row = await s.get(MarketingDelivery, delivery_id)
            row.attempts, row.log = attempts, [*row.log, entry]
            if ok:
                row.status, row.delivered_at = "delivered", int(now)
            elif attempts >= settings.webhook_max_attempts:
                row.status = "failed"
            else:
                row.next_attempt_at = now + backoff(attempts, settings.webhook_retry_base,
                                                    settings.webhook_retry_max_delay)
        return ok

    async def post(self, http: httpx.AsyncClient, url: str, body: bytes,
                    headers: dict[str, str]) -> tuple[int | None, str | None]:
        """POST to the webhook's checked address: the status and None on a 2xx,
        else the status (if any) and what the log may say."""
        try:
            target = await self.guard.check(url)
        except AddressRefused:
            return None, REFUSED
        except Unresolvable:
            return None, UNRESOLVED
        except InvalidInput:  # stored before the rules of today: no longer a URL we send to
            return None, REFUSED
        args = target.request_args()
        try:
            # Streamed and not read: the receiver's answer body does not matter.
            async with http.stream("POST", args["url"], content=body,
                                   headers={**headers, **args["headers"]},
                                   extensions=args["extensions"]) as reply:
                status = reply.status_code
        except httpx.TimeoutException:
            return None, TIMED_OUT
        except httpx.HTTPError:
            return None, CONNECTION_FAILED
        return status, None if 200 <= status < 300 else f"HTTP {status}"
