"""How the platform writes a point in time it read from the chain (epoch seconds)."""

from __future__ import annotations

import time


def iso(epoch: int) -> str:
    """`epoch` seconds as ISO 8601 UTC text to the second, e.g. 2026-01-31T12:00:00Z."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
