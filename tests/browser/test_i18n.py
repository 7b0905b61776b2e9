"""The pages in Chinese for a zh-CN browser, the language switch, and a phone-sized screen."""

from __future__ import annotations

from typing import Any

import httpx
from playwright.async_api import Browser, BrowserContext, Page, expect

from couponchain.runtime import Runtime
from tests.api_auth import auth
from tests.browser.signin import ADMIN, ok, sign_in

PHONE = {"width": 390, "height": 844}
SHARES = {"platform": 1_000, "issuer": 2_000, "redeemer": 2_000, "holder": 3_000,
          "earlier": 2_000}


async def _consumer_with_a_coupon(url: str) -> dict[str, Any]:
    """A consumer holding one promotion coupon granted by a merchant."""
    async with httpx.AsyncClient(base_url=url, timeout=60, headers=ADMIN) as client:
        merchant = ok(await client.post("/v1/merchants", json={"name": "Lotus Tea"}))
        ann = ok(await client.post("/v1/consumers", json={"name": "Ann"}))
        opened = ok(await client.post("/v1/promotion-rounds", json={
            "evaluation": {"turnover": [{"merchant": merchant["id"], "amount": 1_000_000}],
                           "consumers": 1},
            "formula": {"base_per_merchant": 10, "turnover_per_coupon": 100_000,
                        "per_consumer": 2, "max_total": 1_000},
            "incentive_bps": 1_000, "shares": SHARES, "rollback_window_seconds": 0,
            "consent_lifetime_seconds": 120}))
        ok(await client.post(
            f"/v1/promotion-rounds/{opened['id']}/allocations",
            json={"allocations": [{"merchant": merchant["id"], "count": 3}]}))
        ok(await client.post(
            "/v1/promotion-grants", json={"round_id": opened["id"],
                                          "grants": [{"consumer": ann["id"]}]},
            headers=auth(merchant)))
    return ann


async def _signed_in(context: BrowserContext, url: str, key: str, path: str) -> Page:
    page = await context.new_page()
    await sign_in(page, url, key)
    await page.goto(url + path)
    return page


async def _fits(page: Page) -> None:
    """No horizontal scrolling: the page is as wide as the screen at most."""
    scroll, inner = await page.evaluate(
        "[document.documentElement.scrollWidth, window.innerWidth]")
    assert scroll <= inner, f"{page.url} is {scroll} px wide on a {inner} px screen"


async def test_a_chinese_browser_gets_the_pages_in_chinese(
    site: tuple[str, Runtime], browser: Browser
) -> None:
    url, _ = site
    ann = await _consumer_with_a_coupon(url)
    context = await browser.new_context(locale="zh-CN", viewport=PHONE)
    home = await context.new_page()
    await home.goto(url + "/")
    await expect(home.locator("html")).to_have_attribute("lang", "zh-CN")
    await expect(home.get_by_role("heading", level=1)).to_have_text("可验证的优惠券与促销")
    await expect(home.locator("nav")).to_contain_text("钱包")
    await _fits(home)

    # The wallet: template text and the messages its scripts write, all in Chinese.
    wallet = await _signed_in(context, url, ann["api_key"], "/wallet")
    await expect(wallet.get_by_role("heading", level=1)).to_have_text("钱包")
    await expect(wallet.locator("#who")).to_have_text("Ann (消费者)")
    coupon = wallet.locator("#wallet-coupons li").first
    await expect(coupon).to_contain_text("有效", timeout=20_000)
    await expect(coupon.locator("button").first).to_have_text("出示授权二维码")
    await _fits(wallet)
    await coupon.locator("button", has_text="出示授权二维码").click()
    # The consent names its merchant (any, here) and a maximum order amount (issue 23).
    await coupon.locator(".consent-merchant").select_option(label="任意商户")
    await coupon.locator(".consent-max").fill("1")
    await coupon.locator(".consent-form button[type=submit]").click()
    await expect(wallet.locator(".error:visible")).to_have_count(0)
    await expect(wallet.locator("#consent-qr")).to_be_visible(timeout=10_000)
    await _fits(wallet)

    # The switch in the header, in sight on a phone, turns the pages English and remembers it.
    await wallet.evaluate("window.scrollTo(0, 0)")
    switch = wallet.locator("header .languages a[data-lang='en']")
    await expect(switch).to_be_in_viewport()
    # Waiting for the navigation tells a click that started none (a CI run saw the page
    # stay in Chinese once; 11 runs here did not) from a page that came back Chinese.
    async with wallet.expect_navigation(timeout=20_000):
        await switch.click()
    await expect(wallet.get_by_role("heading", level=1),
                 f"the page after the switch: {wallet.url}").to_have_text("Wallet")
    await expect(wallet.locator("#wallet-coupons li").first).to_contain_text(
        "active", timeout=10_000)
    await _fits(wallet)
    await home.goto(url + "/")
    await expect(home.get_by_role("heading", level=1)).to_have_text(
        "Verifiable coupons and promotions")
    await _fits(home)
    await context.close()


async def test_an_english_browser_gets_english_and_may_ask_for_chinese(
    site: tuple[str, Runtime], browser: Browser
) -> None:
    url, _ = site
    context = await browser.new_context(locale="en-GB", viewport=PHONE)
    page = await context.new_page()
    await page.goto(url + "/my-prizes")
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await expect(page.get_by_role("heading", level=1)).to_have_text("My prizes")
    await _fits(page)
    await page.goto(url + "/my-prizes?lang=zh-CN")
    await expect(page.get_by_role("heading", level=1)).to_have_text("我的奖品")
    await expect(page.locator("#mine-signin")).to_contain_text("请使用你的 API 密钥登录")
    await _fits(page)
    await context.close()


async def test_the_prize_terminal_speaks_chinese_online_and_offline(
    site: tuple[str, Runtime], browser: Browser
) -> None:
    url, _ = site
    async with httpx.AsyncClient(base_url=url, timeout=60, headers=ADMIN) as client:
        shop = ok(await client.post("/v1/merchants", json={"name": "Lotus Tea"}))
        till = ok(await client.post(
            "/v1/terminals", json={"name": "Till 1"},
            headers=auth(shop)))
    context = await browser.new_context(locale="zh-CN", viewport=PHONE)
    terminal = await _signed_in(context, url, till["api_key"], "/terminal")
    await expect(terminal.get_by_role("heading", level=1)).to_have_text("兑奖终端")
    await expect(terminal.locator("#terminal-name")).to_have_text("Till 1")
    await expect(terminal.locator("#terminal")).to_contain_text("离线队列")
    # Online, the server refuses what is not a prize code; the verdict is the page's.
    await terminal.fill("#pz-code", "hello")
    await terminal.press("#pz-code", "Enter")
    await expect(terminal.locator("#verdict-title")).to_have_text("不是兑奖码", timeout=10_000)
    # Offline, the page checks the code itself: its verdict and reasons in Chinese too.
    await context.set_offline(True)
    await terminal.fill("#pz-code", "hello")
    await terminal.press("#pz-code", "Enter")
    await expect(terminal.locator("#verdict-title")).to_have_text("离线：未加入队列")
    await expect(terminal.locator("#conditions li[data-name=format]")).to_contain_text(
        "兑奖码格式：兑奖码应以 CCPZ2. 开头")
    await _fits(terminal)
    await context.close()
