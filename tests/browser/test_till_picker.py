"""The customer picker at the till in a real browser (issue 24), at 1280 px in English
and 390 px in zh-CN: the wallet shows the customer number as a QR code (read back
here with zxing-cpp from a screenshot of the page), a terminal finds a returning
customer by name and tops them up, and tops up a first-time customer by the
wallet's QR code read with the till's scanner (a photo of it)."""

from __future__ import annotations

import io
from typing import Any

import httpx
import pytest
import zxingcpp
from PIL import Image
from playwright.async_api import Browser, expect

from couponchain.runtime import Runtime
from tests.api_auth import auth
from tests.browser.screenshots import SHOTS
from tests.browser.signin import fits, ok, signed_in_page

ADMIN = {"authorization": "Bearer test-admin-key"}
CCC = 1_000_000
VIEWPORTS = {1280: {"width": 1280, "height": 900}, 390: {"width": 390, "height": 844}}
SAYS = {
    "en": {"picked": "Customer: Mei Chen", "done": "Topped up 5.000000 CCC for Mei Chen.",
           "scanned": "Customer: Mei Lin", "done2": "Topped up 2.000000 CCC for Mei Lin."},
    "zh_CN": {"picked": "顾客：Mei Chen", "done": "已为Mei Chen充值 5.000000 CCC。",
              "scanned": "顾客：Mei Lin", "done2": "已为Mei Lin充值 2.000000 CCC。"},
}


async def _shop(url: str) -> dict[str, dict[str, Any]]:
    """A shop with a till limit and a terminal; Mei Chen topped up there once before
    (so she is its customer), Mei Lin never, Mei Elsewhere only at another shop."""
    async with httpx.AsyncClient(base_url=url, timeout=60, headers=ADMIN) as client:
        merchant = ok(await client.post("/v1/merchants", json={"name": "Corner Tea"}))
        other = ok(await client.post("/v1/merchants", json={"name": "Other Shop"}))
        terminal = ok(await client.post("/v1/terminals", json={"name": "Front till"},
                                        headers=auth(merchant)))
        people = {n: ok(await client.post("/v1/consumers", json={"name": n}))
                  for n in ("Mei Chen", "Mei Lin", "Mei Elsewhere")}
        for shop in (merchant, other):
            ok(await client.put(f"/v1/merchants/{shop['id']}/till-limit",
                                json={"limit": 100 * CCC}))
        ok(await client.post("/v1/till-credits", headers=auth(terminal), json={
            "consumer": people["Mei Chen"]["id"], "amount": CCC}))
        ok(await client.post("/v1/till-credits", headers=auth(other), json={
            "consumer": people["Mei Elsewhere"]["id"], "amount": CCC}))
    return {"terminal": terminal, **people}


@pytest.mark.parametrize(("width", "lang"), [(1280, "en"), (390, "zh_CN")])
async def test_till_picks_customers_by_name_and_by_the_wallet_qr(
    site: tuple[str, Runtime], browser: Browser, width: int, lang: str
) -> None:
    url, runtime = site
    says = SAYS[lang]
    tag = lang.replace("_", "-")
    w = await _shop(url)
    chen, lin = w["Mei Chen"], w["Mei Lin"]
    SHOTS.mkdir(parents=True, exist_ok=True)

    # The wallet: the customer number in groups, and a QR code that reads back to it.
    wallet = await signed_in_page(browser, url, lin["api_key"], "/wallet", VIEWPORTS[width], lang)
    await expect(wallet.locator("#topup-number")).to_have_text(
        " ".join(lin["id"][i:i + 4] for i in range(0, 32, 4)))
    qr = wallet.locator("#customer-qr")
    await expect(qr).to_be_visible()
    await qr.scroll_into_view_if_needed()
    await wallet.wait_for_function("document.getElementById('customer-qr').naturalWidth > 0")
    shot = await qr.screenshot()
    (read,) = zxingcpp.read_barcodes(Image.open(io.BytesIO(shot)).convert("L"))
    assert read.text == lin["id"]
    await wallet.screenshot(path=str(SHOTS / f"wallet-customer-qr-{width}-{tag}.png"))
    await fits(wallet, width)

    # At the till, "mei" finds the shop's own customer only, not Mei Lin (never here)
    # nor Mei Elsewhere (another shop's customer).
    till = await signed_in_page(browser, url, w["terminal"]["api_key"],
                                "/promotions/merchant", VIEWPORTS[width], lang)
    await expect(till.locator("#topup-remaining")).to_have_text("99.000000 CCC")
    await till.locator("#topup-customer").press_sequentially("mei")
    matches = till.locator("#topup-matches button")
    await expect(matches).to_have_count(1)
    await expect(matches.first).to_contain_text("Mei Chen")
    await till.locator("#topup-section").scroll_into_view_if_needed()
    await till.screenshot(path=str(SHOTS / f"till-picker-{width}-{tag}.png"))
    await fits(till, width)
    await matches.first.click()
    await expect(till.locator("#topup-picked")).to_contain_text(says["picked"])
    await till.fill("#topup-amount", "5")
    await till.click("#topup-submit")
    await expect(till.locator("#topup-result")).to_contain_text(says["done"])
    assert await runtime.view("token", "balanceOf", chen["address"]) == 6 * CCC

    # Mei Lin shows her wallet's QR code: the till's scanner reads a photo of it into
    # the picker (her full number finds her, though she never dealt here).
    await till.set_input_files("#topup-photo", files=[
        {"name": "wallet.png", "mimeType": "image/png", "buffer": shot}])
    await expect(till.locator("#topup-picked")).to_contain_text(says["scanned"])
    await expect(till.locator("#topup-customer")).to_have_value("Mei Lin")
    await till.fill("#topup-amount", "2")
    await till.click("#topup-submit")
    await expect(till.locator("#topup-result")).to_contain_text(says["done2"])
    assert await runtime.view("token", "balanceOf", lin["address"]) == 2 * CCC
