"""Every projection module is listed, so its events are applied, not only stored."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import couponchain.indexer
from couponchain.indexer.capabilities import MODULES, all_projections


def _registering_modules() -> set[str]:
    """Modules under indexer/ whose source registers handlers or tables."""
    found = set()
    for info in pkgutil.iter_modules(couponchain.indexer.__path__):
        module = importlib.import_module(f"couponchain.indexer.{info.name}")
        source = Path(module.__file__ or "").read_text(encoding="utf-8")
        if "PROJECTIONS.on" in source or "PROJECTIONS.owns" in source:
            found.add(module.__name__)
    return found


def test_every_module_that_registers_handlers_is_listed() -> None:
    listed = {module.__name__ for module in MODULES}
    missing = _registering_modules() - listed
    assert not missing, f"add to couponchain/indexer/capabilities.py MODULES: {sorted(missing)}"


def test_the_listed_capabilities_handle_each_contract() -> None:
    handled = {contract for contract, _event in
               [*all_projections().handlers, *all_projections().run_handlers]}
    assert {"registry", "editions", "promotions", "referrals", "prizes",
            "marketing"} <= handled
