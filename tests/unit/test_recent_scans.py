"""The in-memory claimable scans a claim uses instead of reading them back."""

from __future__ import annotations

from couponchain.services.prize_claims import SCAN_CONFIRM_SECONDS, RecentScans, Scanned
from couponchain.store.models import PrizeScan


def _scanned(scan_id: str, terminal_id: str = "t1", at: int = 1_000) -> Scanned:
    return Scanned(PrizeScan(id=scan_id, terminal_id=terminal_id, scanned_at=at))


def test_a_scan_is_taken_once_and_only_by_the_terminal_that_made_it() -> None:
    recent = RecentScans()
    recent.add(_scanned("a"), now=1_000)
    assert recent.take("a", "t2") is None  # another terminal's claim goes the long way
    taken = recent.take("a", "t1")
    assert taken is not None and taken.scan.id == "a"
    assert recent.take("a", "t1") is None  # a second claim meets the first one's row
    assert recent.take("unknown", "t1") is None


def test_scans_leave_after_their_confirm_window_and_beyond_the_limit() -> None:
    recent = RecentScans(limit=3)
    recent.add(_scanned("old", at=1_000), now=1_000)
    recent.add(_scanned("new", at=1_050), now=1_050)
    recent.add(_scanned("newer", at=1_060), now=1_000 + SCAN_CONFIRM_SECONDS + 1)
    assert len(recent) == 2 and recent.take("old", "t1") is None
    for name in ("x", "y"):
        recent.add(_scanned(name, at=1_070), now=1_070)
    assert len(recent) == 3 and recent.take("new", "t1") is None
    assert recent.take("y", "t1") is not None
