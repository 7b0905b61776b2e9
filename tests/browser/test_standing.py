"""Standing on the role home in a real browser (issue 23): a merchant suspends,
reinstates and unbinds its terminal; the platform suspends a merchant and pauses a
capability, in Chinese too. Each click is a registry transaction on the node."""

from __future__ import annotations

from playwright.async_api import Browser, Page, expect

from couponchain.domain.roles import Role
from couponchain.runtime import Runtime
from tests.browser.screenshots import SHOTS
from tests.browser.signin import sign_in as sign_in_page


async def sign_in(browser: Browser, url: str, key: str, locale: str = "en-US") -> Page:
    context = await browser.new_context(viewport={"width": 1100, "height": 900}, locale=locale)
    page = await context.new_page()
    await sign_in_page(page, url, key)
    return page


async def test_a_merchant_suspends_and_unbinds_its_terminal(
        site: tuple[str, Runtime], browser: Browser) -> None:
    url, runtime = site
    shop = await runtime.participants.create(runtime.platform.caller, Role.MERCHANT, "Tea House")
    merchant = await runtime.participants.caller(shop["id"])
    till = await runtime.participants.create(merchant, Role.TERMINAL, "Till 1")
    page = await sign_in(browser, url, shop["api_key"])
    row = page.locator(f"#terminals-table tr[data-id='{till['id']}']")
    await expect(row).to_contain_text("active")

    await row.get_by_role("button", name="Suspend").click()
    await expect(page.locator("#terminals-result")).to_contain_text("Give a reason first")
    await page.fill("#terminals-reason", "till lost")
    await row.get_by_role("button", name="Suspend").click()
    await expect(row).to_contain_text("suspended")
    await expect(row).to_contain_text("till lost")
    record = await runtime.participants.on_chain(till["address"])
    assert record is not None and record.status == 1
    await page.screenshot(path=str(SHOTS / "terminal-standing.png"), full_page=True)

    await row.get_by_role("button", name="Reinstate").click()
    await expect(row).to_contain_text("active")
    await page.fill("#terminals-reason", "retired")
    await row.get_by_role("button", name="Unbind for good").click()
    await expect(row).to_contain_text("unbound")
    await expect(row.get_by_role("button")).to_have_count(0)


async def test_the_platform_suspends_merchants_and_pauses_capabilities_in_chinese(
        site: tuple[str, Runtime], browser: Browser) -> None:
    url, runtime = site
    shop = await runtime.participants.create(runtime.platform.caller, Role.MERCHANT, "Noodles")
    assert runtime.platform.api_key
    page = await sign_in(browser, url, runtime.platform.api_key, "zh-CN")
    await expect(page.locator("#capabilities-section h2")).to_have_text("功能暂停开关")
    merchant = page.locator(f"#merchants-table tr[data-id='{shop['id']}']")
    await page.fill("#merchants-reason", "调查中")
    await merchant.get_by_role("button", name="暂停").click()
    await expect(merchant).to_contain_text("已暂停")
    await expect(merchant).to_contain_text("调查中")

    editions = page.locator("#capabilities-table tr[data-capability='editions']")
    await expect(editions).to_contain_text("运行中")
    await page.fill("#capabilities-reason", "事故 7")
    await editions.get_by_role("button", name="暂停").click()
    await expect(editions).to_contain_text("已暂停")
    await expect(editions).to_contain_text("事故 7")
    await page.screenshot(path=str(SHOTS / "capability-pauses-zh.png"), full_page=True)
    await editions.get_by_role("button", name="解除暂停").click()
    await expect(editions).to_contain_text("运行中")
