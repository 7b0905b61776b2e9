"""Batch sales in a real browser: console, holder's link, verified purchase page, rebates."""

from __future__ import annotations

import re
from typing import Any

import httpx
from playwright.async_api import Browser, Page, expect

from couponchain.runtime import Runtime
from tests.api_auth import auth
from tests.browser.screenshots import SHOTS
from tests.browser.signin import ADMIN, ok, sign_in

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1100, "height": 900}
CREDIT = 50_000_000


async def _world(url: str) -> dict[str, Any]:
    """An originator with a product of 3 units at 1 CCC; Ann bought 2; credit for all."""
    async with httpx.AsyncClient(base_url=url, timeout=60, headers=ADMIN) as client:
        originator = ok(await client.post("/v1/merchants", json={"name": "Song Studio"}))
        ann = ok(await client.post("/v1/consumers", json={"name": "Ann"}))
        bob = ok(await client.post("/v1/consumers", json={"name": "Bob"}))
        for person in (ann, bob):
            ok(await client.post("/v1/credits", json={"to": person["id"],
                                                      "amount": CREDIT}))
        product = ok(await client.post("/v1/products", headers=auth(originator), json={
            "name": "Night Song", "description": "A recording, licensed per unit",
            "price": 1_000_000, "circulation": 3}))
        ok(await client.post(f"/v1/products/{product['id']}/purchases",
                             headers=auth(ann),
                             json={"quantity": 2, "batch": 1, "max_price": 1_000_000}))
    return {"originator": originator, "ann": ann, "bob": bob, "product": product["id"]}


async def _signed_in(browser: Browser, url: str, key: str, path: str,
                     viewport: dict[str, int] | None = None) -> Page:
    context = await browser.new_context(viewport=viewport or DESKTOP)
    await context.grant_permissions(["clipboard-read", "clipboard-write"], origin=url)
    page = await context.new_page()
    await sign_in(page, url, key)
    await page.goto(url + path)
    return page


async def _fits_a_phone(page: Page) -> None:
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], "the page must fit a phone screen"


def _tampered(link: str) -> str:
    """The link with one character of its signature changed."""
    at = len(link) - 30
    return link[:at] + ("A" if link[at] != "A" else "B") + link[at + 1:]


async def test_link_purchase_is_verified_before_paying_and_pays_the_promoter(
    site: tuple[str, Runtime], browser: Browser
) -> None:
    url, runtime = site
    w = await _world(url)
    product = w["product"]
    SHOTS.mkdir(parents=True, exist_ok=True)

    # Batch 1 sells on the product's public page without a link: Bob takes the last unit.
    bob = await _signed_in(browser, url, w["bob"]["api_key"], f"/products/{product}", PHONE)
    await expect(bob.locator("#product-title")).to_have_text("Night Song")
    await expect(bob.locator("#buy-balance")).to_have_text("50.000000 CCC")
    await bob.click("#buy-button")
    await expect(bob.locator("#buy-result")).to_contain_text(
        "Bought 1 unit of batch 1 for 1.000000 CCC", timeout=20_000)

    # The originator opens batch 2 with a 10 % rebate, 40 % of it to the promoter (the
    # platform allows 5 % to 50 %), in the console.
    console = await _signed_in(browser, url, w["originator"]["api_key"], "/products")
    await expect(console.locator(f"#products-rows tr[data-id='{product}']")).to_contain_text(
        "Night Song")
    await expect(console.locator("#batch-next-no")).to_have_text("2", timeout=10_000)
    await expect(console.locator("#batches-rows tr[data-batch='1'] .count-status")).to_have_text(
        "sold out")
    await console.fill("#batch-price", "1.5")
    await console.fill("#batch-circulation", "5")
    await console.fill("#batch-rebate", "1000")
    await expect(console.locator("#batch-share-bounds")).to_have_text("500 to 5000")
    await console.fill("#batch-share", "6000")
    await expect(console.locator("#batch-rebate-note")).to_have_class(re.compile("error"))
    await console.fill("#batch-share", "4000")
    await expect(console.locator("#batch-rebate-note")).to_contain_text("10 % of its price")
    await expect(console.locator("#batch-rebate-note")).to_contain_text(
        "40 % of it to the promoter")
    await console.click("#batch-form button[type=submit]")
    await expect(console.locator("#batch-result")).to_contain_text(
        "Opened batch 2", timeout=20_000)
    await expect(console.locator("#batch-result")).to_contain_text(
        "rebate 10 %, 40 % of it to the promoter")
    await expect(console.locator("#batches-rows tr[data-batch='2'] .count-share")).to_have_text(
        "40 %", timeout=10_000)
    await expect(console.locator("#batches-rows tr")).to_have_count(2, timeout=10_000)
    await expect(console.locator("#close-section")).to_be_visible()
    await expect(console.locator("#batch-form")).to_be_hidden()

    # Ann makes her link on the holder's page: a QR and a URL she copies.
    ann = await _signed_in(browser, url, w["ann"]["api_key"], "/holdings", PHONE)
    item = ann.locator(f"#holdings-list li[data-id='{product}']")
    await expect(item).to_contain_text("2 units (batch 1 × 2)", timeout=10_000)
    await item.locator("button", has_text="Make my promotion link").click()
    await expect(ann.locator("#link-qr")).to_be_visible(timeout=10_000)
    await expect(ann.locator("#link-usable")).to_contain_text("Buyers can use it now")
    link_url = await ann.locator("#link-url").input_value()
    assert link_url.startswith(f"{url}/products/{product}/buy?link=")
    await ann.click("#link-copy")
    await expect(ann.locator("#link-copied")).to_have_text("Copied to the clipboard.")
    assert await ann.evaluate("navigator.clipboard.readText()") == link_url
    await _fits_a_phone(ann)

    # Someone not signed in sees the verified link and is asked to sign in before buying.
    anonymous = await browser.new_page(viewport=PHONE)
    await anonymous.goto(link_url)
    await expect(anonymous.locator("#buy-verified-badge")).to_contain_text(
        "Verified: Night Song, promoted by Ann", timeout=10_000)
    await expect(anonymous.locator("#buy-signin")).to_be_visible()
    await expect(anonymous.locator("#buy-form")).to_be_hidden()
    await anonymous.goto(f"{url}/products/{product}")
    await expect(anonymous.locator("#product-link")).to_contain_text("Batch 2 is on sale")
    await expect(anonymous.locator("#product-batches tbody tr")).to_have_count(2)
    await expect(anonymous.locator("#product-batches tbody tr").nth(1)).to_contain_text("40.0 %")
    # The terms in Chinese too.
    await anonymous.goto(link_url + "&lang=zh-CN")
    await expect(anonymous.locator("#buy-identity")).to_contain_text("推广者所得返利份额",
                                                                     timeout=10_000)
    await expect(anonymous.locator("#buy-share")).to_contain_text("40 % 归推广者")

    # Bob follows it: the product's on-chain identity and the promoter, verified, before paying.
    await bob.goto(link_url)
    await expect(bob.locator("#buy-verified-badge")).to_be_visible(timeout=10_000)
    await expect(bob.locator("#buy-promoter")).to_contain_text(
        f"Ann ({w['ann']['id']}) · {w['ann']['address']}")
    await expect(bob.locator("#buy-originator")).to_contain_text("Song Studio")
    await expect(bob.locator("#buy-originator")).to_contain_text(w["originator"]["address"])
    await expect(bob.locator("#buy-chain")).to_have_text(str(runtime.chain_id))
    await expect(bob.locator("#buy-contract")).to_have_text(
        runtime.gateway.contracts["referrals"][0])
    await expect(bob.locator("#buy-batch")).to_contain_text("batch 2: open, 5 of 5 units left")
    await expect(bob.locator("#buy-price")).to_have_text("1.500000 CCC")
    # The batch's rebate terms, as its originator set them, before paying.
    await expect(bob.locator("#buy-rebate")).to_have_text("10 % of the price")
    await expect(bob.locator("#buy-share")).to_have_text(
        "40 % to the promoter, the rest to holders of earlier batches")
    await bob.screenshot(path=str(SHOTS / "referrals-buy.png"), full_page=True)
    await bob.fill("#buy-quantity", "2")
    await expect(bob.locator("#buy-total")).to_have_text("3.000000 CCC")
    await expect(bob.locator("#buy-button")).to_be_visible()
    await _fits_a_phone(bob)
    await bob.click("#buy-button")
    # 10 % of 3 CCC is 0.3 CCC: 40 % to Ann directly, the rest over 3 earlier units.
    await expect(bob.locator("#buy-result")).to_contain_text(
        "Bought 2 units of batch 2 for 3.000000 CCC; Ann", timeout=20_000)
    await expect(bob.locator("#buy-result")).to_contain_text(
        "earned 0.120000 CCC and earlier holders 0.180000 CCC")
    await expect(bob.locator("#buy-batch")).to_contain_text("3 of 5 units left")

    # A tampered copy of the link shows why in red, and nothing to buy.
    tampered = _tampered(link_url)
    await bob.goto(tampered)
    await expect(bob.locator("#buy-invalid")).to_contain_text("did not verify",
                                                              timeout=10_000)
    await expect(bob.locator("#buy-invalid")).to_contain_text("link.")
    await expect(bob.locator("#buy-verified")).to_be_hidden()
    await expect(bob.locator("#buy-button")).to_have_count(0)

    # Ann sees her rebate: 0.12 CCC as promoter and 2 × 0.06 CCC as an earlier holder.
    await expect(ann.locator("#holdings-total")).to_have_text("0.240000 CCC", timeout=10_000)
    await expect(item.locator(".rebates")).to_contain_text(
        "as promoter 0.120000 CCC from 1 sale; as holder 0.120000 CCC")
    await expect(ann.locator("#ref-claimable")).to_have_text("0.240000 CCC", timeout=10_000)
    await ann.click("#link-close")
    await _fits_a_phone(ann)
    await ann.screenshot(path=str(SHOTS / "holdings.png"), full_page=True)
    await ann.click("#ref-withdraw")
    await expect(ann.locator("#ref-withdraw-result")).to_contain_text(
        "Withdrew 0.240000 CCC", timeout=20_000)
    await expect(item.locator(".rebates")).to_contain_text("pending 0.000000 CCC",
                                                           timeout=10_000)

    # The console shows the sales of batch 2 and the rebates paid.
    row = console.locator("#batches-rows tr[data-batch='2']")
    await expect(row.locator(".count-sold")).to_have_text("2 / 5", timeout=10_000)
    await expect(row.locator(".count-revenue")).to_have_text("3.000000 CCC")
    await expect(row.locator(".count-rebates")).to_have_text("0.300000 CCC")
    await expect(console.locator("#sales-rows tr")).to_have_count(3)
    await console.screenshot(path=str(SHOTS / "referrals-console.png"), full_page=True)

    # Issue 23: the page sends the batch and price it showed. Bob looks at batch 2 at
    # 1.5 CCC; the originator closes it and opens batch 3 at 4 CCC before he clicks Buy.
    await bob.goto(link_url)
    await expect(bob.locator("#buy-price")).to_have_text("1.500000 CCC", timeout=10_000)
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        originator = auth(w["originator"])
        product_path = f"/v1/products/{product}"
        closed = await client.post(f"{product_path}/batches/current:close", headers=originator)
        assert closed.status_code == 200, closed.text
        ok(await client.post(f"{product_path}/batches", headers=originator, json={
            "price": 4_000_000, "circulation": 5, "rebate_bps": 1_000}))
    await bob.click("#buy-button")
    await expect(bob.locator("#buy-result")).to_contain_text(
        "batch 3 is on sale now", timeout=20_000)
    await expect(bob.locator("#buy-result")).to_have_class(re.compile("error"))
    await expect(bob.locator("#buy-price")).to_have_text("4.000000 CCC", timeout=10_000)
    await expect(bob.locator("#buy-balance")).to_have_text("46.000000 CCC")  # nothing paid


async def test_pages_without_the_right_role_or_product(
    site: tuple[str, Runtime], browser: Browser
) -> None:
    url, _ = site
    page = await browser.new_page()
    for path, note in (("/products", "#ref-console-signin"), ("/holdings", "#holdings-signin")):
        await page.goto(url + path)
        await expect(page.locator(note)).to_be_visible()
    await page.goto(url + "/products/999999")
    await expect(page.locator("#product-error")).to_contain_text("999999")
    await page.goto(url + "/products/999999/buy?link=hello")
    await expect(page.locator("#buy-invalid")).to_contain_text("link: malformed link")
    await expect(page.locator("#buy-button")).to_have_count(0)
