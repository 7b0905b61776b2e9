"""Where the browser tests save the screenshots the docs and the README show."""

from pathlib import Path

SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
