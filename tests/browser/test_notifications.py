"""Notifications in a real browser (issue 25): a merchant's notifications page, open at
1280 px in English and at 390 px in zh-CN, receives a prize award live (server-sent
events through EventSource), the bell counts it (on another console page too), "Mark
all read" clears the count, and a kind is switched off and on again from the page's
switches."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import httpx
from playwright.async_api import Browser, expect

from couponchain.runtime import Runtime
from tests.api_auth import auth
from tests.browser.screenshots import SHOTS
from tests.browser.signin import ADMIN, fits, ok, signed_in_page

VIEWPORTS = {1280: {"width": 1280, "height": 900}, 390: {"width": 390, "height": 844}}
SAYS = {
    "en": {"won": "Ann won Mug in Summer draw.", "saved": "Saved.", "unread": "1 unread",
           "live": "Live: new notifications appear here."},
    "zh_CN": {"won": "Ann在“Summer draw”中赢得了Mug。", "saved": "已保存。", "unread": "1 条未读",
              "live": "实时：新通知会出现在这里。"},
}


async def test_the_merchant_page_receives_a_notification_live(
        site: tuple[str, Runtime], browser: Browser) -> None:
    url, _runtime = site
    async with httpx.AsyncClient(base_url=url, timeout=60, headers=ADMIN) as client:
        shop = ok(await client.post("/v1/merchants", json={"name": "Tea House"}))
        ann = ok(await client.post("/v1/consumers", json={"name": "Ann"}))
        campaign = ok(await client.post("/v1/prize-campaigns", headers=auth(shop), json={
            "title": "Summer draw", "prizes": [{"name": "Mug", "quantity": 5}],
            "all_terminals": True, "per_consumer_limit": 5,
            "ends_at": datetime.fromtimestamp(time.time() + 3600, UTC).isoformat()}))
        SHOTS.mkdir(parents=True, exist_ok=True)
        for width, lang in ((1280, "en"), (390, "zh_CN")):
            says, tag = SAYS[lang], lang.replace("_", "-")
            page = await signed_in_page(browser, url, shop["api_key"], "/notifications",
                                        VIEWPORTS[width], lang)
            await expect(page.locator("#notes-live-text")).to_have_text(says["live"])
            await expect(page.locator("#bell")).to_be_visible()
            await expect(page.locator("#bell-count")).to_be_hidden()
            # Awarded through the API while the page is open: it arrives by itself.
            ok(await client.post(f"/v1/prize-campaigns/{campaign['id']}/awards",
                                 headers=auth(shop), json={"awards": [{"consumer": ann["id"]}]}))
            newest = page.locator("#notes-list li").first
            await expect(newest).to_contain_text(says["won"])
            await expect(newest).to_have_class("unread fresh")
            await expect(page.locator("#bell-count")).to_have_text("1")
            await expect(page.locator("#notes-unread")).to_have_text(says["unread"])
            await page.screenshot(path=str(SHOTS / f"notifications-live-{width}-{tag}.png"))
            await fits(page, width)

            # Another console page shows the count too (fetched, not streamed there).
            await page.goto(url + "/prizes")
            await expect(page.locator("#bell-count")).to_have_text("1")
            await page.goto(url + "/notifications")
            await expect(page.locator("#notes-list li.unread")).to_have_count(1)

            await page.click("#notes-read-all")
            await expect(page.locator("#bell-count")).to_be_hidden()
            await expect(page.locator("#notes-list li.unread")).to_have_count(0)

            # The switches: off, saved, read back by the API; on again.
            for on in (False, True):
                await page.locator("#switch-prize_awarded").set_checked(on)
                await page.click("#notes-settings button[type=submit]")
                await expect(page.locator("#notes-settings-result")).to_have_text(says["saved"])
                settings = ok(await client.get(
                    f"/v1/merchants/{shop['id']}/notification-settings", headers=auth(shop)))
                assert settings["kinds"]["prize_awarded"] is on
                await page.locator("#notes-settings-result").evaluate("e => e.textContent = ''")
            await page.close()
