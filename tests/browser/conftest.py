"""Browser fixtures: the platform served on 127.0.0.1, Debian's chromium via Playwright."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import uvicorn
from playwright.async_api import Browser, async_playwright

from couponchain.api.app import create_app
from couponchain.runtime import Runtime
from tests.integration.conftest import make_settings, node_url  # noqa: F401 - fixture

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def site(tmp_path: Path, node_url: str) -> AsyncIterator[tuple[str, Runtime]]:  # noqa: F811
    """The platform (SQLite) served over HTTP; yields (base URL, runtime)."""
    runtime = Runtime(make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'b.db'}",
                                    node_url))
    await runtime.start()
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(runtime, manage_runtime=False),
                                           host="127.0.0.1", port=port, log_level="warning"))
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    yield f"http://127.0.0.1:{port}", runtime
    server.should_exit = True
    await serving
    await runtime.stop()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail("Debian chromium is missing: run scripts/setup")
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        await b.close()
