"""Prize write-off in a real browser: the consumer's rotating QR read from a screenshot,
the terminal's conditions and claim, the live dashboard, the offline queue."""

from __future__ import annotations

import asyncio
import io
import re
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import zxingcpp
from PIL import Image
from playwright.async_api import Browser, Page, expect

from couponchain.runtime import Runtime
from tests.api_auth import auth
from tests.browser.screenshots import SHOTS
from tests.browser.signin import ADMIN, fits, ok, signed_in_page

PHONE = {"width": 390, "height": 844}


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


async def _world(url: str) -> dict[str, Any]:
    """A merchant with a terminal, a consumer, a campaign and two awards to her."""
    async with httpx.AsyncClient(base_url=url, timeout=60, headers=ADMIN) as client:
        shop = ok(await client.post("/v1/merchants", json={"name": "Tea House"}))
        till = ok(await client.post("/v1/terminals", json={"name": "Till 1"},
                                    headers=auth(shop)))
        ann = ok(await client.post("/v1/consumers", json={"name": "Ann"}))
        campaign = ok(await client.post("/v1/prize-campaigns", headers=auth(shop), json={
            "title": "Summer draw", "prizes": [{"name": "Mug", "quantity": 5},
                                               {"name": "Tote", "quantity": 1}],
            "terminals": [till["id"]], "ends_at": _iso(time.time() + 3_600),
            "per_consumer_limit": 2}))
        awarded = ok(await client.post(
            f"/v1/prize-campaigns/{campaign['id']}/awards", headers=auth(shop),
            json={"awards": [{"consumer": ann["id"], "prize_index": 0},
                             {"consumer": ann["id"], "prize_index": 1}]}))
    return {"shop": shop, "till": till, "ann": ann, "campaign": campaign,
            "awards": [a["id"] for a in awarded["awards"]]}


def _decode_qr(png: bytes) -> str:
    (code,) = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    return code.text


async def _set_visibility(page: Page, state: str) -> None:
    await page.evaluate("""(state) => {
        Object.defineProperty(document, "visibilityState", {get: () => state,
                                                            configurable: true});
        Object.defineProperty(document, "hidden", {get: () => state === "hidden",
                                                   configurable: true});
        document.dispatchEvent(new Event("visibilitychange"));
    }""", state)


async def test_consumer_qr_to_terminal_claim_with_a_live_dashboard(
    site: tuple[str, Runtime], browser: Browser
) -> None:
    url, _ = site
    w = await _world(url)
    campaign_id = w["campaign"]["id"]
    SHOTS.mkdir(parents=True, exist_ok=True)

    # The merchant watches the campaign live.
    dash = await signed_in_page(browser, url, w["shop"]["api_key"], f"/prizes/{campaign_id}")
    await expect(dash.locator("#dash-live")).to_have_text("live", timeout=10_000)
    await expect(dash.locator("#dash-claimed")).to_have_text("0")
    await expect(dash.locator("#dash-awarded")).to_have_text("2")
    await dash.evaluate("window.notReloaded = true")

    # The consumer's phone shows a rotating QR for her newest prize, with a countdown.
    phone = await signed_in_page(browser, url, w["ann"]["api_key"], "/my-prizes", PHONE)
    qr = phone.locator("#prize-qr")
    await expect(qr).to_be_visible(timeout=10_000)
    await expect(phone.locator("#code-countdown")).to_have_text(re.compile(r"^\d{1,2} s$"))
    await expect(phone.locator("#awards li")).to_have_count(2)
    first_nonce = await qr.get_attribute("data-nonce")

    # Hidden page: no code on screen. Visible again: a fresh code.
    await _set_visibility(phone, "hidden")
    await expect(qr).to_be_hidden()
    assert await qr.get_attribute("src") is None
    assert await phone.locator("#prize-code").text_content() == ""
    await _set_visibility(phone, "visible")
    await expect(qr).to_be_visible(timeout=10_000)
    await expect(qr).not_to_have_attribute("data-nonce", first_nonce or "")
    await fits(phone, PHONE["width"])
    await phone.screenshot(path=str(SHOTS / "prize-consumer.png"), full_page=True)
    code = _decode_qr(await qr.screenshot(type="png"))
    assert code == await phone.locator("#prize-code").text_content()
    assert code.startswith("CCPZ2.")

    # The terminal uploads the QR as a photo: every condition passes; it confirms.
    terminal = await signed_in_page(browser, url, w["till"]["api_key"], "/terminal", PHONE)
    await expect(terminal.locator("#terminal-name")).to_have_text("Till 1")
    await terminal.set_input_files("#photo-input", files={
        "name": "prize.png", "mimeType": "image/png", "buffer": await qr.screenshot()})
    await expect(terminal.locator("#verdict-title")).to_have_text("Ready to hand out",
                                                                  timeout=10_000)
    await expect(terminal.locator("#conditions li.ok")).to_have_count(8)  # winner_signed too
    await expect(terminal.locator("#conditions li[data-name=terminal_eligible]")).to_contain_text(
        "✓")
    await expect(terminal.locator("#claim-info")).to_contain_text("Tote")
    await terminal.click("#confirm-claim")
    await expect(terminal.locator("#claim-result")).to_contain_text(
        "Claimed: hand out the Tote", timeout=20_000)
    await fits(terminal, PHONE["width"])
    await terminal.screenshot(path=str(SHOTS / "prize-terminal.png"), full_page=True)

    # The dashboard counted it without a reload; the phone shows the prize claimed.
    await expect(dash.locator("#dash-claimed")).to_have_text("1", timeout=20_000)
    await expect(dash.locator("#terminal-note")).to_contain_text("Till 1: 1")
    await expect(dash.locator("#stock-rows tr[data-index='1'] td").nth(3)).to_have_text("1")
    assert await dash.evaluate("window.notReloaded") is True
    await dash.screenshot(path=str(SHOTS / "prize-dashboard.png"), full_page=True)
    claimed = phone.locator(f"#awards li[data-id='{w['awards'][1]}']")
    await expect(claimed).to_have_attribute("data-status", "claimed", timeout=10_000)
    await expect(phone.locator("#mine-result")).to_contain_text("Enjoy your Tote")

    # Scanning the used code again: refused with the reason.
    await terminal.fill("#pz-code", code)
    await terminal.press("#pz-code", "Enter")
    await expect(terminal.locator("#verdict-title")).to_have_text("Do not hand out",
                                                                  timeout=10_000)
    await expect(terminal.locator("#conditions li[data-name=not_claimed]")).to_contain_text(
        "already", ignore_case=True)
    await expect(terminal.locator("#confirm-claim")).to_be_hidden()


async def test_offline_terminal_queues_and_syncs(site: tuple[str, Runtime],
                                                 browser: Browser) -> None:
    url, _ = site
    w = await _world(url)
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        code = ok(await client.get(f"/v1/prize-awards/{w['awards'][0]}/code",
                                   headers=auth(w["ann"])))["code"]
    terminal = await signed_in_page(browser, url, w["till"]["api_key"], "/terminal", PHONE)
    await expect(terminal.locator("#queue-count")).to_have_text("0", timeout=10_000)
    # The page checks signatures offline once it holds the published key and the
    # curve module; it fetches both on load (going offline earlier leaves the check
    # to the server at sync, which is not what this test is about).
    await terminal.wait_for_function(
        "() => window.prizeSignature && localStorage.getItem('couponchain.prizeSigner')")
    await terminal.context.set_offline(True)
    await expect(terminal.locator("#net-state")).to_have_text("offline")
    # A hardware scanner types garbage, then the real code, each ending with Enter.
    await terminal.fill("#pz-code", "hello")
    await terminal.press("#pz-code", "Enter")
    await expect(terminal.locator("#verdict-title")).to_have_text("Offline: not queued")
    await expect(terminal.locator("#conditions li[data-name=format]")).to_contain_text("✗")
    # A forged code (its signature changed) is refused by the page's own check.
    forged = code[:100] + ("A" if code[100] != "A" else "B") + code[101:]
    await terminal.fill("#pz-code", forged)
    await terminal.press("#pz-code", "Enter")
    await expect(terminal.locator("#verdict-title")).to_have_text("Offline: not queued")
    await expect(terminal.locator("#conditions li[data-name=signature]")).to_contain_text("✗")
    await terminal.fill("#pz-code", code)
    await terminal.press("#pz-code", "Enter")
    await expect(terminal.locator("#verdict-title")).to_have_text("Offline: claim queued")
    await expect(terminal.locator("#conditions li[data-name=not_expired]")).to_contain_text("✓")
    await expect(terminal.locator("#conditions li[data-name=signature]")).to_contain_text(
        "checked in this terminal")
    await expect(terminal.locator("#queue-count")).to_have_text("1")
    stored = await terminal.evaluate(
        "(id) => JSON.parse(localStorage.getItem('couponchain.prizeQueue.' + id))",
        w["till"]["id"])  # kept across reloads, with the local scan time
    assert [q["code"] for q in stored] == [code] and stored[0]["scanned_at"]
    # Back online: the queue is sent by itself and every item gets its result.
    await terminal.context.set_offline(False)
    await expect(terminal.locator("#sync-rows tr")).to_have_count(1, timeout=20_000)
    await expect(terminal.locator("#sync-rows")).to_contain_text("claimed")
    await expect(terminal.locator("#queue-count")).to_have_text("0")
    await expect(terminal.locator("#sync-result")).to_contain_text("1 claimed")
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        for _ in range(200):  # the claim is stored at once, on chain a moment later
            award = ok(await client.get(f"/v1/prize-awards/{w['awards'][0]}"))
            if award["status"] == "claimed":
                break
            await asyncio.sleep(0.1)
    assert award["status"] == "claimed" and award["claimed_by"] == w["till"]["address"]
    # The merchant's dashboard keeps the claim marked offline, with the terminal's time.
    dash = await signed_in_page(browser, url, w["shop"]["api_key"],
                                f"/prizes/{w['campaign']['id']}")
    await expect(dash.locator("#dash-offline")).to_have_text("1", timeout=10_000)
    row = dash.locator("#claims-rows tr[data-source=offline]")
    await expect(row).to_have_count(1)
    await expect(row).to_contain_text("offline scan")
    await expect(row).to_contain_text("Till 1")
    await dash.screenshot(path=str(SHOTS / "prize-dashboard-offline.png"), full_page=True)
    await expect(row).to_contain_text("terminal's clock")


async def test_merchant_creates_a_campaign_and_awards_in_bulk(
    site: tuple[str, Runtime], browser: Browser
) -> None:
    url, _ = site
    async with httpx.AsyncClient(base_url=url, timeout=60, headers=ADMIN) as client:
        shop = ok(await client.post("/v1/merchants", json={"name": "Tea House"}))
        till = ok(await client.post("/v1/terminals", json={"name": "Till 1"},
                                    headers=auth(shop)))
        fans = [ok(await client.post("/v1/consumers", json={"name": n}))
                for n in ("Ann", "Bob")]
    page = await signed_in_page(browser, url, shop["api_key"], "/prizes")
    await expect(page.locator("#campaigns-empty")).to_be_visible(timeout=10_000)
    await page.fill("#pc-title", "Opening week")
    await page.fill("#prize-rows .prize-name", "Mug")
    await page.fill("#prize-rows .prize-quantity", "10")
    await page.check(f".terminal-box[value='{till['id']}']")
    await page.fill("#pc-limit", "1")
    await page.click("#campaign-form button[type=submit]")
    await expect(page.locator("#campaign-result")).to_contain_text("Created campaign #1",
                                                                   timeout=20_000)
    await expect(page.locator("#campaigns-rows tr")).to_have_count(1)
    await expect(page.locator("#aw-prize")).to_contain_text("Mug — 10 of 10 to award")
    # Customer numbers pasted at once join the winners (the picker names them).
    await page.fill("#aw-consumers", " ".join(f["id"] for f in fans))
    await expect(page.locator("#aw-winners li")).to_have_count(2)
    await expect(page.locator("#aw-winners")).to_contain_text("Bob")
    await page.click("#award-form button[type=submit]")
    await expect(page.locator("#award-result")).to_contain_text("Awarded 2 × Mug",
                                                                timeout=20_000)
    await expect(page.locator("#campaigns-rows")).to_contain_text("0 / 2", timeout=10_000)
    await page.screenshot(path=str(SHOTS / "prize-campaigns.png"), full_page=True)
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        detail = ok(await client.get("/v1/prize-campaigns/1"))
    assert [t["id"] for t in detail["terminals"]] == [till["id"]]
    assert detail["per_consumer_limit"] == 1 and detail["prizes"][0]["awarded"] == 2


async def test_merchant_revokes_an_unclaimed_award_with_a_reason(
    site: tuple[str, Runtime], browser: Browser
) -> None:
    url, _ = site
    w = await _world(url)
    revoked, kept = w["awards"]
    dash = await signed_in_page(browser, url, w["shop"]["api_key"],
                                f"/prizes/{w['campaign']['id']}")
    rows = dash.locator("#awards-rows tr")
    await expect(rows).to_have_count(2, timeout=10_000)
    await expect(dash.locator("#awards-rows button.revoke")).to_have_count(2)
    row = dash.locator(f"#awards-rows tr[data-id='{revoked}']")
    await row.locator("button.revoke").click()
    await row.locator(".revoke-reason").fill("Winner entered twice")
    await row.locator("button.confirm-revoke").click()
    await expect(dash.locator("#awards-result")).to_contain_text(
        f"Revoked award #{revoked}", timeout=20_000)
    row = dash.locator(f"#awards-rows tr[data-id='{revoked}']")
    await expect(row.locator(".award-status")).to_have_text("revoked: Winner entered twice")
    await expect(row.locator("button.revoke")).to_have_count(0)
    await expect(dash.locator(f"#awards-rows tr[data-id='{kept}'] button.revoke")).to_have_count(1)
    await dash.screenshot(path=str(SHOTS / "prize-revoke.png"), full_page=True)

    phone = await signed_in_page(browser, url, w["ann"]["api_key"], "/my-prizes", PHONE)
    await expect(phone.locator("#awards")).to_contain_text("revoked: Winner entered twice",
                                                           timeout=10_000)
    await phone.close()
    await dash.close()


async def test_merchant_adjusts_a_running_campaign_from_the_dashboard(
    site: tuple[str, Runtime], browser: Browser
) -> None:
    url, _ = site
    w = await _world(url)
    dash = await signed_in_page(browser, url, w["shop"]["api_key"],
                                f"/prizes/{w['campaign']['id']}")
    await expect(dash.locator("#adjust")).to_be_visible(timeout=10_000)
    # A window end in the past is refused, naming the contract's rule.
    await dash.fill("#adjust-ends", "2020-01-01T00:00")
    await dash.fill("#window-reason", "typo")
    await dash.click("#window-submit")
    await expect(dash.locator("#adjust-result")).to_contain_text(
        "window end not in the future", timeout=20_000)
    await dash.fill("#adjust-ends", datetime.fromtimestamp(time.time() + 7_200)
                    .strftime("%Y-%m-%dT%H:%M"))
    await dash.fill("#window-reason", "The fair runs longer")
    await dash.click("#window-submit")
    await expect(dash.locator("#adjust-result")).to_contain_text("The window now ends at",
                                                                 timeout=20_000)
    await dash.select_option("#adjust-prize", "0")
    await dash.fill("#adjust-quantity", "9")
    await dash.fill("#stock-reason", "More mugs arrived")
    await dash.click("#stock-submit")
    await expect(dash.locator("#adjust-result")).to_contain_text("The stock is now 9.",
                                                                 timeout=20_000)
    await expect(dash.locator("#stock-rows")).to_contain_text("9", timeout=10_000)
    await expect(dash.locator("#changes-rows tr")).to_have_count(2)
    await expect(dash.locator("#changes-rows")).to_contain_text("More mugs arrived")
    await dash.screenshot(path=str(SHOTS / "prize-adjust.png"), full_page=True)
    await dash.close()
