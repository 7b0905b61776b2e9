"""Fuzzing the prize-code parser through the API: POST /v1/prize-scans.

Whatever a terminal sends as a scanned code — scanner noise, other QR codes,
truncated or mutated prize codes, bytes that are not even JSON — the answer is
never a 5xx: text that is not a prize code is a 422 naming `code`, and a code
of the right shape gets a scan whose first condition judges its signature.
"""

from __future__ import annotations

import asyncio
import json
import string
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from couponchain.domain import prize_codes
from tests.api_auth import auth
from tests.integration.prizes_world import award_prize, prize_code, prize_world, start_campaign

B64URL = string.ascii_letters + string.digits + "-_"
BODY_CHARS = 240  # base64url of the 180 raw bytes

texts = st.one_of(
    st.text(max_size=500),
    st.text(alphabet=B64URL, max_size=200).map(lambda s: prize_codes.PREFIX + s),
    st.text(alphabet=B64URL, min_size=BODY_CHARS, max_size=BODY_CHARS)
    .map(lambda s: prize_codes.PREFIX + s),
    st.text(alphabet=string.printable, min_size=BODY_CHARS, max_size=BODY_CHARS)
    .map(lambda s: prize_codes.PREFIX + s),
)


@st.composite
def _mutated(draw: st.DrawFn, code: str) -> str:
    """The real code with one edit: a character replaced, cut, added, or case-swapped."""
    kind = draw(st.sampled_from(["replace", "cut", "add", "case"]))
    i = draw(st.integers(0, len(code) - 1))
    if kind == "replace":
        return code[:i] + draw(st.characters(codec="utf-8")) + code[i + 1:]
    if kind == "cut":
        return code[:i] + code[i + 1:]
    if kind == "add":
        return code[:i] + draw(st.characters(codec="utf-8")) + code[i:]
    return code[:i] + code[i:].swapcase()


@pytest.fixture
async def scanner(client: httpx.AsyncClient) -> dict[str, Any]:
    """A terminal eligible for a campaign, and one live code of the campaign."""
    w = await prize_world(client)
    campaign = await start_campaign(client, w)
    (award_id,) = await award_prize(client, w, campaign["id"], (w.ann, 0))
    return {"terminal": w.till, "code": await prize_code(client, w.ann, award_id)}


async def _post(client: httpx.AsyncClient, scanner: dict[str, Any],
                **body: Any) -> httpx.Response:
    headers = auth(scanner["terminal"]) | body.pop("headers", {})
    response = await client.post("/v1/prize-scans", headers=headers, **body)
    assert response.status_code < 500, response.text
    return response


def _judged(response: httpx.Response, text: str, real: str) -> None:
    if response.status_code == 422:
        assert response.json()["field"] == "code", response.text
        return
    assert response.status_code == 201, response.text
    scan = response.json()
    assert scan["conditions"][0]["name"] == "signature"
    if text.strip() != real:
        assert scan["conditions"][0]["ok"] is False, (text, scan)
        assert not scan["claimable"] and scan["award"] is None


#: Profile settings (dev/ci) plus: fixtures are shared by every example on purpose.
FUZZ = settings(suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


async def _examples(strategy: st.SearchStrategy[Any],
                    check: Callable[[Any], Awaitable[None]]) -> None:
    """Run `check` on Hypothesis examples of `strategy`, each on this event loop.

    Hypothesis drives a worker thread; every example is awaited on the test's
    loop, where the runtime and its database connections live.
    """
    loop = asyncio.get_running_loop()

    @FUZZ
    @given(strategy)
    def run(value: Any) -> None:
        asyncio.run_coroutine_threadsafe(check(value), loop).result(timeout=60)

    await asyncio.to_thread(run)


async def test_any_text_is_refused_by_reason_never_a_5xx(
        client: httpx.AsyncClient, scanner: dict[str, Any]) -> None:
    async def check(text: str) -> None:
        _judged(await _post(client, scanner, json={"code": text}), text, scanner["code"])

    await _examples(texts, check)


async def test_mutated_codes_fail_their_signature(
        client: httpx.AsyncClient, scanner: dict[str, Any]) -> None:
    async def check(text: str) -> None:
        _judged(await _post(client, scanner, json={"code": text}), text, scanner["code"])

    await _examples(_mutated(scanner["code"]), check)


GARBAGE = st.one_of(
    st.binary(max_size=300),
    st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
                 | st.text(max_size=20),
                 lambda inner: st.lists(inner, max_size=3)
                 | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                 max_leaves=8).map(lambda v: json.dumps(v).encode()),
)


async def test_garbage_bodies_are_a_4xx_never_a_5xx(
        client: httpx.AsyncClient, scanner: dict[str, Any]) -> None:
    async def check(body: bytes) -> None:
        response = await _post(client, scanner, content=body,
                               headers={"content-type": "application/json"})
        # FastAPI answers 400 to bytes it cannot even decode as JSON text (not UTF-8).
        assert response.status_code in (400, 422), response.text
        problem = response.json()
        assert problem["detail"], response.text
        if response.status_code == 422:
            assert problem["field"], response.text

    await _examples(GARBAGE, check)


async def test_regression_shapes_pinned(client: httpx.AsyncClient,
                                        scanner: dict[str, Any]) -> None:
    """Edge shapes, pinned: each a 422 on `code` or a scan failing its signature."""
    real = scanner["code"]
    for text in ("", " ", "\x00", prize_codes.PREFIX, prize_codes.PREFIX + "A" * BODY_CHARS,
                 prize_codes.PREFIX + "=" * BODY_CHARS, real[:-1], real + "A",
                 real.lower(), "CCPZ2\u2024" + real[6:], "x" * 401, "\ud7ff" * 246):
        _judged(await _post(client, scanner, json={"code": text}), text, real)
