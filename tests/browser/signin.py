"""Signing in for the browser tests: a page as a person does (the API key form on
/signin), and the API calls that set a test's world up (headers, answers)."""

from __future__ import annotations

from typing import Any

import httpx
from playwright.async_api import Page


async def sign_in(page: Page, url: str, key: str) -> None:
    """Sign `page` in with `key` through /signin's API key form; it lands on /me."""
    await page.goto(url + "/signin")
    await page.fill("#api-key", key)
    # The API key form's own button: the page's first submit button is the
    # recovery-code form's.
    await page.click("#signin-form button[type=submit]")
    await page.wait_for_url(url + "/me")


#: The platform's API key in the browser tests' settings (`make_settings`).
ADMIN = {"authorization": "Bearer test-admin-key"}


def auth(participant: dict[str, Any]) -> dict[str, str]:
    """The API headers of a participant as the API answered its creation."""
    return {"authorization": f"Bearer {participant['api_key']}"}


def ok(response: httpx.Response) -> Any:
    """The body of an API answer that must have succeeded (200 or 201)."""
    assert response.status_code in (200, 201), response.text
    return response.json()
