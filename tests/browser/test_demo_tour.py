"""The demo story in the browser: the home page's tour opens every capability's page
as the participant who uses it (what a newcomer does after `couponchain up --demo`)."""

from __future__ import annotations

from playwright.async_api import Browser, expect

from couponchain.runtime import Runtime
from couponchain.services import demo
from tests.browser.screenshots import SHOTS

#: Text each tour page shows once the demo story is loaded into it.
SHOWS = {
    "/editions": "Mid-Autumn mooncake gift box",
    "/coupons/MOON26-000001": "MOON26-000001",
    "/products": "The Quiet Harbor",
    "/holdings": "The Quiet Harbor",
    "/prizes": "Grand opening draw",
    "/my-prizes": "Grand opening draw",
}


async def test_the_tour_walks_every_capability_as_each_role(site: tuple[str, Runtime],
                                                            browser: Browser) -> None:
    url, runtime = site
    seeded = await demo.seed(runtime)
    for seed_story in (demo.seed_promotions, demo.seed_editions, demo.seed_referrals,
                       demo.seed_prizes, demo.seed_marketing):
        await seed_story(runtime, seeded)
    runtime.demo_tour = demo.tour(runtime, seeded)

    home = await browser.new_page(viewport={"width": 1100, "height": 900})
    await home.goto(url + "/")
    steps = home.locator("#tour a.act-as")
    await expect(steps).to_have_count(len(runtime.demo_tour))
    assert {await row.get_attribute("data-capability")
            for row in await home.locator("#tour tbody tr").all()} == {
        "editions", "promotions", "referrals", "prizes", "marketing"}
    await home.screenshot(path=str(SHOTS / "home-tour.png"), full_page=True)
    await home.close()

    for step in runtime.demo_tour:
        # A fresh context each time: the tour link signs this browser in as `step`.
        context = await browser.new_context(viewport={"width": 1100, "height": 900})
        page = await context.new_page()
        await page.goto(url + "/")
        await page.click(f"#tour a.act-as[href='{step['page']}']"
                         f"[data-key='{step['api_key']}']")
        await page.wait_for_url(url + step["page"])
        await expect(page.locator("#who")).to_contain_text(step["name"], timeout=10_000)
        if step["page"] in SHOWS:
            await expect(page.locator("main")).to_contain_text(SHOWS[step["page"]],
                                                               timeout=10_000)
        await expect(page.locator(".error:visible")).to_have_count(0)
        await context.close()
