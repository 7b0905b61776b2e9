"""Request guards through the API: request ids, body size limits, write rate limits."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator

import httpx
import pytest

from couponchain.api.app import create_app
from couponchain.api.bounds import DEFAULT_BYTES
from couponchain.api.limits import REQUEST_ID, JsonFormatter, RequestIdFilter
from couponchain.runtime import Runtime

ADMIN = {"authorization": "Bearer test-admin-key"}


@pytest.fixture
async def strict(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    """The API with a small write rate: 3 writes a second in bursts of 3."""
    settings = runtime.settings.model_copy(update={
        "write_rate_per_second": 3.0, "write_burst": 3})
    runtime.settings, kept = settings, runtime.settings
    app = create_app(runtime, manage_runtime=False)
    runtime.settings = kept
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


async def test_every_response_carries_a_request_id(strict: httpx.AsyncClient) -> None:
    mine = await strict.get("/v1/health", headers={"x-request-id": "till-7.scan-42"})
    assert mine.headers["x-request-id"] == "till-7.scan-42"
    fresh = await strict.get("/v1/health")
    assert len(fresh.headers["x-request-id"]) == 32
    odd = await strict.get("/v1/health", headers={"x-request-id": "bad id\twith spaces"})
    assert odd.headers["x-request-id"] != "bad id\twith spaces"


async def test_a_body_over_the_limit_is_refused_with_413(strict: httpx.AsyncClient) -> None:
    big = await strict.post("/v1/merchants", headers=ADMIN,
                            content=json.dumps({"name": "x" * DEFAULT_BYTES}))
    assert big.status_code == 413
    assert big.json()["type"].endswith("/too-large") and big.json()["field"] == "body"
    assert f"over {DEFAULT_BYTES} bytes" in big.json()["detail"]
    small = await strict.post("/v1/merchants", headers=ADMIN, json={"name": "Tea House"})
    assert small.status_code == 201


async def test_writes_over_the_rate_get_429_with_retry_after(
        strict: httpx.AsyncClient) -> None:
    # Quick writes (API keys: no chain call), so the bucket cannot refill between
    # them on a slow machine (merchant creations once took long enough to).
    bodies = [{"name": f"key {i}"} for i in range(5)]
    answers = [await strict.post("/v1/api-keys", headers=ADMIN, json=b) for b in bodies]
    codes = [a.status_code for a in answers]
    assert codes[:3] == [201, 201, 201] and 429 in codes[3:]
    limited = next(a for a in answers if a.status_code == 429)
    assert int(limited.headers["retry-after"]) >= 1
    assert "3 times a second" in limited.json()["detail"]
    # Reads are never limited, and another key has its own budget.
    assert (await strict.get("/v1/health")).status_code == 200
    other = await strict.post("/v1/merchants", json={"name": "x"},
                              headers={"authorization": "Bearer another-key"})
    assert other.status_code == 401


async def test_each_page_session_has_its_own_write_budget(strict: httpx.AsyncClient) -> None:
    """Page writes carry a session cookie, not an Authorization header: each session is
    limited on its own (they once all shared the budget of "no header")."""
    codes = []
    for n in range(2):
        async with httpx.AsyncClient(transport=strict._transport,
                                     base_url="http://test") as page:
            assert (await page.post("/v1/sessions", headers=ADMIN)).status_code == 201
            csrf = {"x-csrf-token": page.cookies["cc_csrf"]}
            # Quick writes (no chain call), so the bucket does not refill meanwhile.
            codes.append([(await page.post("/v1/api-keys", json={"name": f"k{n}{i}"},
                                           headers=csrf)).status_code for i in range(4)])
    assert codes[0][:3] == [201, 201, 201] and codes[0][3] == 429
    assert codes[1][:3] == [201, 201, 201], codes


def test_log_lines_carry_the_request_id() -> None:
    record = logging.LogRecord("couponchain.test", logging.INFO, __file__, 1,
                               "claim %s recorded", ("A-1",), None)
    token = REQUEST_ID.set("req-123")
    try:
        assert RequestIdFilter().filter(record)
    finally:
        REQUEST_ID.reset(token)
    line = json.loads(JsonFormatter().format(record))
    assert line["request_id"] == "req-123" and line["message"] == "claim A-1 recorded"
    assert line["level"] == "info" and line["logger"] == "couponchain.test"


async def test_requests_wait_for_read_models_rebuilt_after_a_rewind(
        client: httpx.AsyncClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    """After a restarted node changed the chain, the read models go back and catch up:
    meanwhile an API call must not answer from them (a 404 for an edition that exists)."""
    from couponchain.api import deps

    monkeypatch.setattr(deps, "REBUILD_WAIT", 0.3)
    # Far beyond the shared node's head (it holds every earlier test's blocks).
    runtime.indexer.hold_until(runtime.indexer.head + 1_000_000)
    behind = await client.get("/v1/merchants")
    assert behind.status_code == 503, behind.text
    assert behind.json()["type"].endswith("/read-models-behind")
    assert behind.headers["retry-after"] == "1"
    assert (await client.get("/v1/health")).status_code == 200  # operators still see it
    runtime.indexer.rebuilding_to = None
    assert (await client.get("/v1/merchants")).status_code == 200
