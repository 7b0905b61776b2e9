"""Every capability's projection, listed in one place.

Each module below registers its handlers and tables on `PROJECTIONS` when
imported. A module that is not listed here is never imported, so its events
would be stored but never applied: `tests/unit/test_projection_modules.py`
fails on any module under `indexer/` that registers handlers and is missing.
"""

from __future__ import annotations

from types import ModuleType

from couponchain.indexer import (
    editions,
    marketing,
    notifications,
    participants,
    prizes,
    promotions,
    referrals,
    topups,
)
from couponchain.indexer.projections import PROJECTIONS, Projections

#: The projection modules, one per capability (and the registry's participants).
MODULES: tuple[ModuleType, ...] = (
    participants, editions, promotions, referrals, prizes, marketing, topups,
    notifications)


def all_projections() -> Projections:
    """The handlers and tables of every listed capability."""
    return PROJECTIONS
