"""Security headers (issue 20 §7): every page has a CSP without inline script and
cannot be framed; API answers are not sniffed; /docs and /redoc alone get a relaxed
policy (inline styles), their scripts from this origin too.

That the pages still work under the policy is the browser tests' part (each page
they open fails them on a CSP violation: tests/browser/conftest.py)."""

from __future__ import annotations

import base64
import hashlib
import re

import httpx
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute

from couponchain.api import security_headers as sh
from couponchain.api.routes import (
    marketing_pages,
    pages,
    prize_pages,
    promotion_pages,
    referral_pages,
)

PAGE_ROUTERS = (pages, promotion_pages, prize_pages, referral_pages, marketing_pages)
_SCRIPT = re.compile(r"<script(?P<attrs>[^>]*)>(?P<body>.*?)</script>", re.S)


def page_paths() -> list[str]:
    """Every HTML page the app serves, a path parameter filled with 1."""
    return [re.sub(r"\{[^}]+\}", "1", route.path)
            for module in PAGE_ROUTERS for route in module.router.routes
            if isinstance(route, APIRoute) and "GET" in route.methods
            and route.response_class is HTMLResponse]


def directives(policy: str) -> dict[str, list[str]]:
    return {d.split()[0]: d.split()[1:] for d in (p.strip() for p in policy.split(";")) if d}


def assert_common(response: httpx.Response) -> None:
    assert response.headers["x-content-type-options"] == "nosniff", response.url
    assert response.headers["x-frame-options"] == "DENY", response.url
    assert response.headers["referrer-policy"] == "same-origin", response.url


async def test_every_page_has_a_strict_policy_and_only_hashed_inline_script(
        client: httpx.AsyncClient) -> None:
    paths = page_paths()
    assert len(paths) >= 20 and "/terminal" in paths and "/prizes/1" in paths
    for path in paths:
        page = await client.get(path)
        assert_common(page)
        if page.is_redirect:  # /products/1/buy without a link goes to the product page
            continue
        assert page.headers["content-type"].startswith("text/html"), path
        policy = directives(page.headers["content-security-policy"])
        assert policy["frame-ancestors"] == ["'none'"], path
        assert policy["object-src"] == ["'none'"] and policy["base-uri"] == ["'none'"], path
        assert policy["style-src"] == ["'self'"], path
        # Only a coupon's or edition's page (none here: id 1 is unknown) may fetch from
        # another origin, the chain node its proof badge asks (test_editions checks it).
        assert policy["connect-src"] == ["'self'"], path
        script_src = policy["script-src"]
        assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src, path
        allowed = {s for s in script_src if s.startswith("'sha256-")}
        for script in _SCRIPT.finditer(page.text):
            attrs, body = script["attrs"], script["body"]
            if "src=" in attrs or 'type="application/json"' in attrs:
                continue  # a file from 'self', or data the browser never runs
            digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
            assert f"'sha256-{digest}'" in allowed, (path, body[:80])
        assert " style=" not in page.text, f"{path} has an inline style attribute"
        assert not re.search(r"\son[a-z]+=", page.text), f"{path} has an inline handler"


async def test_the_terminals_import_map_is_the_hashed_one(client: httpx.AsyncClient) -> None:
    page = await client.get("/terminal")
    (importmap,) = [m["body"] for m in _SCRIPT.finditer(page.text)
                    if 'type="importmap"' in m["attrs"]]
    assert importmap == sh.IMPORT_MAP
    assert sh.script_hash(importmap) in page.headers["content-security-policy"]


async def test_api_answers_are_not_sniffed_and_run_nothing(client: httpx.AsyncClient) -> None:
    for path in ("/v1/health", "/openapi.json", "/v1/prize-codes/signer", "/v1/nothing-here",
                 "/static/app.js"):
        answer = await client.get(path)
        assert_common(answer)
        assert answer.headers["content-security-policy"] == sh.API_POLICY, path
    refused = await client.get("/v1/participants/me", headers={"authorization": "Bearer no"})
    assert refused.status_code == 401
    assert refused.headers["x-content-type-options"] == "nosniff"


async def test_the_docs_run_from_this_origin_under_a_relaxed_policy_of_their_own(
        client: httpx.AsyncClient) -> None:
    """Swagger UI and ReDoc come from node_modules, not a CDN (issue 25): their policy
    relaxes styles and workers only; every script they load is this origin's."""
    for path in ("/docs", "/redoc"):
        page = await client.get(path)
        assert page.status_code == 200
        assert_common(page)
        policy = directives(page.headers["content-security-policy"])
        assert policy["script-src"] == ["'self'"], path
        assert policy["connect-src"] == ["'self'"], path
        assert policy["frame-ancestors"] == ["'none'"]
        scripts = re.findall(r'<script src="([^"]+)"', page.text)
        assert scripts and all(src.startswith("/") for src in scripts), (path, scripts)
        assert all(m.group("attrs").strip() for m in _SCRIPT.finditer(page.text)), \
            "no inline script"
        for src in scripts:
            asset = await client.get(src)
            assert asset.status_code == 200, src
            assert "javascript" in asset.headers["content-type"], src
    assert "'unsafe-inline'" not in (await client.get("/")).headers[
        "content-security-policy"]
