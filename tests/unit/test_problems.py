"""Errors map to problem details: overload is a 503 to retry, not a bare 500."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.middleware.base import BaseHTTPMiddleware

from couponchain.api import problems


def _app() -> FastAPI:
    app = FastAPI()
    problems.install(app)

    @app.get("/busy")
    async def busy() -> None:
        raise PoolTimeout("QueuePool limit of size 10 overflow 20 reached")

    async def busy_middleware(request, call_next):  # noqa: ANN001, ANN202
        if request.url.path == "/busy-in-middleware":
            raise PoolTimeout("QueuePool limit of size 10 overflow 20 reached")
        return await call_next(request)

    app.add_middleware(BaseHTTPMiddleware, dispatch=busy_middleware)
    return app


async def test_an_exhausted_database_pool_is_a_503_to_retry() -> None:
    transport = httpx.ASGITransport(app=_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        for path in ("/busy", "/busy-in-middleware"):
            answer = await client.get(path)
            assert answer.status_code == 503, (path, answer.text)
            assert answer.headers["retry-after"] == "1"
            assert answer.json()["type"].endswith("database-busy")
