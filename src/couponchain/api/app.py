"""The FastAPI application."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from couponchain import __version__
from couponchain.api import problems
from couponchain.api.idempotency import Idempotency
from couponchain.api.limits import Guard
from couponchain.api.routes import (
    editions,
    health,
    marketing,
    marketing_pages,
    pages,
    participants,
    payouts,
    prize_pages,
    prizes,
    promotion_pages,
    promotions,
    referral_pages,
    referrals,
    scans,
)
from couponchain.runtime import Runtime

DESCRIPTION = """Verifiable coupons and promotions on an EVM ledger.

Authenticate with `Authorization: Bearer <API key>`. Every write accepts an
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

    app = FastAPI(title="CouponChain", version=__version__, description=DESCRIPTION,
                  lifespan=lifespan)
    app.state.runtime = runtime
    app.state.idempotency = Idempotency(runtime.db, runtime.vault)
    problems.install(app)
    settings = runtime.settings
    app.add_middleware(Guard, max_bytes=settings.max_request_bytes,
                       rate=settings.write_rate_per_second, burst=settings.write_burst)
    app.include_router(participants.router, responses=problems.PROBLEM_RESPONSES)
    app.include_router(editions.router, responses=problems.PROBLEM_RESPONSES)
    app.include_router(promotions.router, responses=problems.PROBLEM_RESPONSES)
    app.include_router(payouts.router, responses=problems.PROBLEM_RESPONSES)
    app.include_router(prizes.router, responses=problems.PROBLEM_RESPONSES)
    app.include_router(referrals.router, responses=problems.PROBLEM_RESPONSES)
    app.include_router(marketing.router, responses=problems.PROBLEM_RESPONSES)
    app.include_router(scans.router, responses=problems.PROBLEM_RESPONSES)
    app.include_router(health.router, responses=problems.PROBLEM_RESPONSES)
    app.include_router(pages.router)
    app.include_router(promotion_pages.router)
    app.include_router(prize_pages.router)
    app.include_router(referral_pages.router)
    app.include_router(marketing_pages.router)
    pages.mount_static(app)
    return app
