"""What the upgrade tests share: a copy of the contracts' sources to edit, a runtime started
and stopped on it, and raw reads of a contract's views through the node."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from couponchain.chain import contract_sources, contracts
from couponchain.runtime import Runtime


@pytest.fixture
def sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A copy of the contracts' sources the runtime compiles from, to edit."""
    copy = tmp_path / "contracts"
    shutil.copytree(contract_sources.SOURCES, copy)
    monkeypatch.setattr(contract_sources, "SOURCES", copy)
    monkeypatch.setattr(contracts, "SOURCES", copy)
    contracts.load.cache_clear()
    contracts.layout.cache_clear()
    yield copy
    contracts.load.cache_clear()
    contracts.layout.cache_clear()


def edit_source(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    contracts.load.cache_clear()


async def start_and_stop(settings) -> None:  # noqa: ANN001
    """Start and stop a runtime; a refused start stops what it started too."""
    runtime = Runtime(settings)
    try:
        await runtime.start()
    finally:
        await runtime.stop()


def answered(response: httpx.Response) -> dict[str, Any]:
    """The JSON of a 200 or 201 answer (anything else fails, with its text)."""
    assert response.status_code in (200, 201), response.text
    return response.json()  # type: ignore[no-any-return]


async def chain_view(runtime: Runtime, address: str, function: str, *args: Any,
                     contract: str = "editions") -> str:
    """`function(*args)` of the contract at `address`, as the node answers it (hex)."""
    code = contracts.load(contract)
    data = "0x" + code.encode_call(function, *args).hex()
    return str(await runtime.rpc.call("eth_call", {"to": address, "data": data}, "latest"))
