"""A new consumer signs up with a passkey, signs out, signs in again and buys through a
promotion link signed in: in Debian's chromium with its virtual authenticator (CDP
`WebAuthn`: CTAP2, internal transport, resident keys, user verification), at phone
and desktop widths (issue 24).

Passkeys need a host name, not an IP address, so the browser opens the platform
(listening on 127.0.0.1) as http://localhost:<port>: a secure context to the browser.
"""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from couponchain.runtime import Runtime
from tests.api_auth import auth
from tests.browser.screenshots import SHOTS
from tests.browser.signin import ADMIN, ok

AUTHENTICATOR = {"protocol": "ctap2", "transport": "internal", "hasResidentKey": True,
                 "hasUserVerification": True, "isUserVerified": True,
                 "automaticPresenceSimulation": True}


async def _promotion_link(url: str) -> str:
    """A product in its second batch and Ann's promotion link for it (a path)."""
    async with httpx.AsyncClient(base_url=url, timeout=60, headers=ADMIN) as client:
        studio = ok(await client.post("/v1/merchants", json={"name": "Song Studio"}))
        ann = ok(await client.post("/v1/consumers", json={"name": "Ann"}))
        ok(await client.post("/v1/credits", json={"to": ann["id"], "amount": 5_000_000}))
        as_studio = auth(studio)
        as_ann = auth(ann)
        product = ok(await client.post("/v1/products", headers=as_studio, json={
            "name": "Night Song", "description": "A recording, licensed per unit",
            "price": 1_000_000, "circulation": 2}))["id"]
        ok(await client.post(f"/v1/products/{product}/purchases", headers=as_ann,
                             json={"quantity": 2, "batch": 1, "max_price": 1_000_000}))
        ok(await client.post(f"/v1/products/{product}/batches", headers=as_studio, json={
            "price": 1_000_000, "circulation": 5, "rebate_bps": 1_000}))
        link = ok(await client.post(f"/v1/products/{product}/links", json={},
                                    headers=as_ann))
    return str(link["path"])


async def _sign_out(page: Page) -> None:
    if await page.locator("#menu-toggle").is_visible():  # a phone: the menu folds the nav
        await page.click("#menu-toggle")
    await page.click("#signout")
    await page.wait_for_url(re.compile(r"^http://[^/]+/$"))


@pytest.mark.parametrize("width", [390, 1280])
async def test_a_new_consumer_signs_up_with_a_passkey_and_buys_through_a_link_signed_in(
        site: tuple[str, Runtime], browser: Browser, width: int) -> None:
    url, runtime = site
    local = url.replace("127.0.0.1", "localhost")
    buy_path = await _promotion_link(url)
    SHOTS.mkdir(parents=True, exist_ok=True)
    context = await browser.new_context(viewport={"width": width, "height": 900})
    page = await context.new_page()
    cdp = await context.new_cdp_session(page)
    await cdp.send("WebAuthn.enable")
    made = await cdp.send("WebAuthn.addVirtualAuthenticator", {"options": AUTHENTICATOR})

    # The link, signed out: "Sign in to buy" offers a passkey and an account.
    await page.goto(local + buy_path)
    await expect(page.locator("#buy-signin")).to_be_visible()
    await expect(page.locator("#buy-passkey-signin")).to_be_visible()
    await page.click("#buy-signup")
    await page.wait_for_url(re.compile(r"/signup\?next=/products/"))
    await page.fill("#signup-name", "Mei")
    await page.fill("#signup-device", "Mei's phone")
    await page.screenshot(path=str(SHOTS / f"passkey-signup-{width}.png"), full_page=True)
    await page.click("#signup-form button[type=submit]")
    await expect(page.locator("#recovery-code-list li")).to_have_count(10, timeout=30_000)
    await page.screenshot(path=str(SHOTS / f"passkey-recovery-codes-{width}.png"),
                          full_page=True)
    credentials = (await cdp.send("WebAuthn.getCredentials",
                                  {"authenticatorId": made["authenticatorId"]}))["credentials"]
    assert len(credentials) == 1 and credentials[0]["isResidentCredential"]

    # Back on the link's page, signed in as the new consumer: the Buy form.
    await page.click("#recovery-continue")
    await page.wait_for_url(local + buy_path)
    await expect(page.locator("#who")).to_contain_text("Mei")
    await expect(page.locator("#buy-form")).to_be_visible(timeout=20_000)
    cookies = {c["name"]: c for c in await context.cookies()}
    assert cookies["cc_session"]["httpOnly"] and cookies["cc_session"]["sameSite"] == "Lax"
    answer = await context.request.get(local + "/v1/participants/me")
    assert answer.status == 200
    me = await answer.json()
    assert me["role"] == "consumer" and me["name"] == "Mei"
    assert await runtime.participants.on_chain(me["address"]) is not None

    # Sign out, then in again with the passkey, from the link's "Sign in to buy".
    await _sign_out(page)
    assert (await context.request.get(local + "/v1/participants/me")).status == 401
    await page.goto(local + buy_path)
    await page.click("#buy-passkey-signin")
    await page.wait_for_url(re.compile(r"/signin\?next=/products/"))
    await page.screenshot(path=str(SHOTS / f"passkey-signin-{width}.png"), full_page=True)
    await page.click("#passkey-signin")
    await page.wait_for_url(local + buy_path)
    await expect(page.locator("#buy-form")).to_be_visible(timeout=20_000)
    await expect(page.locator("#who")).to_contain_text("Mei")
    await page.screenshot(path=str(SHOTS / f"passkey-link-signed-in-{width}.png"),
                          full_page=True)
    assert await page.evaluate("document.documentElement.scrollWidth") <= width

    # The account page: the passkey, the codes left, this browser's session.
    await page.goto(local + "/account")
    await expect(page.locator("#passkey-table tbody tr")).to_have_count(1)
    await expect(page.locator("#passkey-table")).to_contain_text("Mei's phone")
    await expect(page.locator("#recovery-left")).to_contain_text("10")
    await expect(page.locator("#session-table")).to_contain_text("this browser")
    await page.screenshot(path=str(SHOTS / f"passkey-account-{width}.png"), full_page=True)
    assert await page.evaluate("document.documentElement.scrollWidth") <= width

    # In Chinese: the sign-up page's text is translated.
    await page.goto(local + "/signup?lang=zh_CN")
    await expect(page.locator("h1")).to_have_text("创建账户")
    await expect(page.locator("#signup-form button[type=submit]")).to_have_text(
        "用通行密钥创建账户")
    await page.screenshot(path=str(SHOTS / f"passkey-signup-zh-{width}.png"), full_page=True)
    await context.close()
