"""The platform served over HTTP for a CLI test, and the CLI run in-process against it."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator

import pytest

from couponchain.api.app import create_app
from couponchain.runtime import Runtime
from tests.ports import serve_app


@pytest.fixture
async def served(runtime: Runtime) -> AsyncIterator[str]:
    """The runtime's API served over HTTP on a free port."""
    async for url in serve_app(create_app(runtime, manage_runtime=False)):
        yield url


async def cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The real command in a fresh process (the test's loop keeps serving meanwhile)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("COUPONCHAIN_")}
    clean.update(env, PYTHONPATH=os.pathsep.join(sys.path), COLUMNS="200")
    return await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "couponchain.cli", *args], env=clean,
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
