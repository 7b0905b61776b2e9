"""Sign-in and API keys in a real browser: the key goes to the server once and the
page keeps only a session cookie; the keys page lists, makes and revokes keys; a
revoked key's pages and a signed-out session stop working."""

from __future__ import annotations

from playwright.async_api import Browser, expect

from couponchain.domain.roles import Role
from couponchain.runtime import Runtime
from tests.browser.screenshots import SHOTS
from tests.browser.signin import sign_in


async def test_a_merchant_manages_keys_and_nothing_secret_stays_in_the_browser(
        site: tuple[str, Runtime], browser: Browser) -> None:
    url, runtime = site
    shop = await runtime.participants.create(runtime.platform.caller, Role.MERCHANT,
                                             "Tea House")
    context = await browser.new_context(viewport={"width": 1100, "height": 900})
    page = await context.new_page()
    await sign_in(page, url, shop["api_key"])
    await expect(page.locator("#who")).to_contain_text("Tea House")

    stored = await page.evaluate("JSON.stringify(Object.assign({}, localStorage))")
    assert shop["api_key"] not in stored and "cc_" not in stored
    cookies = {c["name"]: c for c in await context.cookies()}
    assert cookies["cc_session"]["httpOnly"] and cookies["cc_session"]["sameSite"] == "Lax"
    assert shop["api_key"] not in str(cookies)
    assert "cc_session" not in await page.evaluate("document.cookie")  # scripts cannot read it

    await page.click("#keys-link")
    await page.wait_for_url(url + "/keys")
    rows = page.locator("#keys-table tbody tr")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("initial")
    await page.fill("#key-name", "till 2")
    await page.fill("#key-expires", "2099-12-31")
    await page.click("#key-create-form button[type=submit]")
    await expect(page.locator("#key-created-value")).to_contain_text("cc_")
    made = await page.locator("#key-created-value").text_content()
    assert made
    await expect(rows).to_have_count(2)
    await expect(rows.nth(1)).to_contain_text("till 2")
    me = await runtime.participants.authenticate(made)
    assert me.id == shop["id"]
    await page.screenshot(path=str(SHOTS / "api-keys.png"), full_page=True)

    await rows.nth(1).locator("button.revoke").click()
    await expect(page.locator("#keys-result")).to_contain_text("no longer works")
    await expect(rows.nth(1)).to_contain_text("revoked")
    answer = await context.request.get(url + "/v1/participants/me",
                                       headers={"authorization": f"Bearer {made}"})
    assert answer.status == 401

    # Signing out revokes the session: the old cookie no longer signs anything in.
    token = cookies["cc_session"]["value"]
    await page.click("#signout")
    await page.wait_for_url(url + "/")
    await expect(page.locator("#signin-link")).to_be_visible()
    fresh = await browser.new_context()
    await fresh.add_cookies([{"name": "cc_session", "value": token, "url": url}])
    stale = await fresh.request.get(url + "/v1/participants/me")
    assert stale.status == 401
    await fresh.close()
    await context.close()
