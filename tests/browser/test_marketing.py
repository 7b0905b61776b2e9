"""Marketing in a real browser: a rule set in the editor, logs ingested, the report in the
inbox with its chart and evidence, the marketing info live on the storefront, and the
dashboard's charts of the same logs."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from playwright.async_api import Browser, expect

from couponchain.api.app import create_app
from couponchain.runtime import Runtime
from tests.api_auth import auth
from tests.browser.screenshots import SHOTS
from tests.browser.signin import ADMIN, fits, ok, signed_in_page
from tests.integration.conftest import make_settings, sqlite_url
from tests.ports import free_port

PHONE = {"width": 390, "height": 844}
MINUTE = 60
#: A whole hour well in the past: the test chooses the scheduler's clock.
T = (1_700_000_000 // 3600) * 3600


@pytest.fixture
async def quiet_site(tmp_path: Path, node_url: str,
                     migrated_sqlite: Path) -> AsyncIterator[tuple[str, Runtime]]:
    """The platform served over HTTP with its report scheduler off: the test runs the
    scheduler's rounds itself, at chosen times, so reports arrive deterministically."""
    settings = make_settings(tmp_path, sqlite_url(migrated_sqlite, tmp_path / "m.db"),
                             node_url).model_copy(update={"report_interval": 0.0,
                                                          "webhook_allow_hosts": "127.0.0.1"})
    runtime = Runtime(settings)
    await runtime.start()
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(runtime, manage_runtime=False),
                                           host="127.0.0.1", port=port, log_level="warning"))
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    yield f"http://127.0.0.1:{port}", runtime
    server.should_exit = True
    await serving
    await runtime.stop()


def _visits(number: int, start: int, visitors: int) -> list[dict[str, Any]]:
    """Two page views per visitor and one claim, within the minute from `start`."""
    return [{"ip": f"10.0.0.{v}", "time": start + v, "merchant": number, "method": method,
             "operation": operation}
            for v in range(visitors)
            for method, operation in (("browser", "view"), ("app", "view"), ("app", "claim"))]


async def test_a_rule_set_in_the_editor_reports_to_the_inbox_and_info_reaches_the_storefront(
    quiet_site: tuple[str, Runtime], browser: Browser
) -> None:
    url, runtime = quiet_site
    SHOTS.mkdir(parents=True, exist_ok=True)
    async with httpx.AsyncClient(base_url=url, timeout=60, headers=ADMIN) as client:
        shop = ok(await client.post("/v1/merchants", json={"name": "Tea House"}))
        till = ok(await client.post("/v1/terminals", json={"name": "Till 1"},
                                    headers=auth(shop)))
        number = ok(await client.get(f"/v1/merchants/{shop['id']}/reporting-rules"))[
            "merchant_number"]
        ok(await client.put(f"/v1/merchants/{shop['id']}/marketing-info", headers=auth(shop),
                            json={"headline": "Spring tea week", "description": "Two for one",
                                  "discount": {"type": "percent", "value": 20},
                                  "valid_from": "2026-01-01T00:00:00Z",
                                  "valid_until": "2099-01-01T00:00:00Z"}))

    inbox = await signed_in_page(browser, url, shop["api_key"], "/inbox", PHONE)
    await expect(inbox.locator("#rules-version")).to_contain_text("Version 0", timeout=10_000)
    await expect(inbox.locator("#inbox-empty")).to_be_visible()
    rule = inbox.locator("#rules-list fieldset").first
    # Nothing picked: the server refuses, naming the field.
    for box in await rule.locator("input[data-indicator]").all():
        await box.uncheck()
    await inbox.click("#rules-form button[type=submit]")
    await expect(inbox.locator("#rules-result")).to_contain_text(
        "Not saved: rules.0.indicators: select at least one indicator", timeout=10_000)
    # Every 1 minute: page views and unique visitors.
    await rule.locator("input[data-indicator='page_views']").check()
    await rule.locator("input[data-indicator='unique_visitors']").check()
    await rule.locator(".rule-type").select_option("periodic")
    await rule.locator(".rule-every").fill("1")
    await rule.locator(".rule-unit").select_option("minutes")
    # Periods from T (long past): period n is [T + n - 1 min, T + n min).
    await rule.locator(".rule-from").fill(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(T)))
    await inbox.click("#rules-form button[type=submit]")
    await expect(inbox.locator("#rules-result")).to_have_text("Saved version 1: 1 rule(s).",
                                                              timeout=20_000)
    await expect(inbox.locator("#rules-version")).to_contain_text("Version 1, set at")
    await expect(inbox.locator("#rules-history")).to_contain_text(
        "page_views, unique_visitors — every 1 min")

    # A webhook whose receiver is down: its secret is shown once, the attempt is logged.
    await inbox.fill("#webhook-url", "http://127.0.0.1:9/hook")
    await inbox.click("#webhook-form button[type=submit]")
    await expect(inbox.locator("#webhook-shown-secret")).to_have_text(
        re.compile(r"^\S{32,}$"), timeout=10_000)

    # The terminal ingests two minutes of visits; the scheduler runs after each minute.
    async with httpx.AsyncClient(base_url=url, timeout=60, headers=auth(till)) as client:
        ok(await client.post("/v1/access-logs", json={"records": _visits(number, T, 3)}))
        assert len(await runtime.marketing.tick(T + MINUTE + 5)) == 1
        ok(await client.post("/v1/access-logs",
                             json={"records": _visits(number, T + MINUTE, 5)}))
        assert len(await runtime.marketing.tick(T + 2 * MINUTE + 5)) == 1
    assert await runtime.marketing.webhooks.deliver_due() == 0

    await inbox.reload()
    rows = inbox.locator("#inbox-table tr[data-id]")
    await expect(rows).to_have_count(2, timeout=10_000)
    # Indicators in words, not their JSON keys (issue 24).
    await expect(rows.first).to_contain_text("page views: 10 · unique visitors: 5")
    await expect(rows.last).to_contain_text("page views: 6 · unique visitors: 3")
    await inbox.select_option("#inbox-indicator", "unique_visitors")
    await expect(inbox.locator("#inbox-chart")).to_have_attribute("data-points", "2")
    await expect(inbox.locator("#inbox-chart-note")).to_have_text(
        "unique visitors in the last 2 report(s): 3, 5")
    await rows.first.locator("button").click()
    await expect(inbox.locator("#report-reproduced")).to_contain_text("✓", timeout=10_000)
    onchain = await inbox.locator("#report-onchain").text_content()
    assert onchain and onchain == await inbox.locator("#report-recomputed").text_content()
    await expect(inbox.locator("#report-json")).to_contain_text('"unique_visitors": 5')
    await expect(inbox.locator("#report-delivery")).to_contain_text("after 1 attempt(s)")
    await expect(inbox.locator("#report-attempts li")).to_contain_text(["no answer"])
    await fits(inbox, PHONE["width"])
    await inbox.screenshot(path=str(SHOTS / "marketing-inbox.png"), full_page=True)

    # The merchant edits its marketing info; the storefront shows version 2 at once.
    await expect(inbox.locator("#info-headline")).to_have_value("Spring tea week")
    await inbox.fill("#info-headline", "Summer tea week")
    await inbox.fill("#info-segment", "new app visitors")
    await inbox.fill("#info-discount-value", "25")
    await inbox.click("#info-form button[type=submit]")
    await expect(inbox.locator("#info-result")).to_contain_text("Published version 2",
                                                                timeout=20_000)
    await expect(inbox.locator("#info-history tr")).to_have_count(2)
    await inbox.click("#info-storefront")
    await inbox.wait_for_url(f"{url}/merchants/{shop['id']}/storefront")
    await expect(inbox.locator("#storefront-headline")).to_have_text("Summer tea week")
    await expect(inbox.locator("#storefront-discount")).to_contain_text("25 % off")
    await expect(inbox.locator("#storefront-version")).to_contain_text("2 of 2")
    await expect(inbox.locator("main")).not_to_contain_text("Spring tea week")
    # Periods 1 and 2 were published; every later minute since T is due and is not:
    # the public page lists them, oldest first, from the chain's events.
    overdue = inbox.locator("#overdue-table tr[data-period]")
    await expect(overdue.first).to_have_attribute("data-period", "3")
    await expect(overdue.first).to_contain_text(
        time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(T + 2 * MINUTE)))
    await expect(overdue).to_have_count(20)
    await expect(inbox.locator("#overdue-count")).to_contain_text("period(s) overdue at")
    await fits(inbox, PHONE["width"])
    await inbox.screenshot(path=str(SHOTS / "storefront.png"), full_page=True)
    await inbox.goto(f"{url}/merchants/{shop['id']}/storefront?lang=zh-CN")
    await expect(inbox.locator("#storefront-overdue h2")).to_have_text("应发布而未发布的报告")
    await expect(inbox.locator("#overdue-count")).to_contain_text("逾期未发布")

    # The dashboard, one click from the inbox, charts the same anchored logs.
    await inbox.goto(url + "/inbox")
    await inbox.click("#inbox-dashboard")
    await inbox.wait_for_url(url + "/marketing")
    await expect(inbox.locator("#dash-range")).to_contain_text("24 records, per hour",
                                                               timeout=10_000)
    await expect(inbox.locator("#dash-visits")).to_have_attribute("data-points", "1")
    await expect(inbox.locator("#dash-visits-note")).to_contain_text("with 24 records")
    await expect(inbox.locator("#dash-methods")).to_have_attribute("data-points", "3")
    await expect(inbox.locator("#dash-methods-note")).to_have_text(
        "browser: 8, desktop: 0, app: 16")
    await expect(inbox.locator("#dash-funnel")).to_have_attribute("data-points", "4")
    await expect(inbox.locator("#dash-funnel-note")).to_have_text(
        "visit: 5 → claim: 5 → redeem: 0 → purchase: 0")
    # Beside the logged funnel, the contracts' own records of the window: none here.
    await expect(inbox.locator("#dash-chain")).to_contain_text("Coupon redemptions (chain events)")
    await expect(inbox.locator("#dash-chain-prizes")).to_have_text("0")
    # The charts are drawn, not just announced: the canvases hold coloured pixels.
    for chart in ("#dash-visits", "#dash-methods", "#dash-funnel"):
        assert await inbox.locator(chart).evaluate(
            "c => c.getContext('2d').getImageData(0, 0, c.width, c.height).data"
            ".some((v, i) => i % 4 === 3 && v > 0)"), chart
    # The latest 24 hours before the newest record: hourly buckets, the same 24 records.
    await inbox.select_option("#dash-window", "1")
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(T + MINUTE + 5 - 86_400))
    await expect(inbox.locator("#dash-range")).to_contain_text(f"{since} – ")
    await expect(inbox.locator("#dash-range")).to_contain_text("24 records, per hour")
    await expect(inbox.locator("#dash-visits")).to_have_attribute("data-points", "25")
    await fits(inbox, PHONE["width"])
    await inbox.screenshot(path=str(SHOTS / "marketing-dashboard.png"), full_page=True)


async def test_the_inbox_and_the_dashboard_ask_a_merchant_to_sign_in(
    quiet_site: tuple[str, Runtime], browser: Browser
) -> None:
    url, _ = quiet_site
    page = await browser.new_page()
    await page.goto(url + "/inbox")
    await expect(page.locator("#inbox-signin")).to_be_visible()
    await expect(page.locator("#inbox")).to_be_hidden()
    await expect(page.locator("header nav a[href='/inbox']")).to_have_text("Inbox")
    await page.goto(url + "/marketing")
    await expect(page.locator("#dash-signin")).to_be_visible()
    await expect(page.locator("#dash")).to_be_hidden()
