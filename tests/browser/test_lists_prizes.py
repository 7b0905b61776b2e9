"""The shared list controls on the prize consoles in a real browser (issue 25): a
merchant filters its campaigns by status and date, then on a campaign's dashboard
finds a customer's awards and claims, filters them, exports the CSV and reads it
back; on a phone in Chinese and on a desktop in English."""

from __future__ import annotations

import asyncio
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


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


async def _prizes(url: str) -> dict[str, Any]:
    """A merchant with a till, an open and an upcoming campaign, two awards to Ann Lee
    and one to Bob Chan, whose prize the till handed out."""
    async with httpx.AsyncClient(base_url=url, timeout=60, headers=ADMIN) as client:
        async def made(path: str, body: dict[str, Any],
                       who: dict[str, Any] | None = None) -> dict[str, Any]:
            got = await client.post(path, json=body, headers=auth(who) if who else None)
            assert got.status_code in (200, 201), got.text
            return got.json()  # type: ignore[no-any-return]

        shop = await made("/v1/merchants", {"name": "Lotus Tea House"})
        till = await made("/v1/terminals", {"name": "Front till"}, shop)
        ann, bob = [await made("/v1/consumers", {"name": n}, shop)
                    for n in ("Ann Lee", "Bob Chan")]
        now = time.time()
        draw = await made("/v1/prize-campaigns", {
            "title": "Spring draw", "prizes": [{"name": "Teapot", "quantity": 5}],
            "terminals": [till["id"]], "ends_at": _iso(now + 3600), "per_consumer_limit": 2},
            shop)
        await made("/v1/prize-campaigns", {
            "title": "Moon festival", "prizes": [{"name": "Mooncake", "quantity": 5}],
            "all_terminals": True, "starts_at": _iso(now + 86400 * 3),
            "ends_at": _iso(now + 86400 * 4)}, shop)
        awarded = await made(f"/v1/prize-campaigns/{draw['id']}/awards", {"awards": [
            {"consumer": c["id"]} for c in (ann, bob, ann)]}, shop)
        bob_award = awarded["awards"][1]["id"]
        code = (await client.get(f"/v1/prize-awards/{bob_award}/code",
                                 headers=auth(bob))).json()["code"]
        scan = await made("/v1/prize-scans", {"code": code}, till)
        claim = await made("/v1/prize-claims", {"scan_id": scan["scan_id"]}, till)
        for _ in range(400):  # the claim reaches the chain
            if (await client.get(f"/v1/prize-claims/{claim['id']}", headers=auth(till))
                    ).json()["status"] == "recorded":
                break
            await asyncio.sleep(0.05)
    return {"shop": shop, "draw": draw, "awards": [a["id"] for a in awarded["awards"]]}


@pytest.mark.parametrize(("width", "locale"), [(390, "zh-CN"), (1280, "en-US")])
async def test_prize_consoles_filter_find_and_export(
        site: tuple[str, Runtime], browser: Browser, width: int, locale: str) -> None:
    url, _ = site
    world = await _prizes(url)
    context = await browser.new_context(viewport={"width": width, "height": 900},
                                        locale=locale, accept_downloads=True)
    page = await context.new_page()
    await sign_in(page, url, world["shop"]["api_key"])

    # The campaigns: newest first; by status; by creation date.
    await page.goto(url + "/prizes")
    await expect(page.locator("#campaigns-export")).to_have_text(
        "导出 CSV" if locale == "zh-CN" else "Export CSV")
    campaigns = page.locator("#campaigns-rows tr")
    await expect(campaigns).to_have_count(2, timeout=10_000)
    await page.select_option("#campaigns-status", "upcoming")
    await expect(campaigns).to_have_count(1)
    await expect(campaigns).to_contain_text("Moon festival")
    await page.select_option("#campaigns-status", "")
    await page.fill("#campaigns-from", local_day(1))
    await page.dispatch_event("#campaigns-from", "change")
    await expect(campaigns).to_have_count(0)
    await page.fill("#campaigns-from", local_day(0))
    await page.fill("#campaigns-to", local_day(0))
    await page.click("#campaigns-filters button[type=submit]")
    await expect(campaigns).to_have_count(2)
    if width < 600:
        assert await page.evaluate("document.documentElement.scrollWidth") <= width
    SHOTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(SHOTS / f"lists-prize-campaigns-{width}.png"),
                          full_page=True)
    exported = await download_csv(page, "#campaigns-export")
    assert [r["title"] for r in exported] == ["Moon festival", "Spring draw"]

    # A campaign's awards: find a customer, filter by status, export.
    await page.goto(url + f"/prizes/{world['draw']['id']}")
    awards = page.locator("#awards-rows tr")
    await expect(awards).to_have_count(3, timeout=10_000)
    await page.fill("#awards-q", "ann")
    await page.click("#awards-filters button[type=submit]")
    await expect(awards).to_have_count(2)
    await expect(awards.locator(".customer")).to_contain_text(["Ann Lee", "Ann Lee"])
    mine = await download_csv(page, "#awards-export")
    assert [(r["id"], r["consumer_name"]) for r in mine] == [
        (str(world["awards"][0]), "Ann Lee"), (str(world["awards"][2]), "Ann Lee")]
    await page.fill("#awards-q", "")
    await page.select_option("#awards-status", "claimed")
    await expect(awards).to_have_count(1)
    await expect(awards).to_contain_text("Bob Chan")

    # Its claims: by customer and by date; the export holds what is shown.
    claims = page.locator("#claims-rows tr")
    await expect(claims).to_have_count(1, timeout=10_000)
    await page.fill("#claims-q", "bob")
    await page.fill("#claims-to", local_day(-1))
    await page.click("#claims-filters button[type=submit]")
    await expect(claims).to_have_count(0)
    await expect(page.locator("#claims-count")).not_to_be_empty()
    await page.fill("#claims-to", local_day(0))
    await page.dispatch_event("#claims-to", "change")
    await expect(claims).to_have_count(1)
    if width < 600:
        assert await page.evaluate("document.documentElement.scrollWidth") <= width
    await page.screenshot(path=str(SHOTS / f"lists-prize-dashboard-{width}.png"),
                          full_page=True)
    # What the prizes contract does not allow yet, the page says.
    await expect(page.locator("#pause-note")).to_be_visible()
    (claim,) = await download_csv(page, "#claims-export")
    assert (claim["award_id"], claim["consumer_name"], claim["terminal_name"],
            claim["status"]) == (str(world["awards"][1]), "Bob Chan", "Front till", "recorded")
    await context.close()
