"""The foundation pages in a real browser: sign in, a role's home, chain status."""

from __future__ import annotations

from playwright.async_api import Browser, expect

from couponchain.runtime import Runtime
from tests.browser.screenshots import SHOTS


async def test_platform_signs_in_and_creates_a_merchant(
    site: tuple[str, Runtime], browser: Browser
) -> None:
    url, runtime = site
    page = await browser.new_page()
    await page.goto(url + "/")
    await expect(page.get_by_role("heading", level=1)).to_contain_text("Verifiable coupons")
    await expect(page.locator("table.kv")).to_contain_text(runtime.addresses["registry"])

    await page.goto(url + "/signin")
    await page.fill("#api-key", "not-a-key")
    await page.click("#signin-form button[type=submit]")
    await expect(page.locator("#signin-error")).to_contain_text("not known")

    await page.fill("#api-key", "test-admin-key")
    await page.click("#signin-form button[type=submit]")
    await page.wait_for_url(url + "/me")
    await expect(page.locator("#me-title")).to_have_text("Hello, Platform")
    await page.select_option("#create-role", "merchant")
    await page.fill("#create-name", "Lotus Tea House")
    await page.click("#create-form button[type=submit]")
    result = page.locator("#create-result")
    await expect(result).to_contain_text("API key, shown once", timeout=20_000)
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / "home-platform.png"), full_page=True)

    text = await result.text_content()
    assert text is not None and "cc_" in text
    from couponchain.domain.roles import Role

    names = [row.name for row in await runtime.participants.list(Role.MERCHANT, 10, None)]
    assert names == ["Lotus Tea House"]


async def test_status_page_shows_the_chain_on_a_phone(
    site: tuple[str, Runtime], browser: Browser
) -> None:
    url, _ = site
    page = await browser.new_page(viewport={"width": 390, "height": 844})
    await page.goto(url + "/status")
    await expect(page.locator("#h-status")).to_have_text("ok")
    await expect(page.locator("#h-outbox")).to_have_text("0")
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, "the page must fit a phone screen"
    await page.screenshot(path=str(SHOTS / "status-phone.png"), full_page=True)


async def test_the_pages_csp_blocks_inline_script_and_the_watch_reports_it(
    site: tuple[str, Runtime], browser: Browser
) -> None:
    """The check every browser test ends with can fail: an injected inline script
    is blocked by the page's policy and reported."""
    url, _ = site
    page = await browser.new_page()
    response = await page.goto(url + "/")
    assert response is not None
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    await page.evaluate("""() => {
        const s = document.createElement("script");
        s.textContent = "window.injected = true";
        document.body.appendChild(s);
    }""")
    watch = browser.csp  # type: ignore[attr-defined]
    for _ in range(50):
        if watch.violations:
            break
        await page.wait_for_timeout(20)
    assert await page.evaluate("window.injected === undefined")
    assert watch.violations and "script-src" in " ".join(watch.violations)
    watch.violations.clear()  # seen: not a failure of this test
