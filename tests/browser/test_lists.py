"""The shared lists and the audit log in a real browser (issue 25): a merchant finds
a customer's coupons, filters them by date, exports the CSV and reads it back, then
reads the audit entry its own sale made; on a phone in Chinese and on a desktop in
English."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, expect

from couponchain.runtime import Runtime
from tests.api_auth import auth
from tests.browser.list_filters import download_csv, local_day
from tests.browser.screenshots import SHOTS
from tests.browser.signin import ADMIN, sign_in


async def _shop(url: str) -> dict[str, Any]:
    """A merchant, two customers, an edition, three sales to Ann and two to Bob."""
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        merchant = (await client.post("/v1/merchants", json={"name": "Lotus Tea House"},
                                      headers=ADMIN)).json()
        shop = auth(merchant)
        ann, bob = [(await client.post("/v1/consumers", json={"name": n}, headers=shop)).json()
                    for n in ("Ann Lee", "Bob Chan")]
        now = int(time.time())
        edition = await client.post("/v1/editions", headers=shop, json={
            "brand": "Lotus", "title": "Oolong tasting", "terms": "One tasting per coupon.",
            "prefix": "OOL", "total_pieces": 50, "price": 2_000_000,
            "valid_from": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 3600)),
            "valid_until": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + 86400))})
        assert edition.status_code == 201, edition.text
        sales = ([{"buyer": ann["id"], "order_ref": f"WEB-{i}"} for i in range(3)]
                 + [{"buyer": bob["id"], "order_ref": f"POS-{i}"} for i in range(2)])
        sold = await client.post(f"/v1/editions/{edition.json()['id']}/sales:bulk",
                                 headers=shop, json={"sales": sales})
        assert sold.status_code == 201, sold.text
    return {"merchant": merchant, "ann": ann, "bob": bob}


@pytest.mark.parametrize(("width", "locale"), [(390, "zh-CN"), (1280, "en-US")])
async def test_find_a_customer_filter_export_and_read_the_audit_entry(
        site: tuple[str, Runtime], browser: Browser, width: int, locale: str) -> None:
    url, _ = site
    shop = await _shop(url)
    context = await browser.new_context(viewport={"width": width, "height": 900},
                                        locale=locale, accept_downloads=True)
    page = await context.new_page()
    await sign_in(page, url, shop["merchant"]["api_key"])

    await page.goto(url + "/editions")
    # The shared controls speak the page's language (an imported macro needs the context).
    await expect(page.locator("#sales-export")).to_have_text(
        "导出 CSV" if locale == "zh-CN" else "Export CSV")
    rows = page.locator("#sales-rows tr")
    await expect(rows).to_have_count(5)
    # Find a customer by part of her name.
    await page.fill("#sales-q", "ann")
    await page.click("#sales-filters button[type=submit]")
    await expect(rows).to_have_count(3)
    await expect(rows.locator(".customer")).to_have_text(["Ann Lee"] * 3)
    # By date: nothing sold tomorrow; today's three again.
    await page.fill("#sales-from", local_day(1))
    await page.dispatch_event("#sales-from", "change")
    await expect(rows).to_have_count(0)
    await expect(page.locator("#sales-count")).not_to_be_empty()
    await page.fill("#sales-from", local_day(0))
    await page.fill("#sales-to", local_day(0))
    await page.click("#sales-filters button[type=submit]")
    await expect(rows).to_have_count(3)
    if width < 600:  # the controls fit the phone: nothing wider than the screen
        assert await page.evaluate("document.documentElement.scrollWidth") <= width
    SHOTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(SHOTS / f"lists-sales-{width}.png"), full_page=True)
    exported = await download_csv(page, "#sales-export")
    assert [r["serial"] for r in exported] == ["OOL-000001", "OOL-000002", "OOL-000003"]
    assert {r["owner_name"] for r in exported} == {"Ann Lee"}

    # A sale made in the page is in the audit log: who, with which credential, its tx.
    await page.fill("#sale-buyer", shop["bob"]["id"])
    await page.fill("#sale-order", "POS-9")
    await page.click("#sale-form button[type=submit]")
    await expect(page.locator("#sold-serial")).to_have_text("OOL-000006", timeout=20_000)
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        coupon = (await client.get("/v1/coupons/OOL-000006")).json()
    await page.goto(url + "/audit")
    entries = page.locator("#audit-rows tr")
    # Unfiltered: the page sale is the newest of the shop's writes (oldest first).
    await expect(entries.last.locator(".operation")).to_contain_text("record_sale")
    await page.fill("#audit-q", coupon["tx_hash"])
    await page.click("#audit-filters button[type=submit]")
    await expect(entries).to_have_count(1)
    await expect(entries.locator(".operation")).to_contain_text("record_sale")
    await expect(entries.locator(".evidence code").first).to_have_text(coupon["tx_hash"])
    await page.screenshot(path=str(SHOTS / f"audit-log-{width}.png"), full_page=True)
    (row,) = await download_csv(page, "#audit-export")
    assert (row["operation"], row["credential_kind"], row["tx_hash"]) == (
        "record_sale", "session", coupon["tx_hash"])
    assert row["participant_id"] == shop["merchant"]["id"]
    await context.close()
