"""Where the contracts' sources are, the hash that names one compiled contract, and
the folder its compiled form is cached in.

Kept apart from `contracts` (which imports the compiler) so that `storage_layout`
can find a cached layout without importing Vyper: `couponchain verify` starts
without it.
"""

from __future__ import annotations

import hashlib
import os
from importlib import metadata
from pathlib import Path

SOURCES = Path(__file__).resolve().parent.parent / "contracts"


def source_hash(name: str, vyper_version: str) -> str:
    """Hash of a contract's source, the interfaces and the compilers that build it."""
    compilers = f"vyper {vyper_version} snekmate {metadata.version('snekmate')}"
    digest = hashlib.sha256(compilers.encode())
    for path in [SOURCES / f"{name}.vy", *sorted((SOURCES / "interfaces").glob("*.vyi"))]:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def cache_dir() -> Path:
    """The folder of compiled contracts (`COUPONCHAIN_CACHE_DIR`, else ~/.cache)."""
    base = os.environ.get("COUPONCHAIN_CACHE_DIR") or Path.home() / ".cache" / "couponchain"
    return Path(base) / "contracts"
