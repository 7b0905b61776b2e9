"""The inbox's indicator editor in a real browser: the server's refusal shown beside the
field it names, a preview, a saved indicator offered to the rules; and in Chinese."""

from __future__ import annotations

import httpx
from playwright.async_api import Browser, expect

from couponchain.runtime import Runtime
from tests.browser.signin import ADMIN, PHONE, ok, signed_in_page


async def test_the_editor_shows_errors_beside_their_field_and_saves_an_indicator(
    site: tuple[str, Runtime], browser: Browser
) -> None:
    url, _ = site
    async with httpx.AsyncClient(base_url=url, timeout=60, headers=ADMIN) as client:
        shop = ok(await client.post("/v1/merchants", json={"name": "Tea House"}))
    page = await signed_in_page(browser, url, shop["api_key"], "/inbox", PHONE)
    await expect(page.locator("#indicators-section")).to_be_visible()
    # The script sets the handlers after asking who is signed in.
    await expect(page.locator("#indicator-form[data-ready]")).to_have_count(1)

    # A bad window: the rule, beside the expression; nothing beside the name.
    await page.fill("#indicator-name", "claim_rate")
    await page.fill("#indicator-expression", "count(claims, window=7x) / count(views)")
    await page.click("#indicator-preview")
    error = page.locator("#indicator-expression-error")
    await expect(error).to_be_visible()
    await expect(error).to_contain_text("bad window '7x'")
    await expect(page.locator("#indicator-expression")).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#indicator-name-error")).to_be_hidden()

    # A name the server refuses: beside the name, and the expression's error is gone.
    await page.fill("#indicator-expression", "count(claims) / count(views)")
    await page.fill("#indicator-name", "page_views")
    await page.click("#indicator-form button[type=submit]")
    await expect(page.locator("#indicator-name-error")).to_contain_text("taken by a preset")
    await expect(error).to_be_hidden()

    # Valid: the preview's value (no data yet: the ratio is undefined), then saved.
    await page.click("#indicator-preview")
    await expect(page.locator("#indicator-result")).to_contain_text("undefined")
    await page.fill("#indicator-name", "claim_rate")
    await page.click("#indicator-form button[type=submit]")
    await expect(page.locator("#indicator-result")).to_contain_text("Saved claim_rate")
    await expect(page.locator("#indicator-list")).to_contain_text("count(claims) / count(views)")
    # The rules editor offers it (its hash goes on chain with the rule).
    await expect(page.locator("#rules-list input[data-custom=claim_rate]")).to_have_count(1)
    # A threshold on it: the rule reports it too, and the condition names it.
    rule = page.locator("#rules-list fieldset").first
    await rule.locator(".rule-type").select_option("threshold")
    await rule.locator(".rule-indicator").select_option("custom:claim_rate")
    await rule.locator(".rule-op").select_option(">=")
    await rule.locator(".rule-value").fill("1/2")
    await page.click("#rules-form button[type=submit]")
    await expect(page.locator("#rules-result")).to_contain_text("Saved version 1")
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        saved = ok(await client.get(f"/v1/merchants/{shop['id']}/reporting-rules"))["rules"]
    assert saved["rules"][0]["custom"] == ["claim_rate"]
    assert saved["rules"][0]["condition"]["custom"] == "claim_rate"
    await expect(page.locator("#rules-history")).to_contain_text("claim_rate >= 1/2")

    await page.goto(url + "/inbox?lang=zh_CN")
    await expect(page.locator("#indicators-section h2")).to_have_text("自定义指标")
    await expect(page.locator("#indicator-form[data-ready]")).to_have_count(1)
    await page.fill("#indicator-expression", "count(views, window=0d)")
    await page.click("#indicator-preview")
    await expect(page.locator("#indicator-expression-error")).to_contain_text("bad window")
