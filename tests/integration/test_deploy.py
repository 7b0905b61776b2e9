"""Deployment happens once per chain; starting again is a no-op."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from couponchain.runtime import Runtime
from couponchain.store.models import ChainTx
from tests.integration.conftest import make_settings


async def journal_length(runtime: Runtime) -> int:
    async with runtime.db.session() as s:
        return int((await s.execute(select(func.count()).select_from(ChainTx))).scalar_one())


async def test_a_second_start_deploys_nothing(
    tmp_path: Path, database_url: str, node_url: str
) -> None:
    settings = make_settings(tmp_path, database_url, node_url)
    first = Runtime(settings)
    await first.start()
    addresses, journaled = first.addresses, await journal_length(first)
    await first.stop()

    second = Runtime(settings)
    await second.start()
    try:
        assert second.addresses == addresses
        assert await journal_length(second) == journaled
        for address in addresses.values():
            assert await second.rpc.call("eth_getCode", address, "latest") != "0x"
    finally:
        await second.stop()
