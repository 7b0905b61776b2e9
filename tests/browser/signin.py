"""Signing a browser page in the way a person does: the API key form on /signin."""

from __future__ import annotations

from playwright.async_api import Page


async def sign_in(page: Page, url: str, key: str) -> None:
    """Sign `page` in with `key` through /signin's API key form; it lands on /me."""
    await page.goto(url + "/signin")
    await page.fill("#api-key", key)
    # The API key form's own button: the page's first submit button is the
    # recovery-code form's.
    await page.click("#signin-form button[type=submit]")
    await page.wait_for_url(url + "/me")
