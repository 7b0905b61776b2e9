"""Self-custody in a real browser (issue 23): a consumer makes a key on the device,
registers its address, signs a write-off consent, a purchase, a coupon transfer and a
credit transfer there; the server relays them and never sees the private key (every
request the page sends is checked).
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
from playwright.async_api import Browser, Page, Request, expect

from couponchain.runtime import Runtime
from tests.browser.device_keys import PASSPHRASE, device_private_key
from tests.browser.signin import ADMIN, ok, sign_in
from tests.integration.promotions_world import (
    grant_coupons,
    open_round,
    promotion_world,
    wait_for_status,
)


class Sent:
    """Every request body and URL the browser sends, to look for the key in."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def watch(self, request: Request) -> None:
        self.texts.append(request.url + " " + (request.post_data or ""))

    def assert_never_sent(self, secret_hex: str) -> None:
        secret = secret_hex.lower().removeprefix("0x")
        assert len(secret) == 64
        assert any("/own-key" in text for text in self.texts), "no request was watched"
        for text in self.texts:
            assert secret not in text.lower(), "the private key left the browser"


async def _signed_in(browser: Browser, url: str, key: str, sent: Sent) -> Page:
    context = await browser.new_context()
    page = await context.new_page()
    page.on("request", sent.watch)
    await sign_in(page, url, key)
    return page


async def _make_and_register_key(page: Page, url: str) -> str:
    await page.goto(url + "/keys/device")
    await expect(page.locator("#dk-custody")).to_contain_text("custodial")
    await page.fill("#dk-passphrase", PASSPHRASE)
    await page.fill("#dk-passphrase-again", PASSPHRASE)
    await page.click("#dk-create-form button[type=submit]")
    await expect(page.locator("#dk-result")).to_contain_text("Key created on this device")
    await expect(page.locator("#dk-address")).to_have_text(re.compile(r"^0x[0-9a-fA-F]{40}$"))
    address = (await page.locator("#dk-address").inner_text()).strip()
    await page.click("#dk-register")
    await expect(page.locator("#dk-result")).to_contain_text("now signs with this key")
    await expect(page.locator("#dk-custody")).to_contain_text("own key")
    # The backup is the encrypted key: it opens only with the passphrase.
    await page.click("#dk-export")
    backup = json.loads(await page.locator("#dk-backup").input_value())
    assert backup["address"] == address and "ciphertext" in backup
    return address


async def test_a_device_key_registers_without_leaving_the_browser(
        site: tuple[str, Runtime], browser: Browser) -> None:
    url, runtime = site
    async with httpx.AsyncClient(base_url=url, timeout=60, headers=ADMIN) as client:
        ann = ok(await client.post("/v1/consumers", json={"name": "Ann"}))
    sent = Sent()
    page = await _signed_in(browser, url, ann["api_key"], sent)
    address = await _make_and_register_key(page, url)
    row = await runtime.participants.get(ann["id"])
    assert row.address == address and row.custody == "own"
    # Restoring the backup elsewhere needs the passphrase.
    backup = await page.locator("#dk-backup").input_value()
    other = await browser.new_context()
    fresh = await other.new_page()
    fresh.on("request", sent.watch)
    await fresh.goto(url + "/keys/device")
    await fresh.fill("#dk-import-text", backup)
    await fresh.fill("#dk-import-passphrase", "wrong passphrase")
    await fresh.click("#dk-import-form button[type=submit]")
    await expect(fresh.locator("#dk-result")).to_contain_text("wrong passphrase")
    await fresh.fill("#dk-import-passphrase", PASSPHRASE)
    await fresh.click("#dk-import-form button[type=submit]")
    await expect(fresh.locator("#dk-result")).to_contain_text(
        f"Key restored on this device: {address}")
    sent.assert_never_sent(await device_private_key(page))


async def _unlock(page: Page) -> None:
    """Type the passphrase into the device key's dialog (it asks once per page)."""
    await expect(page.locator("#device-key-dialog")).to_be_visible()
    await page.fill("#device-key-passphrase", PASSPHRASE)
    await page.click("#device-key-dialog button[type=submit]")


async def test_a_device_key_signs_a_consent_written_off_and_a_purchase_through_a_link(
        site: tuple[str, Runtime], browser: Browser) -> None:
    url, runtime = site
    async with httpx.AsyncClient(base_url=url, timeout=60, headers=ADMIN) as client:
        w = await promotion_world(client)
        round_id = await open_round(client, w, window=0)  # distributed soon after use
        sent = Sent()
        page = await _signed_in(browser, url, w.ann["api_key"], sent)
        address = await _make_and_register_key(page, url)
        coupon, second = await grant_coupons(client, w, round_id, w.ann, count=2)

        await page.goto(url + "/wallet")
        await expect(page.locator("#wallet-custody")).to_contain_text("own key")
        item = page.locator(f"#wallet-coupons li[data-id='{coupon}']")
        await item.locator("button", has_text="Show consent QR").click()
        await item.locator(".consent-merchant").select_option(label="Noodle Bar")
        await item.locator(".consent-max").fill("1")
        await item.locator(".consent-form button[type=submit]").click()
        await _unlock(page)
        await expect(page.locator("#consent-merchant")).to_have_text("Noodle Bar")
        code = (await page.locator("#consent-code").text_content() or "").strip()
        assert code.startswith("CCP2.")
        done = await client.post("/v1/write-offs", headers={
            "authorization": f"Bearer {w.terminal['api_key']}"},
            json={"code": code, "order_amount": 800_000})
        assert done.status_code == 201, done.text
        assert done.json()["holder"] == address

        # She buys through Bob's promotion link: the purchase is signed here too.
        link = await _product_with_a_link(client, w)
        ok(await client.post("/v1/credits", json={"to": w.ann["id"], "amount": 10_000_000}))
        await page.goto(url + link["path"])
        await expect(page.locator("#buy-verified")).to_be_visible()
        await page.fill("#buy-quantity", "2")
        await page.click("#buy-button")
        await _unlock(page)
        await expect(page.locator("#buy-result")).to_contain_text("Bought 2 units of batch 2")
        bought = ok(await client.get(f"/v1/products/{link['product']}"))
        assert bought["batches"][-1]["sold"] == 2
        referrals = runtime.gateway.contracts["referrals"][0]
        assert await runtime.view("token", "allowance", address, referrals) == 0

        # She passes her second coupon on to Cy, signed here too.
        await page.goto(url + "/wallet")
        item = page.locator(f"#wallet-coupons li[data-id='{second}']")
        await item.locator("button", has_text="Transfer").click()
        await item.locator("form input").fill(w.cy["id"])
        await item.locator("form button[type=submit]").click()
        await _unlock(page)
        await expect(page.locator("#wallet-result")).to_contain_text(f"Coupon #{second} now")
        moved = ok(await client.get(f"/v1/promotion-coupons/{second}"))
        assert moved["holder"] == w.cy["address"]

        # And sends 1.5 CCC of her credit to Cy from the device key page.
        await page.goto(url + "/keys/device")
        await expect(page.locator("#dk-credit-section")).to_be_visible()
        await expect(page.locator("#dk-balance")).to_contain_text("6.000000")
        await page.fill("#dk-credit-to", w.cy["id"])
        await page.fill("#dk-credit-amount", "1.5")
        await page.click("#dk-credit-form button[type=submit]")
        await _unlock(page)
        await expect(page.locator("#dk-result")).to_contain_text("Sent 1.500000")
        await expect(page.locator("#dk-balance")).to_contain_text("4.500000")
        assert await runtime.view("token", "balanceOf", w.cy["address"]) == 1_500_000

        # Her promotion payout (the holder's share of the first coupon's pool), withdrawn
        # from the wallet: she signs Withdraw here; promotions.withdraw_for pays her only.
        await wait_for_status(client, f"/v1/promotion-coupons/{coupon}", "distributed")
        owed = await runtime.view("promotions", "claimable", address)
        assert owed > 0
        await page.goto(url + "/wallet")
        await expect(page.locator("#withdraw")).to_be_enabled()
        await page.click("#withdraw")
        await _unlock(page)
        await expect(page.locator("#withdraw-result")).to_contain_text("Withdrew")
        assert await runtime.view("promotions", "claimable", address) == 0
        assert await runtime.view("token", "balanceOf", address) == 4_500_000 + owed
    assert any("/signed-consent" in text for text in sent.texts)
    assert any("/signed-purchases" in text for text in sent.texts)
    assert any("/signed-transfer" in text for text in sent.texts)
    assert any("/v1/credit-transfers " in text for text in sent.texts)
    assert any("/signed-withdraw" in text for text in sent.texts)
    sent.assert_never_sent(await device_private_key(page))


async def _product_with_a_link(client: httpx.AsyncClient, w: Any) -> dict[str, Any]:
    """A product in batch 2 and a promotion link of Bob (custodial), who bought batch 1."""
    studio = w.issuer
    product = ok(await client.post("/v1/products", headers={
        "authorization": f"Bearer {studio['api_key']}"}, json={
        "name": "Night Song", "description": "a song", "price": 1_000_000,
        "circulation": 1}))["id"]
    ok(await client.post("/v1/credits", json={"to": w.bob["id"], "amount": 1_000_000}))
    ok(await client.post(f"/v1/products/{product}/purchases", headers={
        "authorization": f"Bearer {w.bob['api_key']}"},
        json={"quantity": 1, "batch": 1, "max_price": 1_000_000}))
    ok(await client.post(f"/v1/products/{product}/batches", headers={
        "authorization": f"Bearer {studio['api_key']}"},
        json={"price": 2_000_000, "circulation": 5, "rebate_bps": 1_000}))
    made = ok(await client.post(f"/v1/products/{product}/links", json={}, headers={
        "authorization": f"Bearer {w.bob['api_key']}"}))
    return {**made, "product": product}
