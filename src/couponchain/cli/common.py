"""What the `couponchain` commands share: the console, settings and the error exit."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from rich.console import Console

if TYPE_CHECKING:
    from couponchain.config import Settings

# Heavier modules (asyncio, httpx, uvicorn, pydantic settings, the API, the
# contracts) are imported by the commands that use them: `verify` runs in a fresh
# process each time, and its latency is mostly what it imports.
console = Console()


def _settings(**overrides: Any) -> Settings:
    from couponchain.config import Settings

    return Settings(**{k: v for k, v in overrides.items() if v is not None})


def _fail(message: str) -> None:
    console.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    sys.exit(2)
