"""A shop (a merchant with terminals and consumers), editions created through the API, and
the API served over HTTP: what the limited-edition tests and the tests built on them share."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI


@dataclass
class Shop:
    """A merchant with two terminals and two consumers, each with its own headers."""

    merchant: dict[str, Any]
    terminals: list[dict[str, Any]]
    consumers: list[dict[str, Any]]

    @staticmethod
    def auth(participant: dict[str, Any]) -> dict[str, str]:
        return {"authorization": f"Bearer {participant['api_key']}"}

    @property
    def as_merchant(self) -> dict[str, str]:
        return self.auth(self.merchant)


async def open_shop(client: httpx.AsyncClient, name: str = "Cafe") -> Shop:
    merchant = (await client.post("/v1/merchants", json={"name": name})).json()
    auth = {"authorization": f"Bearer {merchant['api_key']}"}
    terminals = [(await client.post("/v1/terminals", json={"name": f"Till {i}"},
                                    headers=auth)).json() for i in (1, 2)]
    consumers = [(await client.post("/v1/consumers", json={"name": n}, headers=auth)).json()
                 for n in ("Ann", "Bob")]
    return Shop(merchant, terminals, consumers)


def edition_body(prefix: str, cap: int, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    return {
        "brand": "Cafe", "title": "Free latte", "terms": "One latte per coupon. No cash value.",
        "prefix": prefix, "total_pieces": cap, "price": 300,
        "valid_from": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 3600)),
        "valid_until": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + 86400)),
        **overrides,
    }


async def create_edition(client: httpx.AsyncClient, shop: Shop, prefix: str, cap: int) -> dict:
    response = await client.post("/v1/editions", json=edition_body(prefix, cap),
                                 headers=shop.as_merchant)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def serve_app(app: FastAPI) -> AsyncIterator[str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await task
