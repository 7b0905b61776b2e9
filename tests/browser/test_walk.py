"""Every page as each role, on a phone (390 px) and a desktop (1280 px), in a real browser.

Issue 24: what a person reads shows names, amounts in the token's unit and local
dates. A page fails when its visible text (outside a closed "details" toggle)
shows a chain address, a hash, an API key, epoch seconds, raw JSON or a CLI
line; when a text wraps one character per line on a phone; when it is wider
than the phone; or when its navigation is not its role's (a phone gets a Menu
button that opens the role's links, Sign out included).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from typing import Any

from playwright.async_api import Browser, BrowserContext, Page, expect
from playwright.async_api import TimeoutError as PlaywrightTimeout

from couponchain.runtime import Runtime
from couponchain.services import demo
from tests.browser.screenshots import SHOTS

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
#: How long a page may take to fill itself before it is read.
QUIET_MS = 1_500

#: True once no visible element still shows a loading placeholder.
FILLED = """() => ![...document.querySelectorAll("main *")].some((el) =>
  el.childElementCount === 0 && /^(Loading…|…)$/.test(el.textContent.trim())
  && el.checkVisibility())"""

#: What people must not read (outside a details toggle), by what it is.
LEAKS = {
    "address": re.compile(r"0x[0-9a-fA-F]{40}(?![0-9a-fA-F])"),
    "hash": re.compile(r"0x[0-9a-fA-F]{64}"),
    "API key": re.compile(r"\bcc_[0-9a-f]{16}_[A-Za-z0-9_-]{20,}"),
    "epoch seconds": re.compile(r"(?<![\d.,])1[6-9]\d{8}(?![\d.,])"),
    "raw JSON": re.compile(r"\[\[\"|\{\"|conversion_rate"),
    "CLI line": re.compile(r"couponchain verify\s[\s\S]{0,300}?--rpc"),
}

#: The page's visible text outside closed <details> (their summaries stay), and the
#: texts that wrap one character per line: at least three lines of at most one
#: character each on average.
READ_PAGE = """() => {
  const visible = [];
  const narrow = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const text = node.textContent.trim();
    const parent = node.parentElement;
    if (!text || !parent || parent.closest("script, style, noscript")) continue;
    const closed = parent.closest("details:not([open])");
    if (closed && !parent.closest("summary")) continue;
    if (!parent.checkVisibility({ checkOpacity: true, checkVisibilityCSS: true })) continue;
    visible.push(text);
    const chars = text.replace(/\\s/g, "").length;
    if (chars < 3) continue;
    const range = document.createRange();
    range.selectNodeContents(node);
    const tops = new Set([...range.getClientRects()].filter((r) => r.width > 0)
                         .map((r) => Math.round(r.top)));
    if (tops.size >= 3 && chars / tops.size <= 1.5) narrow.push(text.slice(0, 40));
  }
  return { text: visible.join("\\n"), narrow,
           width: document.documentElement.scrollWidth };
}"""


def leaks(text: str) -> list[str]:
    """What the text shows that people must not read, as "kind: excerpt"."""
    return [f"{kind}: {match.group(0)[:70]}" for kind, pattern in LEAKS.items()
            for match in pattern.finditer(text)]


def test_the_leak_patterns_catch_what_they_name() -> None:
    """The walk's checks can fail: each pattern finds its kind, and names pass."""
    address = "0x" + "ab12" * 10
    assert leaks(f"Owner {address}") == [f"address: {address}"]
    assert leaks("tx 0x" + "c" * 64)[0].startswith("hash: ")
    assert leaks("key cc_0123456789abcdef_" + "Z" * 43)[0].startswith("API key")
    assert leaks("valid until 1796083200")[0].startswith("epoch seconds")
    assert leaks('[["view",1901]]')[0].startswith("raw JSON")
    assert leaks("couponchain verify MOON26-000001 --api x\n  --rpc <a node>")[0].startswith("CLI")
    assert leaks("Price 88.000000 CCC, Ann Lee, 7 Dec 2026, 14:43, block 1901") == []


async def _signed_in(browser: Browser, url: str, key: str | None,
                     viewport: dict[str, int]) -> BrowserContext:
    context = await browser.new_context(viewport=viewport)
    if key is not None:  # the same session cookie pair a sign-in on /signin leaves
        answer = await context.request.post(url + "/v1/sessions",
                                            headers={"authorization": "Bearer " + key})
        assert answer.ok, await answer.text()
    return context


async def _read(page: Page, url: str, path: str) -> dict[str, Any]:
    await page.goto(url + path, wait_until="domcontentloaded")
    # The scripts' first answers in; live pages (a dashboard) never fall quiet.
    with contextlib.suppress(PlaywrightTimeout):
        await page.wait_for_load_state("networkidle", timeout=QUIET_MS)
    with contextlib.suppress(PlaywrightTimeout):  # placeholders ("Loading…", "…") filled in
        await page.wait_for_function(FILLED, timeout=QUIET_MS)
    result: dict[str, Any] = await page.evaluate(READ_PAGE)
    return result


async def _check_nav(page: Page, role: str, viewport: dict[str, int],
                     own: list[str], others: list[str]) -> list[str]:
    """The role's own links reachable (behind Menu on a phone), other roles' hidden."""
    problems = []
    if viewport is PHONE:
        await expect(page.locator("#menu-toggle")).to_be_visible()
        await expect(page.locator("#site-nav")).to_be_hidden()
        await page.click("#menu-toggle")
    await expect(page.locator("#site-nav")).to_be_visible()
    for href in own:
        if not await page.locator(f"#site-nav a[href='{href}']").is_visible():
            problems.append(f"{role}: nav link {href} not shown")
    for href in others:
        if await page.locator(f"#site-nav a[href='{href}']").is_visible():
            problems.append(f"{role}: nav link {href} shown to the wrong role")
    if role != "anonymous" and not await page.locator("#signout").is_visible():
        problems.append(f"{role}: Sign out not reachable")
    if role == "consumer" and viewport is PHONE:
        await page.screenshot(path=str(SHOTS / "nav-phone-consumer.png"))
    box = await page.locator("header.top").bounding_box()
    if box is None or box["width"] > viewport["width"]:
        problems.append(f"{role}: the header is wider than the screen")
    return problems


async def _walk(browser: Browser, url: str, role: str, key: str | None, paths: list[str],
                nav: tuple[list[str], list[str]], viewport: dict[str, int]) -> list[str]:
    context = await _signed_in(browser, url, key, viewport)
    page = await context.new_page()
    problems: list[str] = []
    try:
        for n, path in enumerate(paths):
            seen = await _read(page, url, path)
            where = f"{role} {viewport['width']}px {path}"
            problems += [f"{where}: {leak}" for leak in leaks(seen["text"])]
            if viewport is PHONE:
                problems += [f"{where}: one character per line: {t!r}" for t in seen["narrow"]]
                if seen["width"] > viewport["width"]:
                    problems.append(f"{where}: {seen['width']} px wide")
            if n == 0:
                problems += [f"{where}: {p}" for p in await _check_nav(page, role, viewport,
                                                                       *nav)]
    finally:
        await context.close()
    return problems


async def test_every_page_reads_as_names_amounts_and_dates_as_each_role(
    site: tuple[str, Runtime], browser: Browser
) -> None:
    url, runtime = site
    started = time.monotonic()
    seeded = await demo.seed(runtime)
    stories = {}
    for seed_story in (demo.seed_promotions, demo.seed_editions, demo.seed_referrals,
                       demo.seed_prizes, demo.seed_marketing):
        stories.update(await seed_story(runtime, seeded) or {})
    merchant, consumer = seeded["merchants"][0], seeded["consumers"][0]
    terminal = next(t for t in seeded["terminals"] if t["merchant_id"] == merchant["id"])
    public = [f"/editions/{stories['edition_id']}", "/coupons/MOON26-000001",
              "/promotion-coupons/1", f"/products/{stories['product_id']}",
              f"/prizes/{stories['campaign_id']}", f"/merchants/{merchant['id']}/storefront"]
    merchant_pages = ["/editions", "/promotions/merchant", "/terminal", "/products", "/prizes",
                      "/marketing", "/inbox"]
    consumer_pages = ["/wallet", "/holdings", "/my-prizes"]
    roles: dict[str, tuple[str | None, list[str], list[str]]] = {
        # role: (API key, pages walked, its own navigation links)
        "anonymous": (None, ["/", "/signin", "/signup", "/status", "/coupons", *public],
                      ["/coupons"]),
        "consumer": (consumer["api_key"], ["/me", *consumer_pages, "/account", public[1],
                                           public[3]],
                     ["/me", *consumer_pages]),
        "merchant": (merchant["api_key"], ["/me", *merchant_pages, "/keys", "/account",
                                           public[0]],
                     ["/me", *merchant_pages]),
        "terminal": (terminal["api_key"], ["/me", "/promotions/merchant", "/terminal"],
                     ["/me", "/promotions/merchant", "/terminal"]),
        "platform": (runtime.platform.api_key, ["/me", "/promotions", "/keys", public[4]],
                     ["/me", "/promotions"]),
    }
    every_link = {href for _, _, own in roles.values() for href in own}
    # The server shares this process and its two cores with the browser: four walks at once.
    gate = asyncio.Semaphore(4)

    async def gated(walk: Any) -> list[str]:
        async with gate:
            found: list[str] = await walk
            return found

    walks = [gated(_walk(browser, url, role, key, paths,
                   (own, sorted(every_link - set(own) - {"/me", "/coupons"})), viewport))
             for role, (key, paths, own) in roles.items() for viewport in (PHONE, DESKTOP)]
    seeded_in = time.monotonic() - started
    problems = [p for found in await asyncio.gather(*walks) for p in found]
    walked_in = time.monotonic() - started - seeded_in
    print(f"demo seeded in {seeded_in:.0f} s, walked in {walked_in:.0f} s")
    assert not problems, "pages people read show:\n" + "\n".join(problems)
