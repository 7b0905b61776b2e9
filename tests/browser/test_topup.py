"""Top-up at the till in a real browser (issue 24), at 1280 px in English and 390 px in
zh-CN: a terminal
tops up a consumer within the limit the platform set, the consumer sees the
top-up and the balance in the wallet, and a product's Buy button is not offered
as usable until the balance pays for it."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, expect

from couponchain.runtime import Runtime
from tests.api_auth import auth
from tests.browser.screenshots import SHOTS
from tests.browser.signin import ADMIN, fits, ok, signed_in_page

CCC = 1_000_000
VIEWPORTS = {1280: {"width": 1280, "height": 900}, 390: {"width": 390, "height": 844}}
#: What the pages say, per language (the phone run reads them in zh-CN).
SAYS = {
    "en": {"short": "Top up at a shop's till",
           "done": "Topped up 12.500000 CCC for Mei. Left of the till limit: 87.500000 CCC.",
           "where": "Corner Tea (Front till)"},
    "zh_CN": {"short": "请到商店收银台充值",
              "done": "已为Mei充值 12.500000 CCC。收银台额度剩余：87.500000 CCC。",
              "where": "Corner Tea（Front till）"},
}


async def _shop(url: str) -> dict[str, dict[str, Any]]:
    """A merchant (no till limit yet), its terminal, a consumer, a product."""
    async with httpx.AsyncClient(base_url=url, timeout=60, headers=ADMIN) as client:
        merchant = ok(await client.post("/v1/merchants", json={"name": "Corner Tea"}))
        terminal = ok(await client.post("/v1/terminals", json={"name": "Front till"},
                                        headers=auth(merchant)))
        consumer = ok(await client.post("/v1/consumers", json={"name": "Mei"}))
        product = ok(await client.post("/v1/products", headers=auth(merchant), json={
            "name": "Tea tin", "description": "A tin of green tea.", "price": 5 * CCC,
            "circulation": 10}))
    return {"merchant": merchant, "terminal": terminal, "consumer": consumer,
            "product": product}


@pytest.mark.parametrize(("width", "lang"), [(1280, "en"), (390, "zh_CN")])
async def test_terminal_tops_up_and_consumer_sees_it(
    site: tuple[str, Runtime], browser: Browser, width: int, lang: str
) -> None:
    url, runtime = site
    says = SAYS[lang]
    tag = lang.replace("_", "-")  # in the screenshots' names
    w = await _shop(url)
    consumer = w["consumer"]
    SHOTS.mkdir(parents=True, exist_ok=True)

    # At balance 0 the Buy button is not usable, and the page says where credit comes from.
    buyer = await signed_in_page(browser, url, consumer["api_key"],
                                 f"/products/{w['product']['id']}", VIEWPORTS[width], lang)
    await expect(buyer.locator("#buy-balance")).to_have_text("0.000000 CCC")
    await expect(buyer.locator("#buy-button")).to_be_disabled()
    await expect(buyer.locator("#buy-short")).to_contain_text(says["short"])

    # The consumer's wallet shows the customer number the cashier types.
    wallet = buyer
    await wallet.goto(url + "/wallet")
    await expect(wallet.locator("#topup-number")).to_have_text(
        " ".join(consumer["id"][i:i + 4] for i in range(0, 32, 4)))
    await expect(wallet.locator("#wallet-topups-empty")).to_be_visible()

    # The platform sets the shop's till limit on its console.
    console = await signed_in_page(browser, url, "test-admin-key",
                                   "/promotions", VIEWPORTS[width], lang)
    await expect(console.locator("#till-limit-merchant option")).to_have_count(1)
    await expect(console.locator("#till-limit-now")).to_contain_text("0.000000 CCC")
    await console.fill("#till-limit-value", "100")
    await console.click("#till-limit-form button[type=submit]")
    await expect(console.locator("#till-limit-result")).to_contain_text("100.000000 CCC")
    await fits(console, width)

    # At the till: over what is left is refused naming the amount; then a real top-up.
    till = await signed_in_page(browser, url, w["terminal"]["api_key"],
                                "/promotions/merchant", VIEWPORTS[width], lang)
    await expect(till.locator("#topup-remaining")).to_have_text("100.000000 CCC")
    await till.fill("#topup-customer", consumer["id"])
    await till.fill("#topup-amount", "100.000001")
    await till.click("#topup-submit")
    await expect(till.locator("#topup-result")).to_contain_text("amount")
    await expect(till.locator("#topup-result")).to_have_class("result error")
    await till.fill("#topup-amount", "12.5")
    await till.fill("#topup-reference", f"R-{width}")
    await till.click("#topup-submit")
    await expect(till.locator("#topup-result")).to_contain_text(says["done"])
    await expect(till.locator("#topup-remaining")).to_have_text("87.500000 CCC")
    await expect(till.locator("#topups-rows tr")).to_have_count(1)
    await expect(till.locator("#topups-rows")).to_contain_text(f"R-{width}")
    await till.locator("#topup-section").scroll_into_view_if_needed()
    await till.screenshot(path=str(SHOTS / f"till-topup-{width}-{tag}.png"))
    await fits(till, width)
    assert await runtime.view("token", "balanceOf", consumer["address"]) == 12_500_000

    # The consumer sees the top-up, where and by which till, and the new balance.
    await wallet.reload()
    rows = wallet.locator("#wallet-topup-rows tr")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text(says["where"])
    await expect(rows.first).to_contain_text("+12.500000 CCC")
    await expect(wallet.locator("#payout-balance")).to_have_text("12.500000 CCC")
    await wallet.locator("#topups-section").scroll_into_view_if_needed()
    await wallet.screenshot(path=str(SHOTS / f"wallet-topups-{width}-{tag}.png"))
    await fits(wallet, width)

    # Now the balance pays for a unit: the Buy button is usable.
    await buyer.goto(url + f"/products/{w['product']['id']}")
    await expect(buyer.locator("#buy-balance")).to_have_text("12.500000 CCC")
    await expect(buyer.locator("#buy-button")).to_be_enabled()
    await expect(buyer.locator("#buy-short")).to_be_hidden()
