"""Two merchants (one with a till), access-log records, their ingestion, reporting rules and
a webhook receiver: what the marketing tests and the tests built on them share."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from couponchain.runtime import Runtime
from tests.api_auth import auth
from tests.integration.conftest import make_settings

HOUR = 3600
#: A whole hour well in the past: every record and evaluation time is relative to it.
T = (1_700_000_000 // HOUR) * HOUR
#: The tests' webhook receivers listen on loopback, which the address policy
#: refuses unless the operator allows it.
LOCAL_RECEIVERS = "127.0.0.1"


@pytest.fixture
async def runtime(tmp_path: Path, database_url: str, node_url: str) -> AsyncIterator[Runtime]:
    # The scheduler is off: the tests run its rounds themselves, at chosen times.
    settings = make_settings(tmp_path, database_url, node_url).model_copy(update={
        "report_interval": 0.0, "webhook_retry_base": 0.2, "webhook_retry_max_delay": 1.0,
        "webhook_allow_hosts": LOCAL_RECEIVERS})
    rt = Runtime(settings)
    await rt.start()
    yield rt
    await rt.stop()


@dataclass
class World:
    shop: dict[str, Any]
    till: dict[str, Any]
    other: dict[str, Any]
    number: int
    other_number: int


async def marketing_world(client: httpx.AsyncClient) -> World:
    shop = (await client.post("/v1/merchants", json={"name": "Tea House"})).json()
    other = (await client.post("/v1/merchants", json={"name": "Noodle Bar"})).json()
    till = (await client.post("/v1/terminals", json={"name": "Till"}, headers=auth(shop))).json()
    rules = (await client.get(f"/v1/merchants/{shop['id']}/reporting-rules")).json()
    assert rules["version"] == 0 and rules["rules"] is None
    other_rules = (await client.get(f"/v1/merchants/{other['id']}/reporting-rules")).json()
    return World(shop, till, other, rules["merchant_number"], other_rules["merchant_number"])


def record(merchant: int, ip: str, time: int, operation: str = "view", method: str = "browser",
           account: str = "") -> dict[str, Any]:
    return {"ip": ip, "account": account, "time": time, "merchant": merchant, "method": method,
            "operation": operation}


async def ingest_logs(client: httpx.AsyncClient, who: dict[str, Any],
                      records: list[dict[str, Any]]) -> dict[str, Any]:
    made = await client.post("/v1/access-logs", json={"records": records}, headers=auth(who))
    assert made.status_code == 201, made.text
    return made.json()  # type: ignore[no-any-return]


async def set_rules(client: httpx.AsyncClient, w: World, rules: list[dict[str, Any]]) -> int:
    put = await client.put(f"/v1/merchants/{w.shop['id']}/reporting-rules",
                           json={"rules": rules}, headers=auth(w.shop))
    assert put.status_code == 200, put.text
    return int(put.json()["version"])


def mixed_records(w: World, n: int, start: int) -> list[dict[str, Any]]:
    ops = ["view", "view", "claim", "redeem", "purchase", "search", "click", "share"]
    methods = ["browser", "desktop", "app"]
    return [record(w.number, f"10.0.{i % 7}.{i % 5}", start + (i * 37) % (2 * HOUR),
                   ops[i % len(ops)], methods[i % 3], account=f"acct{i % 4}" if i % 3 else "")
            for i in range(n)]


async def webhook_receiver(port: int, got: list[tuple[bytes, dict[str, str]]]) -> uvicorn.Server:
    async def hook(request: Request) -> Response:
        got.append((await request.body(), dict(request.headers)))
        return Response(status_code=204)

    app = Starlette(routes=[Route("/hook", hook, methods=["POST"])])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning"))
    task = asyncio.create_task(server.serve())
    server.task = task  # type: ignore[attr-defined]
    while not server.started:
        await asyncio.sleep(0.02)
    return server
