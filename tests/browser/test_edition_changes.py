"""Pausing, resuming and extending an edition in the console, in a real browser (issue
25): the merchant pauses with a reason, the page shows it paused, a sale is refused,
it resumes, and the audit log shows who did it with the transaction; at 1280 px in
English and at 390 px in Chinese. Duplicate fills the create form in."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, expect

from couponchain.runtime import Runtime
from tests.api_auth import auth
from tests.browser.screenshots import SHOTS
from tests.browser.signin import ADMIN, sign_in

WORDS = {
    "en-US": {"pause": "Pause sales", "paused": "Sales paused.", "open": "Sales open until",
              "refused": "editions: edition paused", "tag": "paused"},
    "zh-CN": {"pause": "暂停销售", "paused": "销售已暂停。", "open": "销售开放至",
              "refused": "editions: edition paused", "tag": "已暂停"},
}


async def _shop(url: str, prefix: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        merchant = (await client.post("/v1/merchants", json={"name": "Lotus Tea House"},
                                      headers=ADMIN)).json()
        ann = (await client.post("/v1/consumers", json={"name": "Ann Lee"},
                                 headers=auth(merchant))).json()
        now = int(time.time())
        edition = await client.post("/v1/editions", headers=auth(merchant), json={
            "brand": "Lotus", "title": "Oolong tasting", "terms": "One tasting per coupon.",
            "prefix": prefix, "total_pieces": 50, "price": 2_000_000,
            "valid_from": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 3600)),
            "valid_until": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + 86400))})
        assert edition.status_code == 201, edition.text
    return {"merchant": merchant, "ann": ann, "edition": edition.json()}


@pytest.mark.parametrize(("width", "locale"), [(1280, "en-US"), (390, "zh-CN")])
async def test_pause_and_resume_an_edition_and_read_the_audit_entry(
        site: tuple[str, Runtime], browser: Browser, width: int, locale: str) -> None:
    url, _ = site
    words = WORDS[locale]
    shop = await _shop(url, f"OOL{width}")
    context = await browser.new_context(viewport={"width": width, "height": 900},
                                        locale=locale)
    page = await context.new_page()
    await sign_in(page, url, shop["merchant"]["api_key"])
    await page.goto(url + "/editions")
    await expect(page.locator("#edition-state")).to_contain_text(words["open"])
    await expect(page.locator("#resume-btn")).to_be_hidden()

    # No reason, no change.
    await page.click("#pause-btn")
    await expect(page.locator("#change-result")).to_have_class("result error")
    await page.fill("#change-reason", "Stock count at the store")
    await page.click("#pause-btn")
    await expect(page.locator("#edition-state")).to_contain_text(words["paused"],
                                                                 timeout=20_000)
    await expect(page.locator("#editions-rows .paused-tag")).to_have_text(words["tag"])
    await expect(page.locator("#changes-list li").first).to_contain_text(
        "Stock count at the store")
    await expect(page.locator("#pause-btn")).to_be_hidden()

    # A sale while paused is refused, saying why.
    await page.fill("#sale-buyer", shop["ann"]["id"])
    await page.fill("#sale-order", "POS-1")
    await page.click("#sale-form button[type=submit]")
    await expect(page.locator("#sale-result")).to_contain_text(words["refused"],
                                                               timeout=20_000)
    if width < 600:
        assert await page.evaluate("document.documentElement.scrollWidth") <= width
    SHOTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(SHOTS / f"edition-paused-{width}.png"), full_page=True)

    await page.fill("#change-reason", "Counted: all there")
    await page.click("#resume-btn")
    await expect(page.locator("#edition-state")).to_contain_text(words["open"],
                                                                 timeout=20_000)
    await expect(page.locator("#changes-list li")).to_have_count(2)
    await page.click("#sale-form button[type=submit]")
    await expect(page.locator("#sold-serial")).to_have_text(f"OOL{width}-000001",
                                                            timeout=20_000)

    # Duplicate: the create form filled in from this edition, a new prefix to choose.
    await page.click("#duplicate-btn")
    await expect(page.locator("#ed-title")).to_have_value("Oolong tasting")
    await expect(page.locator("#ed-terms")).to_have_value("One tasting per coupon.")
    await expect(page.locator("#ed-price")).to_have_value("2.000000")
    await expect(page.locator("#ed-prefix")).to_have_value("")

    # The audit log: the pause, by this merchant in its page session, with its transaction.
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        shown = (await client.get(f"/v1/editions/{shop['edition']['id']}")).json()
    paused_tx = next(c["tx_hash"] for c in shown["changes"] if c["action"] == "paused")
    await page.goto(url + "/audit")
    entries = page.locator("#audit-rows tr")
    await page.fill("#audit-q", paused_tx)
    await page.click("#audit-filters button[type=submit]")
    await expect(entries).to_have_count(1)
    await expect(entries.locator(".operation")).to_contain_text("pause_edition")
    await expect(entries.locator(".evidence code").first).to_have_text(paused_tx)
    await page.screenshot(path=str(SHOTS / f"edition-pause-audit-{width}.png"), full_page=True)
    await context.close()
