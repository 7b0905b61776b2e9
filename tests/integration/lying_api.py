"""A proxy in front of the real API that relays every GET and may replace one answer with a
lie: what the tests of `couponchain verify` against a lying platform share."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from fastapi import FastAPI, Request

#: (path, answer) -> the answer told instead (None: the honest one).
Lie = Callable[[str, dict[str, Any]], dict[str, Any] | None]


def lying_api(honest: str, lie: list[Lie | None]) -> FastAPI:
    """Relays every GET to the honest API (with its query and authorization);
    `lie[0](path, answer)` may replace an answer."""
    app = FastAPI()

    @app.get("/{path:path}")
    async def relay(path: str, request: Request) -> Any:
        headers = {k: v for k, v in request.headers.items() if k == "authorization"}
        async with httpx.AsyncClient() as http:
            got = await http.get(f"{honest}/{path}", params=request.query_params,
                                 headers=headers)
        body = got.json()
        if got.status_code == 200 and lie[0] is not None:
            told = lie[0]("/" + path, body)
            body = body if told is None else told
        return body

    return app
