"""Signing in for the browser tests: a page as a person does (the API key form on
/signin), and the API calls that set a test's world up (headers, answers)."""

from __future__ import annotations

from typing import Any

import httpx
from playwright.async_api import Browser, Page


async def sign_in(page: Page, url: str, key: str) -> None:
    """Sign `page` in with `key` through /signin's API key form; it lands on /me."""
    await page.goto(url + "/signin")
    await page.fill("#api-key", key)
    # The API key form's own button: the page's first submit button is the
    # recovery-code form's.
    await page.click("#signin-form button[type=submit]")
    await page.wait_for_url(url + "/me")


#: A phone's screen (the narrowest layout the pages are made for).
PHONE = {"width": 390, "height": 844}

#: The platform's API key in the browser tests' settings (`make_settings`).
ADMIN = {"authorization": "Bearer test-admin-key"}


def ok(response: httpx.Response) -> Any:
    """The body of an API answer that must have succeeded (200 or 201)."""
    assert response.status_code in (200, 201), response.text
    return response.json()


async def signed_in_page(browser: Browser, url: str, key: str, path: str,
                         viewport: dict[str, int] | None = None,
                         lang: str | None = None) -> Page:
    """A new page (1100 px wide unless `viewport` says), signed in with `key`, in
    `lang` when given (the `lang` cookie the language switch sets), showing `path`."""
    page = await browser.new_page(viewport=viewport or {"width": 1100, "height": 900})
    if lang is not None:
        await page.context.add_cookies([{"name": "lang", "value": lang, "url": url}])
    await sign_in(page, url, key)
    await page.goto(url + path)
    return page


async def fits(page: Page, width: int) -> None:
    """The page is at most `width` px wide: nothing scrolls sideways on that screen."""
    scroll = await page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, f"the page is {scroll} px wide at {width} px"
