"""/docs (Swagger UI) and /redoc (ReDoc) with the network cut off: every request not
to the platform is aborted, and both still list the operations (issue 25). Swagger's
"Authorize" takes an API key through the document's security scheme, and a call
tried from the page then carries it."""

from __future__ import annotations

import re

from playwright.async_api import Browser, Page, Route, expect

from couponchain.runtime import Runtime
from tests.browser.screenshots import SHOTS


async def _offline_page(browser: Browser, url: str) -> tuple[Page, list[str]]:
    """A page whose requests anywhere but `url` are aborted; the list of those tried."""
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    tried: list[str] = []

    async def only_the_platform(route: Route) -> None:
        # blob: and data: URLs (ReDoc's worker) are made in the page, not fetched.
        if route.request.url.startswith((url + "/", "blob:", "data:")):
            await route.continue_()
        else:
            tried.append(route.request.url)
            await route.abort("internetdisconnected")

    await page.context.route("**/*", only_the_platform)
    return page, tried


async def test_swagger_ui_renders_offline_and_authorize_sends_the_key(
    site: tuple[str, Runtime], browser: Browser
) -> None:
    url, _ = site
    page, tried = await _offline_page(browser, url)
    await page.goto(url + "/docs")
    operations = page.locator(".opblock")
    await expect(operations.first).to_be_visible()
    # The whole document is loaded. Swagger UI draws only the operations in view (it
    # virtualises a list of 100 or more), so the count is of what it read.
    assert await page.evaluate("() => window.ui.specSelectors.operations().size") > 50
    # Its tag filter box brings a capability's operations into view.
    await page.fill(".operation-filter-input", "editions")
    await expect(page.locator(".opblock-summary-path", has_text="/v1/editions").first) \
        .to_be_visible()
    # The write's example body is on the page.
    create = page.locator(".opblock-post", has=page.locator(
        ".opblock-summary-path", has_text=re.compile(r"^/v1/editions$")))
    await create.locator(".opblock-summary").click()
    await expect(create.locator(".body-param__example, .example, .microlight").first) \
        .to_contain_text("Spring tea gift card")

    # Authorize with the API key, then try GET /v1/participants/me from the page.
    await page.click("button.authorize")
    dialog = page.locator(".auth-container").first
    await expect(dialog).to_contain_text("apiKey")
    await dialog.locator("input").fill("test-admin-key")
    await page.locator(".auth-btn-wrapper button.authorize").click()
    await page.locator(".auth-btn-wrapper button.btn-done").click()
    await page.fill(".operation-filter-input", "participants")
    me = page.locator(".opblock-get", has=page.locator(
        ".opblock-summary-path", has_text=re.compile(r"^/v1/participants/me$")))
    await me.locator(".opblock-summary").click()
    await me.locator("button.try-out__btn").click()
    await me.locator("button.execute").click()
    status = me.locator(".live-responses-table td.response-col_status:not(.col_header)").first
    await expect(status).to_have_text("200")
    await expect(me.locator(".live-responses-table")).to_contain_text('"role": "platform"')
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / "docs-swagger-offline.png"))
    assert tried == [], f"/docs asked outside the platform: {tried}"
    await page.close()


async def test_redoc_renders_offline(site: tuple[str, Runtime], browser: Browser) -> None:
    url, _ = site
    page, tried = await _offline_page(browser, url)
    await page.goto(url + "/redoc")
    operations = page.locator("[data-section-id^='operation/']")
    # ReDoc lays out the whole document before it shows anything: on a loaded
    # 2-core machine that took over 20 s.
    await expect(operations.first).to_be_attached(timeout=90_000)
    assert await operations.count() > 50
    await expect(page.locator("h2", has_text="Register a limited edition").first).to_be_visible()
    # The scheme is documented, and an operation names it.
    await expect(page.locator("body")).to_contain_text("apiKey")
    await page.screenshot(path=str(SHOTS / "docs-redoc-offline.png"))
    assert tried == [], f"/redoc asked outside the platform: {tried}"
    await page.close()
