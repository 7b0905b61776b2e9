"""Browser fixtures: the platform served on 127.0.0.1, Debian's chromium via Playwright.

Every page a test opens is watched for Content-Security-Policy violations (the
browser's console errors and `securitypolicyviolation` events): a test whose
pages broke the policy fails when its browser closes (issue 20 §7).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import pytest
import uvicorn
from playwright.async_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    async_playwright,
    expect,
)

from couponchain.api.app import create_app
from couponchain.runtime import Runtime
from tests.integration.conftest import (  # noqa: F401 - fixtures
    make_settings,
    migrated_sqlite,
    node_url,
    sqlite_url,
)
from tests.ports import free_port

CHROMIUM = Path("/usr/bin/chromium")
#: How long an `expect` waits for the page: Playwright's 5 s default is short when the
#: suite runs on one worker per core and a state machine holds the other core (the
#: page waits on chain writes and the indexer); a passing check returns at once.
expect.set_options(timeout=20_000)
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


@pytest.fixture
async def site(
    tmp_path: Path,
    node_url: str,  # noqa: F811 - the imported fixture
    migrated_sqlite: Path,  # noqa: F811 - the imported fixture
) -> AsyncIterator[tuple[str, Runtime]]:
    """The platform (SQLite) served over HTTP; yields (base URL, runtime)."""
    runtime = Runtime(make_settings(tmp_path, sqlite_url(migrated_sqlite, tmp_path / "b.db"),
                                    node_url))
    await runtime.start()
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(runtime, manage_runtime=False),
                                           host="127.0.0.1", port=port, log_level="warning"))
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    yield f"http://127.0.0.1:{port}", runtime
    server.should_exit = True
    await serving
    await runtime.stop()


#: Runs in every document before its own scripts (injected by the browser, so the
#: page's CSP does not apply to it): each violation becomes a console error.
REPORT_VIOLATIONS = """document.addEventListener("securitypolicyviolation", (e) =>
  console.error(`CSP violation: ${e.effectiveDirective} blocked ${e.blockedURI || "inline"}`
                + ` at ${e.sourceFile || document.URL}:${e.lineNumber}`));"""


class CspWatch:
    """Collects the CSP violations of every page opened through `WatchedBrowser`."""

    def __init__(self) -> None:
        self.violations: list[str] = []

    async def attach(self, context: BrowserContext) -> None:
        await context.add_init_script(REPORT_VIOLATIONS)
        context.on("console", self._console)

    def _console(self, message: ConsoleMessage) -> None:
        text = message.text
        if message.type == "error" and ("Content Security Policy" in text
                                        or text.startswith("CSP violation")):
            where = message.page.url if message.page is not None else "?"
            self.violations.append(f"{where}: {text}")


class WatchedBrowser:
    """A Playwright `Browser` whose new pages and contexts report to a `CspWatch`."""

    def __init__(self, browser: Browser, watch: CspWatch) -> None:
        self._browser = browser
        self.csp = watch

    def __getattr__(self, name: str) -> Any:
        return getattr(self._browser, name)

    async def new_context(self, **options: Any) -> BrowserContext:
        context = await self._browser.new_context(**options)
        await self.csp.attach(context)
        return context

    async def new_page(self, **options: Any) -> Page:
        page = await self._browser.new_page(**options)
        await self.csp.attach(page.context)  # before its first navigation
        return page


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail("Debian chromium is missing: run scripts/setup")
    watch = CspWatch()
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield cast(Browser, WatchedBrowser(b, watch))
        await b.close()
    assert not watch.violations, "pages broke their CSP:\n" + "\n".join(watch.violations)
