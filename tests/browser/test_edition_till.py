"""A limited-edition coupon from the wallet to the till in a real browser (issue 24),
at 1280 px in English and 390 px in zh-CN: the consumer's wallet lists the coupon
(price in display units, its proof page) and shows a "Show at the till" QR code;
a photo of it (read back here with zxing-cpp first) goes to the till's one scanner,
which shows what the coupon is, and the terminal redeems it on chain."""

from __future__ import annotations

import asyncio
import io
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import zxingcpp
from PIL import Image
from playwright.async_api import Browser, Page, expect

from couponchain.runtime import Runtime
from tests.api_auth import auth
from tests.browser.device_keys import PASSPHRASE, device_private_key
from tests.browser.screenshots import SHOTS
from tests.browser.signin import ADMIN, fits, ok, signed_in_page

CCC = 1_000_000
VIEWPORTS = {1280: {"width": 1280, "height": 900}, 390: {"width": 390, "height": 844}}
SAYS = {
    "en": {"paid": "paid 4.500000 CCC", "show": "Show at the till", "give": "Give to someone",
           "redeem": "Redeem",
           "status": "active", "done": "Redeemed {serial}."},
    "zh_CN": {"paid": "已付 4.500000 CCC", "show": "在收银台出示", "give": "转赠他人",
              "redeem": "兑换",
              "status": "有效", "done": "已兑换 {serial}。"},
}


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def _shop(url: str, prefix: str) -> dict[str, Any]:
    """A tea shop with a terminal and a limited edition; Mei Chen bought two coupons
    (one for herself, one to give to Mei Lin)."""
    async with httpx.AsyncClient(base_url=url, timeout=60, headers=ADMIN) as client:
        merchant = ok(await client.post("/v1/merchants", json={"name": "Corner Tea"}))
        terminal = ok(await client.post("/v1/terminals", json={"name": "Front till"},
                                        headers=auth(merchant)))
        mei = ok(await client.post("/v1/consumers", json={"name": "Mei Chen"}))
        lin = ok(await client.post("/v1/consumers", json={"name": "Mei Lin"}))
        now = time.time()
        edition = ok(await client.post("/v1/editions", headers=auth(merchant), json={
            "brand": "Corner Tea", "title": "Matcha latte", "terms": "One cup.",
            "prefix": prefix, "total_pieces": 100, "price": 4_500_000,
            "valid_from": _iso(now - 3600), "valid_until": _iso(now + 30 * 86400)}))
        serials = [ok(await client.post(f"/v1/editions/{edition['id']}/sales",
                                        headers=auth(merchant),
                                        json={"buyer": mei["id"], "order_ref": f"T-{i}"})
                      )["coupon"]["serial"] for i in (1, 2)]
    return {"merchant": merchant, "edition": edition["id"], "terminal": terminal, "mei": mei,
            "lin": lin, "serial": serials[0], "gift": serials[1]}


async def _shown_code(wallet: Page) -> tuple[str, bytes]:
    """The till code the wallet shows (its text) and a picture of its QR, once drawn."""
    qr = wallet.locator("#edition-code-qr")
    await expect(qr).to_be_visible()
    for _ in range(100):  # the SVG decoded (polled from here: the CSP forbids eval)
        if await qr.evaluate("img => img.complete && img.naturalWidth > 0"):
            break
        await asyncio.sleep(0.1)
    code = await wallet.locator("#edition-code-text").text_content() or ""
    assert code.startswith("CCE1.")
    return code, await qr.screenshot()


@pytest.mark.parametrize(("width", "lang"), [(1280, "en"), (390, "zh_CN")])
async def test_the_wallet_shows_an_edition_coupon_and_the_till_redeems_it(
    site: tuple[str, Runtime], browser: Browser, width: int, lang: str
) -> None:
    url, runtime = site
    says = SAYS[lang]
    tag = lang.replace("_", "-")
    w = await _shop(url, f"MATCHA{width}")
    serial = w["serial"]
    SHOTS.mkdir(parents=True, exist_ok=True)

    wallet = await signed_in_page(browser, url, w["mei"]["api_key"], "/wallet",
                                  VIEWPORTS[width], lang)
    item = wallet.locator(f"#edition-coupons li[data-serial='{serial}']")
    await expect(item).to_contain_text("Matcha latte")
    await expect(item).to_contain_text(says["paid"])
    await expect(item).to_contain_text(says["status"])
    await expect(item.locator(f"a[href='/coupons/{serial}']")).to_be_visible()

    # The second coupon goes to Mei Lin by her customer number (in groups, as her
    # wallet shows it).
    gift = wallet.locator(f"#edition-coupons li[data-serial='{w['gift']}']")
    await gift.get_by_role("button", name=says["give"]).click()
    number = w["lin"]["id"]
    grouped = " ".join(number[i:i + 4] for i in range(0, 32, 4))
    await gift.locator("form input").fill(grouped)
    await gift.locator("form button[type=submit]").click()
    await expect(wallet.locator("#editions-result")).to_contain_text(grouped)
    await expect(gift).to_have_count(0)
    assert (await runtime.editions.coupon(w["gift"]))["owner"] == w["lin"]["address"]

    await item.get_by_role("button", name=says["show"]).click()
    code, shot = await _shown_code(wallet)
    (read,) = zxingcpp.read_barcodes(Image.open(io.BytesIO(shot)).convert("L"))
    assert read.text == code
    await wallet.screenshot(path=str(SHOTS / f"wallet-edition-code-{width}-{tag}.png"))
    await fits(wallet, width)

    # The till's one scanner takes a photo of the code: it shows the coupon first.
    till = await signed_in_page(browser, url, w["terminal"]["api_key"],
                                "/promotions/merchant", VIEWPORTS[width], lang)
    # The scanner is set up once the till knows whose it is.
    await expect(till.locator("#till-merchant")).to_contain_text("Corner Tea")
    await till.set_input_files("#photo-input", files=[
        {"name": "code.png", "mimeType": "image/png", "buffer": shot}])
    await expect(till.locator("#er-serial")).to_have_text(serial)
    await expect(till.locator("#er-title")).to_have_text("Matcha latte")
    await expect(till.locator("#er-brand")).to_have_text("Corner Tea")
    await expect(till.locator("#er-holder")).to_have_text("Mei Chen")
    await expect(till.locator("#wo-code")).to_have_value("")  # not taken as a consent
    await till.locator("#edition-redeem").scroll_into_view_if_needed()
    await till.screenshot(path=str(SHOTS / f"till-edition-{width}-{tag}.png"))
    await fits(till, width)
    await till.get_by_role("button", name=says["redeem"], exact=True).click()
    await expect(till.locator("#er-result")).to_contain_text(says["done"].format(serial=serial))
    await expect(till.locator("#er-redeem")).to_be_hidden()
    coupon = await runtime.editions.coupon(serial)
    assert coupon["status"] == "redeemed"
    assert [h["action"] for h in coupon["history"]] == ["sold", "redeemed"]


async def test_an_own_key_holder_signs_the_till_code_in_the_browser(
    site: tuple[str, Runtime], browser: Browser
) -> None:
    """Kai's account signs with a device key (made and registered in this browser):
    "Show at the till" asks for its passphrase, signs the Redemption here, and the
    till redeems with the code. The private key is never in a request."""
    url, runtime = site
    w = await _shop(url, "MATCHAOWN")
    async with httpx.AsyncClient(base_url=url, timeout=60, headers=ADMIN) as client:
        kai = ok(await client.post("/v1/consumers", json={"name": "Kai Wong"}))
    wallet = await signed_in_page(browser, url, kai["api_key"], "/wallet", VIEWPORTS[1280], "en")
    for _ in range(100):  # device-key.js loaded (polled from here: the CSP forbids eval)
        if await wallet.evaluate("() => window.deviceKey !== undefined"):
            break
        await asyncio.sleep(0.1)
    address = await wallet.evaluate(
        """async (passphrase) => { await window.deviceKey.create(passphrase);
                                   await window.deviceKey.register();
                                   return window.deviceKey.address(); }""", PASSPHRASE)
    sent: list[str] = []
    wallet.on("request", lambda r: sent.append(f"{r.url} {r.post_data or ''}"))
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        serial = ok(await client.post(f"/v1/editions/{w['edition']}/sales",
                                      headers=auth(w["merchant"]),
                                      json={"buyer": kai["id"], "order_ref": "T-kai"})
                    )["coupon"]["serial"]
    assert (await runtime.editions.coupon(serial))["owner"] == address

    await wallet.reload()  # the key is locked again: the page asks for its passphrase
    item = wallet.locator(f"#edition-coupons li[data-serial='{serial}']")
    await item.get_by_role("button", name="Show at the till").click()
    await expect(wallet.locator("#device-key-dialog")).to_be_visible()
    await wallet.fill("#device-key-passphrase", PASSPHRASE)
    await wallet.click("#device-key-dialog button[type=submit]")
    code, shot = await _shown_code(wallet)
    private_key = await device_private_key(wallet)
    assert not [s for s in sent if private_key in s.lower()]

    till = await signed_in_page(browser, url, w["terminal"]["api_key"],
                                "/promotions/merchant", VIEWPORTS[1280], "en")
    await expect(till.locator("#till-merchant")).to_contain_text("Corner Tea")
    await till.set_input_files("#photo-input", files=[
        {"name": "code.png", "mimeType": "image/png", "buffer": shot}])
    await expect(till.locator("#er-serial")).to_have_text(serial)
    await expect(till.locator("#er-holder")).to_have_text("Kai Wong")
    await till.get_by_role("button", name="Redeem", exact=True).click()
    await expect(till.locator("#er-result")).to_contain_text(f"Redeemed {serial}.")
    assert (await runtime.editions.coupon(serial))["status"] == "redeemed"
