"""The editions pages in a real browser: console, public edition page, coupon page via its QR."""

from __future__ import annotations

import io

import httpx
import zxingcpp
from PIL import Image
from playwright.async_api import Browser, FilePayload, expect

from couponchain.runtime import Runtime
from tests.browser.screenshots import SHOTS
from tests.browser.signin import fits, sign_in

BUYER = "0x" + "b0" * 20


async def _merchant(url: str) -> dict[str, str]:
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        response = await client.post("/v1/merchants", json={"name": "Lotus Tea House"},
                                     headers={"authorization": "Bearer test-admin-key"})
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def _csv(rows: str) -> FilePayload:
    return {"name": "pos.csv", "mimeType": "text/csv",
            "buffer": ("buyer,order_ref\n" + rows).encode()}


def _decode_qr(png: bytes) -> str:
    (code,) = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    return code.text


async def test_merchant_sells_and_a_consumer_verifies_the_coupon_from_its_qr(
    site: tuple[str, Runtime], browser: Browser
) -> None:
    url, runtime = site
    merchant = await _merchant(url)
    page = await browser.new_page(viewport={"width": 390, "height": 844})
    await sign_in(page, url, merchant["api_key"])

    # On a phone the merchant's links are behind the Menu button.
    await expect(page.locator("#site-nav")).to_be_hidden()
    await page.click("#menu-toggle")
    await page.click("#site-nav >> text=Editions")
    await page.wait_for_url(url + "/editions")
    await expect(page.locator("#editions-empty")).to_be_visible()
    await page.fill("#ed-brand", "Lotus")
    await page.fill("#ed-title", "Jasmine tea for two")
    await page.fill("#ed-terms", "One pot of jasmine tea for two. No cash value.")
    await page.fill("#ed-prefix", "TEA")
    await page.fill("#ed-pieces", "99")
    # The price is typed in CCC (issue 24: 25 used to mean 0.000025 CCC); a bad one is
    # refused in the page, naming the field.
    for typed, refusal in (("4.1234567", "List price has more than 6 decimals"),
                           ("-1", "List price must not be negative"),
                           ("four", "List price must be a number such as 12.50")):
        await page.fill("#ed-price", typed)
        await page.click("#edition-form button[type=submit]")
        await expect(page.locator("#edition-result")).to_have_text(f"Not created: {refusal}")
    await page.fill("#ed-price", "4.50")
    await page.click("#edition-form button[type=submit]")
    await expect(page.locator("#edition-result")).to_contain_text("Registered edition",
                                                                  timeout=20_000)
    await expect(page.locator("#selected-name")).to_have_text("TEA · Jasmine tea for two")

    await page.fill("#sale-buyer", BUYER)
    await page.select_option("#sale-channel", "offline")
    await page.fill("#sale-order", "POS-0001")
    await page.click("#sale-form button[type=submit]")
    serial_link = page.locator("#sold-serial")
    await expect(serial_link).to_have_text("TEA-000001", timeout=20_000)
    # The live counts catch up on their own (polling), without a reload.
    row = page.locator("#editions-rows tr").first
    await expect(row.locator(".count-sold")).to_have_text("1", timeout=10_000)
    await expect(row.locator(".count-remaining")).to_have_text("98")

    # A CSV with a bad row is refused whole, naming the row; a good one goes in.
    await page.set_input_files("#import-file", files=_csv(f"{BUYER},POS-2\nnobody,POS-3\n"))
    await page.click("#import-form button[type=submit]")
    await expect(page.locator("#import-result")).to_contain_text("row 2", timeout=20_000)
    await expect(page.locator("#import-result")).to_contain_text("Nothing imported")
    await page.set_input_files("#import-file", files=_csv(f"{BUYER},POS-2\n{BUYER},POS-3\n"))
    await page.click("#import-form button[type=submit]")
    await expect(page.locator("#import-result")).to_contain_text(
        "Imported 2 sales: TEA-000002 … TEA-000003", timeout=20_000)
    await expect(row.locator(".count-sold")).to_have_text("3", timeout=10_000)
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, "the console must fit a phone screen"
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / "editions-console.png"), full_page=True)

    # At a desk (1280 px) the merchant voids a coupon from the sales list: "Void…"
    # asks first (Cancel leaves it active), then the coupon is voided on chain.
    await page.set_viewport_size({"width": 1280, "height": 900})
    await page.reload()
    sale = page.locator("#sales-rows tr", has_text="TEA-000003")
    await expect(sale.locator(".status")).to_have_text("active", timeout=10_000)
    confirm = page.locator("#void-confirm")
    await sale.get_by_role("button", name="Void coupon TEA-000003").click()
    await expect(confirm).to_contain_text("Void TEA-000003? It can no longer be redeemed")
    await confirm.get_by_role("button", name="Cancel").click()
    await expect(confirm).to_be_hidden()
    assert (await runtime.editions.coupon("TEA-000003"))["status"] == "active"
    await sale.get_by_role("button", name="Void coupon TEA-000003").click()
    await page.screenshot(path=str(SHOTS / "editions-void-1280.png"))
    await confirm.get_by_role("button", name="Void TEA-000003", exact=True).click()
    await expect(page.locator("#void-result")).to_contain_text("Voided TEA-000003 in block",
                                                               timeout=20_000)
    await expect(sale.locator(".status")).to_have_text("voided")
    await expect(sale.locator(".void-open")).to_have_count(0)
    await expect(row.locator(".count-voided")).to_have_text("1", timeout=10_000)
    assert (await runtime.editions.coupon("TEA-000003"))["status"] == "voided"
    await fits(page, 1280)

    await row.locator("a", has_text="public page").click()
    await expect(page.locator("#edition-sold")).to_have_text("3")
    await expect(page.locator("#edition-cap")).to_have_text("99")
    await expect(page.locator("#edition-price")).to_have_text("4.500000 CCC")
    # The badge is computed in this browser, by default against the platform's relay.
    await expect(page.locator("#badge-state")).to_contain_text("verified ✓", timeout=20_000)
    await page.screenshot(path=str(SHOTS / "edition-page.png"), full_page=True)
    await page.click("#edition-coupons a >> text=TEA-000001")
    await page.wait_for_url(url + "/coupons/TEA-000001")

    # A phone camera sees only the QR image: decode it and go where it points.
    qr_src = await page.locator("#coupon-qr").get_attribute("src")
    assert qr_src is not None
    async with httpx.AsyncClient(timeout=30) as client:
        image = await client.get(httpx.URL(url + "/").join(qr_src))
    assert image.headers["content-type"] == "image/png"
    target = _decode_qr(image.content)
    assert target == url + "/coupons/TEA-000001"

    consumer = await browser.new_page(viewport={"width": 390, "height": 844})
    await consumer.goto(target)
    await expect(consumer.locator("#badge-state")).to_contain_text("verified ✓", timeout=20_000)
    await expect(consumer.locator("#edition-sold")).to_have_text("3")
    await expect(consumer.locator("#coupon-status")).to_have_text("active")
    await expect(consumer.locator("#coupon-table")).to_contain_text("One pot of jasmine tea")
    await consumer.screenshot(path=str(SHOTS / "coupon-page.png"), full_page=True)


async def test_console_asks_for_a_merchant(site: tuple[str, Runtime], browser: Browser) -> None:
    url, _ = site
    page = await browser.new_page()
    await page.goto(url + "/editions")
    await expect(page.locator("#console-signin")).to_be_visible()
    await expect(page.locator("#console")).to_be_hidden()
