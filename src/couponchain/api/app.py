"""The FastAPI application."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI

from couponchain import __version__
from couponchain.api import links, openapi_extras, problems
from couponchain.api.audit_hook import AuditHook
from couponchain.api.deps import read_models_whole
from couponchain.api.idempotency import Idempotency
from couponchain.api.limits import Guard
from couponchain.api.routes import (
    audit,
    credentials,
    customer_lookup,
    customer_movements,
    docs,
    edition_changes,
    edition_codes,
    editions,
    health,
    key_pages,
    marketing,
    marketing_indicators,
    marketing_pages,
    node_relay,
    notifications,
    pages,
    participant_standing,
    participants,
    payouts,
    prize_changes,
    prize_lists,
    prize_pages,
    prizes,
    promotion_pages,
    promotions,
    proofs,
    referral_pages,
    referrals,
    scans,
    self_custody,
    self_custody_pages,
    self_custody_transfers,
    session_accounts,
    session_manage,
    session_pages,
    topups,
)
from couponchain.api.security_headers import SecurityHeaders
from couponchain.runtime import Runtime

DESCRIPTION = """Verifiable coupons and promotions on an EVM ledger.

Authenticate with `Authorization: Bearer <API key>` (keys are made, listed and
revoked under /v1/api-keys; pages sign in with a session cookie from
/v1/sessions, or people sign in with a passkey under /v1/accounts, and send
`X-CSRF-Token` on writes). Every write accepts an
`Idempotency-Key` header; errors are RFC 9457 problem details."""


def create_app(runtime: Runtime, *, manage_runtime: bool = True) -> FastAPI:
    """The API over `runtime`; with `manage_runtime` the app starts and stops it."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if manage_runtime:
            await runtime.start()
        try:
            yield
        finally:
            if manage_runtime:
                await runtime.stop()

    settings = runtime.settings
    # Request bodies are bounded per route (api.bounds), before any dependency runs.
    # /docs and /redoc are served from node_modules by routes/docs.py, not from a CDN.
    app = FastAPI(title="CouponChain", version=__version__, description=DESCRIPTION,
                  lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.runtime = runtime
    app.state.idempotency = Idempotency(runtime.db, runtime.vault)
    problems.install(app)
    # Inside the Guard: a write it refuses never reached a route, so has no caller to log.
    app.add_middleware(AuditHook)
    app.add_middleware(Guard, rate=settings.write_rate_per_second, burst=settings.write_burst)
    # Outermost: the Guard's own refusals (429) carry the headers too.
    app.add_middleware(SecurityHeaders)
    # Every API call but health waits for whole read models after a rewind.
    api: dict[str, Any] = {"responses": problems.PROBLEM_RESPONSES,
                           "dependencies": [Depends(read_models_whole)]}
    app.include_router(participants.router, **api)
    app.include_router(participant_standing.router, **api)
    app.include_router(credentials.router, **api)
    app.include_router(editions.router, **api)
    app.include_router(edition_codes.router, **api)
    app.include_router(edition_changes.router, **api)
    app.include_router(promotions.router, **api)
    app.include_router(payouts.router, **api)
    app.include_router(prizes.router, **api)
    app.include_router(prize_changes.router, **api)
    app.include_router(prize_lists.router, **api)
    app.include_router(referrals.router, **api)
    app.include_router(marketing.router, **api)
    app.include_router(marketing_indicators.router, **api)
    app.include_router(scans.router, **api)
    app.include_router(proofs.router, **api)
    app.include_router(audit.router, **api)
    app.include_router(session_accounts.router, **api)
    app.include_router(session_manage.router, **api)
    app.include_router(health.router, responses=problems.PROBLEM_RESPONSES)
    app.include_router(node_relay.router, responses=problems.PROBLEM_RESPONSES)
    app.include_router(pages.router)
    app.include_router(key_pages.router)
    app.include_router(promotion_pages.router)
    app.include_router(prize_pages.router)
    app.include_router(referral_pages.router)
    app.include_router(marketing_pages.router)
    app.include_router(self_custody.router, **api)
    app.include_router(self_custody_pages.router)
    app.include_router(self_custody_transfers.router, **api)
    app.include_router(docs.router)
    app.include_router(audit.pages)
    app.include_router(session_pages.router)
    app.include_router(topups.router, **api)
    app.include_router(customer_lookup.router, **api)
    app.include_router(customer_movements.router, **api)
    app.include_router(notifications.router, **api)
    app.include_router(notifications.pages)
    pages.mount_static(app)
    _document_links(app)
    return app


def _document_links(app: FastAPI) -> None:
    """Generate the OpenAPI document once, with the links between operations, the API
    key scheme and the example bodies added."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()  # cached in app.openapi_schema, edited in place
            links.add_links(document)
            openapi_extras.describe(document)
        assert app.openapi_schema is not None
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
