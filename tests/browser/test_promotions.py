"""Promotion coupons in a real browser: console, till, wallet, consent QR read from a photo."""

from __future__ import annotations

import re
from typing import Any

import httpx
from playwright.async_api import Browser, expect

from couponchain.runtime import Runtime
from tests.api_auth import auth
from tests.browser.screenshots import SHOTS
from tests.browser.signin import ADMIN, fits, ok, signed_in_page

SHARES = {"platform": 1_000, "issuer": 2_000, "redeemer": 2_000, "holder": 3_000,
          "earlier": 2_000}
PHONE = {"width": 390, "height": 844}


async def _world(url: str) -> dict[str, dict[str, Any]]:
    """Two merchants (the second with a terminal and credits), two consumers, a round."""
    async with httpx.AsyncClient(base_url=url, timeout=60, headers=ADMIN) as client:
        issuer = ok(await client.post("/v1/merchants", json={"name": "Tea House"}))
        redeemer = ok(await client.post("/v1/merchants",
                                        json={"name": "Noodle Bar"}))
        terminal = ok(await client.post(
            "/v1/terminals", json={"name": "Till 1"}, headers=auth(redeemer)))
        ann = ok(await client.post("/v1/consumers", json={"name": "Ann"}))
        bob = ok(await client.post("/v1/consumers", json={"name": "Bob"}))
        ok(await client.post("/v1/credits", json={"to": redeemer["id"],
                                                  "amount": 10_000_000}))
        capped = await client.put(f"/v1/merchants/{redeemer['id']}/incentive-cap",
                                  json={"cap": 10_000_000}, headers=auth(redeemer))
        assert capped.status_code == 200, capped.text
        opened = ok(await client.post("/v1/promotion-rounds", json={
            "evaluation": {"turnover": [{"merchant": issuer["id"], "amount": 1_000_000},
                                        {"merchant": redeemer["id"], "amount": 3_000_000}],
                           "consumers": 2},
            "formula": {"base_per_merchant": 10, "turnover_per_coupon": 100_000,
                        "per_consumer": 2, "max_total": 1_000_000},
            "incentive_bps": 1_000, "shares": SHARES, "rollback_window_seconds": 0,
            "consent_lifetime_seconds": 120}))
        ok(await client.post(
            f"/v1/promotion-rounds/{opened['id']}/allocations",
            json={"allocations": [{"merchant": issuer["id"], "count": 5}]}))
    return {"issuer": issuer, "redeemer": redeemer, "terminal": terminal, "ann": ann,
            "bob": bob}


async def test_console_till_and_wallet_from_round_to_withdrawn_payout(
    site: tuple[str, Runtime], browser: Browser
) -> None:
    url, _ = site
    w = await _world(url)
    SHOTS.mkdir(parents=True, exist_ok=True)

    # The platform previews a round and sees its total before opening it.
    console = await signed_in_page(browser, url, "test-admin-key", "/promotions")
    await expect(console.locator("#rounds-rows tr")).to_have_count(1)
    await expect(console.locator("#turnover-rows")).to_contain_text("Noodle Bar")
    await console.fill(f"#turnover-rows input[data-merchant='{w['issuer']['id']}']", "1")
    await console.fill(f"#turnover-rows input[data-merchant='{w['redeemer']['id']}']", "3.5")
    await console.fill("#ev-consumers", "2")
    await console.fill("#r-window", "0")
    await console.click("#preview-button")
    # 2 merchants * 10 + 4.5 CCC // 1 CCC + (2 registered + 2 declared consumers) * 2
    await expect(console.locator("#preview-total")).to_have_text("32", timeout=10_000)
    await expect(console.locator("#preview-terms")).to_contain_text("Turnover part")
    # Measured and declared inputs are told apart.
    await expect(console.locator("#preview-terms")).to_contain_text(
        "Measured: consumers registered2")
    await expect(console.locator("#preview-terms")).to_contain_text(
        "Declared: turnover4.500000 CCC")
    await expect(console.locator("#open-round")).to_be_visible()
    await expect(console.locator("#rounds-rows tr")).to_have_count(1)  # nothing opened yet
    await console.click("#open-round")
    await expect(console.locator("#round-result")).to_contain_text("Opened round #2: 32 coupons",
                                                                   timeout=20_000)
    await expect(console.locator("#rounds-rows tr")).to_have_count(2)
    await console.select_option("#allocate-merchant", w["redeemer"]["id"])
    await console.fill("#allocate-count", "7")
    await console.click("#allocate-form button[type=submit]")
    await expect(console.locator("#allocate-result")).to_contain_text("Allocated 7",
                                                                      timeout=20_000)
    await expect(console.locator("#allocations-rows")).to_contain_text("Noodle Bar")
    await expect(console.locator("#rounds-rows tr[data-id='2'] .count-allocated")).to_have_text(
        "7", timeout=10_000)
    await console.screenshot(path=str(SHOTS / "promotions-console.png"), full_page=True)

    # The issuing merchant grants a coupon out of its allocation of round 1.
    issuer = await signed_in_page(browser, url, w["issuer"]["api_key"], "/promotions/merchant")
    await expect(issuer.locator("#grant-round option[value='1']")).to_have_text(
        "Round #1 — 5 left", timeout=10_000)
    await issuer.select_option("#grant-round", "1")
    await issuer.fill("#grant-consumer", w["ann"]["id"])
    await issuer.click("#grant-form button[type=submit]")
    await expect(issuer.locator("#grant-result")).to_contain_text("Granted 1 coupon to",
                                                                  timeout=20_000)
    # It never set an incentive cap (no unlimited approval is given for it): it sets one.
    await expect(issuer.locator("#cap-value")).to_contain_text("not set", timeout=10_000)
    await issuer.fill("#cap-input", "500")
    await issuer.click("#cap-form button[type=submit]")
    await expect(issuer.locator("#cap-result")).to_contain_text(
        "Cap set to 500.000000 CCC; 500.000000 CCC left.", timeout=20_000)
    await expect(issuer.locator("#cap-left")).to_have_text("500.000000 CCC")

    # The consumer shows a consent QR on her phone.
    wallet = await signed_in_page(browser, url, w["ann"]["api_key"], "/wallet", PHONE)
    coupon = wallet.locator("#wallet-coupons li").first
    await expect(coupon).to_contain_text("active", timeout=10_000)
    coupon_id = await coupon.get_attribute("data-id")
    await coupon.locator("button", has_text="Show consent QR").click()
    # She consents for the Noodle Bar only, for an order of at most 1 CCC.
    await coupon.locator(".consent-merchant").select_option(label="Noodle Bar")
    await coupon.locator(".consent-max").fill("1")
    await coupon.locator(".consent-form button[type=submit]").click()
    qr = wallet.locator("#consent-qr")
    await expect(qr).to_be_visible(timeout=10_000)
    await expect(wallet.locator("#consent-countdown")).to_have_text(re.compile(r"^[0-4]:\d\d$"))
    await expect(wallet.locator("#consent-merchant")).to_have_text("Noodle Bar")
    await expect(wallet.locator("#consent-max")).to_have_text("1.000000 CCC")
    code = await wallet.locator("#consent-code").text_content()
    assert code
    await fits(wallet, PHONE["width"])
    photo = await qr.screenshot(type="png")

    # The terminal uploads the QR as a photo; the server reads it; the till writes off.
    till = await signed_in_page(browser, url, w["terminal"]["api_key"], "/promotions/merchant",
                                PHONE)
    await expect(till.locator("#till-merchant")).to_contain_text("Noodle Bar")
    await expect(till.locator("#grant-section")).to_be_hidden()  # terminals do not grant
    await till.set_input_files("#photo-input", files={
        "name": "consent.png", "mimeType": "image/png", "buffer": photo})
    await expect(till.locator("#scan-status")).to_contain_text("from the photo", timeout=10_000)
    await expect(till.locator("#wo-code")).to_have_value(code)
    await till.fill("#wo-amount", "1.5")  # above the consent's maximum: refused, saying so
    await till.click("#write-off-form button[type=submit]")
    await expect(till.locator("#write-off-result")).to_contain_text(
        "above the 1000000 the holder's consent allows", timeout=20_000)
    await till.fill("#wo-amount", "1")
    await till.click("#write-off-form button[type=submit]")
    await expect(till.locator("#wo-incentive")).to_have_text("0.100000 CCC", timeout=20_000)
    await expect(till.locator("#write-off-result")).to_contain_text(
        f"Written off coupon #{coupon_id} for an order of 1.000000 CCC")
    await expect(till.locator("#write-offs-rows tr")).to_have_count(1, timeout=10_000)
    await expect(till.locator("#write-off-chart-note")).to_contain_text("1 standing write-off")
    await fits(till, PHONE["width"])
    await till.screenshot(path=str(SHOTS / "promotions-merchant.png"), full_page=True)

    # The pool is distributed within seconds; the holder's 30 % shows up and is withdrawn.
    await wallet.click("#consent-close")
    await expect(wallet.locator("#payout-claimable")).to_have_text("0.030000 CCC",
                                                                   timeout=30_000)
    await expect(wallet.locator("#payout-rows")).to_contain_text("holder")
    await wallet.click("#withdraw")
    await expect(wallet.locator("#withdraw-result")).to_contain_text(
        "Withdrew 0.030000 CCC; you now hold 0.030000 CCC", timeout=20_000)
    await expect(wallet.locator("#payout-balance")).to_have_text("0.030000 CCC")
    await expect(wallet.locator("#payout-claimable")).to_have_text("0.000000 CCC")
    await expect(wallet.locator("#withdraw")).to_be_disabled()
    await fits(wallet, PHONE["width"])
    await wallet.screenshot(path=str(SHOTS / "wallet.png"), full_page=True)

    # Anyone may follow the coupon on its public page.
    await wallet.goto(f"{url}/promotion-coupons/{coupon_id}")
    await expect(wallet.locator("#promo-coupon-status")).to_have_text("distributed")
    await expect(wallet.locator("#promo-coupon-pool")).to_have_text("0.100000 CCC")
    await expect(wallet.locator("#promo-coupon-path")).to_contain_text("written off")


async def test_pages_ask_for_the_right_role(site: tuple[str, Runtime], browser: Browser) -> None:
    url, _ = site
    page = await browser.new_page()
    for path, note in (("/promotions", "#promo-console-signin"),
                       ("/promotions/merchant", "#till-signin"), ("/wallet", "#wallet-signin")):
        await page.goto(url + path)
        await expect(page.locator(note)).to_be_visible()
    await page.goto(url + "/promotion-coupons/999999")
    await expect(page.locator("#promo-coupon-error")).to_contain_text("999999")


async def test_a_hardware_scanner_writes_off_and_the_merchant_reverses(
    site: tuple[str, Runtime], browser: Browser
) -> None:
    url, _ = site
    w = await _world(url)
    async with httpx.AsyncClient(base_url=url, timeout=60, headers=ADMIN) as client:
        opened = ok(await client.post("/v1/promotion-rounds", json={
            "evaluation": {"turnover": [], "consumers": 2},
            "formula": {"turnover_per_coupon": 1, "per_consumer": 5, "max_total": 100},
            "incentive_bps": 1_000, "shares": SHARES, "rollback_window_seconds": 3_600}))
        ok(await client.post(f"/v1/promotion-rounds/{opened['id']}/allocations",
                             json={"allocations": [{"merchant": w["issuer"]["id"],
                                                    "count": 3}]}))
        granted = ok(await client.post("/v1/promotion-grants", headers=auth(w["issuer"]),
                                       json={"round_id": opened["id"],
                                             "grants": [{"consumer": w["bob"]["id"]}]}))
        (coupon_id,) = granted["coupon_ids"]
        code = ok(await client.post(
            f"/v1/promotion-coupons/{coupon_id}/consent", headers=auth(w["bob"]),
            json={"merchant": w["redeemer"]["id"], "max_order_amount": 2_500_000}))["code"]

    till = await signed_in_page(browser, url, w["redeemer"]["api_key"], "/promotions/merchant")
    await till.fill("#wo-amount", "2.5")
    # A scanner types the code into the focused field and presses Enter.
    await till.fill("#wo-code", code)
    await till.press("#wo-code", "Enter")
    await expect(till.locator("#wo-incentive")).to_have_text("0.250000 CCC", timeout=20_000)
    await expect(till.locator("#write-off-result")).to_contain_text("Reversible until")
    row = till.locator("#write-offs-rows tr").first
    await expect(row).to_contain_text("written off", timeout=10_000)
    await row.locator("button", has_text="Reverse").click()
    await row.locator("button", has_text="Confirm reversal").click()
    await expect(till.locator("#write-off-result")).to_contain_text(
        f"Reversed the write-off of coupon #{coupon_id}", timeout=20_000)
    await expect(till.locator("#write-offs-empty")).to_be_visible(timeout=10_000)
    # A bad code is refused with the API's reason, naming the field.
    await till.fill("#wo-code", "hello")
    await till.press("#wo-code", "Enter")  # no amount yet: the amount field takes the focus
    await expect(till.locator("#wo-amount")).to_be_focused()
    await till.fill("#wo-amount", "1")
    await till.press("#wo-amount", "Enter")
    await expect(till.locator("#write-off-result")).to_contain_text("Not written off: code",
                                                                    timeout=10_000)

    wallet = await signed_in_page(browser, url, w["bob"]["api_key"], "/wallet", PHONE)
    await expect(wallet.locator(f"#wallet-coupons li[data-id='{coupon_id}']")).to_contain_text(
        "active", timeout=10_000)
