"""Hostile bodies against a real `couponchain up` process: refused, never fatal.

The finding: `POST /v1/merchants` with `[`×100,000 then `]`×100,000 and no
Authorization header killed the whole process (a segfault in the JSON parser). Here
that body and others like it go, unauthenticated, to several routes at several
depths and sizes; each gets a problem answer naming the body, and the same process
serves a normal write afterwards.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from couponchain.api.bounds import DEFAULT_BYTES, MAX_DEPTH
from tests.integration.platform_process import ADMIN, Platform

pytestmark = pytest.mark.ignore_isolation

ROUTES = ["/v1/merchants", "/v1/editions", "/v1/access-logs", "/v1/prize-claims:sync",
          "/v1/promotion-grants", "/v1/products/1/purchases"]
DEPTHS = [MAX_DEPTH + 1, 1_025, 30_000, 50_000, 100_000]


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory, node_url: str) -> Iterator[Platform]:
    running = Platform(tmp_path_factory.mktemp("bounds"), "", node_url)
    running.env.pop("COUPONCHAIN_DATABASE_URL")  # SQLite in its data directory
    asyncio.run(running.start())
    yield running
    running.stop()


def _nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


@pytest.mark.parametrize("route", ROUTES)
def test_deep_bodies_without_a_key_are_refused_and_the_process_lives(
        platform: Platform, route: str) -> None:
    with httpx.Client(base_url=platform.url, timeout=30) as client:
        for depth in DEPTHS:
            answer = client.post(route, content=_nested(depth),
                                 headers={"content-type": "application/json"})
            problem = answer.json()
            if len(_nested(depth)) > DEFAULT_BYTES and route != "/v1/access-logs":
                assert answer.status_code == 413, (route, depth, problem)
            else:
                assert answer.status_code == 422, (route, depth, problem)
                assert "nested" in problem["detail"]
            assert problem["field"] == "body"
            assert answer.headers["content-type"] == "application/problem+json"
        assert client.get("/v1/health").json()["platform_restarts"] == 0
        made = client.post("/v1/merchants", json={"name": "Still Here Tea"},
                           headers={"authorization": f"Bearer {ADMIN}"})
        assert made.status_code == 201, made.text


def test_a_deep_body_is_refused_before_authentication(platform: Platform) -> None:
    """No key, a wrong key and the admin key get the same answer: the body is refused
    before anyone is looked up."""
    with httpx.Client(base_url=platform.url, timeout=30) as client:
        answers = {client.post("/v1/merchants", content=_nested(MAX_DEPTH + 1),
                               headers={"content-type": "application/json", **auth}
                               ).status_code
                   for auth in ({}, {"authorization": "Bearer nope"},
                                {"authorization": f"Bearer {ADMIN}"})}
        assert answers == {422}


def test_a_body_streamed_past_the_limit_without_a_length_is_refused(
        platform: Platform) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(DEFAULT_BYTES // 1024 + 2):
            yield b" " * 1024

    with httpx.Client(base_url=platform.url, timeout=30) as client:
        answer = client.post("/v1/merchants", content=chunks(),
                             headers={"content-type": "application/json"})
        assert answer.status_code == 413
        assert answer.json()["field"] == "body"


def test_a_large_access_log_batch_is_still_accepted_in_size(platform: Platform) -> None:
    """The bulk route keeps its larger limit: a 1 MiB body is read (and refused for
    its content, not its size)."""
    records = b'{"records": [' + b",".join([b'{"ip": "203.0.113.7"}'] * 50_000) + b"]}"
    assert len(records) > DEFAULT_BYTES
    with httpx.Client(base_url=platform.url, timeout=30) as client:
        answer = client.post("/v1/access-logs", content=records,
                             headers={"content-type": "application/json"})
        assert answer.status_code == 401  # read whole, then the missing key refused


def test_the_openapi_document_publishes_each_routes_limits(platform: Platform) -> None:
    document = httpx.get(f"{platform.url}/openapi.json", timeout=30).json()
    logs = document["paths"]["/v1/access-logs"]["post"]["x-body-limits"]
    assert logs["max_bytes"] == 32 * 1024 * 1024 and logs["max_depth"] == MAX_DEPTH


def test_the_process_never_restarted(platform: Platform) -> None:
    """Run last in this module: every hostile body above left the first platform
    process up (the supervisor would restart a dead one, so its count must be 0)."""
    assert platform.proc is not None and platform.proc.poll() is None
    health = httpx.get(f"{platform.url}/v1/health", timeout=30).json()
    assert health["supervised"] and health["platform_restarts"] == 0, health
