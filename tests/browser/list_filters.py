"""What the list pages' tests share: a calendar day as the date filters take it, and a CSV
export downloaded and read back."""

from __future__ import annotations

import csv
import io
import time
from pathlib import Path

from playwright.async_api import Page


def local_day(offset: int) -> str:
    """A calendar day in the browser's zone (the test runs in the machine's zone)."""
    return time.strftime("%Y-%m-%d", time.localtime(time.time() + offset * 86400))


async def download_csv(page: Page, link: str) -> list[dict[str, str]]:
    async with page.expect_download() as event:
        await page.click(link)
    download = await event.value
    text = Path(await download.path()).read_text(encoding="utf-8")
    return list(csv.DictReader(io.StringIO(text)))
