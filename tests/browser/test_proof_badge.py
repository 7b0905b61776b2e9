"""The coupon and edition pages' proof badge, computed in a real browser.

The badge is proof-badge.js checking the platform's storage proofs against a
node the person chooses (here the embedded node itself, which answers CORS
requests, or the platform's relay by default). A lying server is a proxy in
front of the real platform that tells one lie at a time, in the page, the
coupon's JSON, the proof or the published registry: the badge must say NOT
verified and name the check, or warn loudly.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import httpx
from fastapi import FastAPI, Request, Response
from playwright.async_api import Browser, Locator, Page, expect

from couponchain.runtime import Runtime
from tests.integration.editions_world import create_edition, open_shop
from tests.ports import free_port, serve_app

Lie = Callable[[bytes], bytes]
BADGE = "#proof-badge"
STATE = "#badge-state"


async def _sold_edition(url: str, prefix: str, n: int) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=url, timeout=60,
                                 headers={"authorization": "Bearer test-admin-key"}) as client:
        shop = await open_shop(client)
        edition = await create_edition(client, shop, prefix, 99)
        for i in range(n):
            sold = await client.post(f"/v1/editions/{edition['id']}/sales", json={
                "buyer": shop.consumers[i % 2]["id"], "order_ref": f"{prefix}-{i}"},
                headers=shop.as_merchant)
            assert sold.status_code == 201, sold.text
        redeemed = await client.post(f"/v1/coupons/{prefix}-000002/redeem",
                                     headers=shop.as_merchant)
        assert redeemed.status_code == 200, redeemed.text
    return edition


async def _choose_node(page: Page, node: str) -> None:
    await page.fill("#badge-node-url", node)
    await page.click("#badge-node button[type=submit]")


async def test_honest_pages_are_verified_against_the_chosen_node(
    site: tuple[str, Runtime], browser: Browser, node_url: str,
) -> None:
    url, _ = site
    edition = await _sold_edition(url, "HONEST", 3)
    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(url + "/coupons/HONEST-000002")
    # By default the platform's relay: the proofs hold, but it is the platform's own node.
    state = page.locator(STATE)
    await expect(state).to_contain_text("not independent", timeout=20_000)
    await expect(page.locator(BADGE)).to_have_class(re.compile(r"\bpartial\b"))
    await expect(page.locator(BADGE)).to_contain_text("via the platform")
    await expect(page.locator(BADGE)).to_contain_text("First check in this browser")

    # The person's own node: verified, with the proven numbers and what was not proven.
    await _choose_node(page, node_url)
    await expect(state).to_have_text("verified ✓", timeout=20_000)
    badge = page.locator(BADGE)
    await expect(badge).to_contain_text(f"of your node {node_url}")
    for shown in ("Sold 3", "Declared pieces 99", "Redeemed 1", "Voided 0", "Status redeemed",
                  "serial HONEST-000002", "terms"):
        await expect(badge).to_contain_text(shown)
    await expect(badge).to_contain_text("Not proven (shown by the platform, not held in the "
                                        "contract's storage): history entries.")
    await expect(page.locator("#edition-sold.proven")).to_have_text("3")
    await expect(page.locator("h2 .unproven-tag")).to_have_text("not proven")
    # The development chain's blocks carry no seals: nothing to say about them, and a
    # validator set entered cannot be met (as `verify --validators`); "genesis" names none.
    await expect(badge).not_to_contain_text("Seals not checked")
    for entered, said in (("0x" + "11" * 20, "NOT verified ✗"), ("genesis", "could not check"),
                          ("0x12, nope", "could not check")):
        await page.fill("#badge-validators", entered)
        await page.click("#badge-node button[type=submit]")
        await expect(state).to_contain_text(said, timeout=20_000)
    await expect(state).to_contain_text("not addresses (0x and 40 hex digits): 0x12")
    # Following Clique signer votes (as `verify --validators checkpoint`) needs a Clique chain.
    await page.fill("#badge-validators", "checkpoint")
    await page.click("#badge-node button[type=submit]")
    await expect(state).to_contain_text(
        "checkpoint follows Clique signer votes; this chain is ethash", timeout=20_000)
    await page.fill("#badge-validators", "0x" + "11" * 20)
    await page.click("#badge-node button[type=submit]")
    await expect(state).to_contain_text(
        "failed: the block is sealed by the validators entered (ethash)", timeout=20_000)
    await page.fill("#badge-validators", "")
    await page.click("#badge-node button[type=submit]")
    await expect(state).to_have_text("verified ✓", timeout=20_000)

    # The choice is remembered; the edition page checks its counters the same way.
    await page.goto(url + f"/editions/{edition['id']}")
    await expect(page.locator(STATE)).to_have_text("verified ✓", timeout=20_000)
    await expect(page.locator(BADGE)).to_contain_text("Sold 3")
    await expect(page.locator(BADGE)).to_contain_text("Price 0.000300 CCC")  # as shown
    await expect(page.locator(BADGE)).to_contain_text("registration block and transaction")

    # A node that does not answer: the badge could not check, and says why.
    await _choose_node(page, f"http://127.0.0.1:{free_port()}")
    await expect(page.locator(STATE)).to_contain_text("could not check", timeout=20_000)
    await expect(page.locator(STATE)).to_contain_text("did not answer")
    await expect(page.locator(BADGE)).to_have_class(re.compile(r"\bunchecked\b"))
    await context.close()

    # In Chinese the status word shown is compared in Chinese, and the badge speaks it.
    chinese = await browser.new_context(locale="zh-CN")
    zh = await chinese.new_page()
    await zh.goto(url + "/coupons/HONEST-000002")
    await _choose_node(zh, node_url)
    await expect(zh.locator(STATE)).to_have_text("已验证 ✓", timeout=20_000)
    await expect(zh.locator("#coupon-status.proven")).to_have_text("已核销")
    await expect(zh.locator(BADGE)).to_contain_text("未证明（由平台显示，不在合约存储中）")
    await chinese.close()

    # Without JavaScript the server says nothing was checked, and how to check.
    bare = await browser.new_context(java_script_enabled=False)
    plain = await bare.new_page()
    await plain.goto(url + "/coupons/HONEST-000001")
    await expect(plain.locator(STATE)).to_contain_text("needs JavaScript")
    await expect(plain.locator("#badge-command")).to_contain_text(
        f"couponchain verify HONEST-000001 --api {url}")
    assert "verified" not in (await plain.locator(BADGE).inner_text())
    await bare.close()


def _lying_proxy(honest: str, lies: dict[str, Lie]) -> FastAPI:
    """Relays every request to the honest platform; `lies[path]` rewrites one answer."""
    app = FastAPI()

    @app.api_route("/{path:path}", methods=["GET", "POST"])
    async def relay(path: str, request: Request) -> Response:
        async with httpx.AsyncClient(timeout=60) as http:
            got = await http.request(
                request.method, f"{honest}/{path}", params=request.query_params,
                content=await request.body(),
                # The proxy's host: the page's absolute links (its QR code) point here.
                headers={k: v for k, v in request.headers.items()
                         if k in ("host", "content-type", "accept", "accept-language", "cookie")})
        body = got.content
        lie = lies.get("/" + path)
        if lie is not None and got.status_code == 200:
            body = lie(body)
        headers = {k: v for k, v in got.headers.items()
                   if k not in ("content-length", "content-encoding", "transfer-encoding",
                                "connection", "date", "server")}
        return Response(body, status_code=got.status_code, headers=headers)

    return app


def _json_lie(change: Callable[[dict[str, Any]], None]) -> Lie:
    def lie(body: bytes) -> bytes:
        answer = json.loads(body)
        change(answer)
        return json.dumps(answer).encode()
    return lie


async def test_a_lying_server_cannot_keep_the_badge(
    site: tuple[str, Runtime], browser: Browser, node_url: str,
) -> None:
    url, _ = site
    await _sold_edition(url, "LIE", 3)
    async with httpx.AsyncClient(base_url=url) as client:
        other_proof = (await client.get("/v1/coupons/LIE-000003/proof")).json()
    lies: dict[str, Lie] = {}
    async for proxy in serve_app(_lying_proxy(url, lies)):
        page = await browser.new_page()
        await page.goto(proxy + "/coupons/LIE-000001")
        await _choose_node(page, node_url)
        state = page.locator(STATE)
        await expect(state).to_have_text("verified ✓", timeout=20_000)  # honest relay first

        async def told(lie: dict[str, Lie], *named: str, page: Page = page,
                       state: Locator = state) -> None:
            lies.clear()
            lies.update(lie)
            await page.reload()
            await expect(state).to_contain_text("NOT verified", timeout=20_000)
            for name in named:
                await expect(state).to_contain_text(name)

        # The page's HTML shows a sold count the chain does not hold.
        await told({"/coupons/LIE-000001": lambda b: b.replace(
            b'data-proof="sold">3<', b'data-proof="sold">4<')},
            "the page shows Sold = 4, the chain says 3")
        await expect(page.locator("#edition-sold.disproven")).to_have_text("4")
        # The coupon's JSON names another owner.
        await told({"/v1/coupons/LIE-000001": _json_lie(
            lambda c: c.update(owner="0x" + "5" * 40))}, "the API's owner")
        # Another coupon's genuine proof served for the serial asked for.
        await told({"/v1/coupons/LIE-000001/proof": lambda _b: json.dumps(other_proof).encode()},
                   "the answer is about this serial", "the coupon id is this serial's")
        # A proven value changed (its proof no longer leads to the state root).
        def forged_count(proof: dict[str, Any]) -> None:
            entry = next(e for e in proof["storage"] if e["name"] == "sold")
            entry["proof"][-1] = entry["proof"][-1][:-2] + "05"
        await told({"/v1/coupons/LIE-000001/proof": _json_lie(forged_count)},
                   "the storage proofs of this serial's slots")

        # The platform publishes another registry: a loud warning; the saved one is used.
        lies.clear()
        lies["/v1/health"] = _json_lie(lambda h: h["trust_anchor"].update(
            registry="0x" + "9" * 40))
        await page.reload()
        await expect(state).to_have_text("verified ✓", timeout=20_000)
        await expect(page.locator(f"{BADGE} .banner")).to_contain_text(
            "WARNING: the platform now publishes registry 0x" + "9" * 40)
        await page.close()
