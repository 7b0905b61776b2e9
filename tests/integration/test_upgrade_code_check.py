"""A start compares the deployed runtime code, not the source (issue 23): an
edited comment starts, a code change is refused with one line saying what to do,
and a data directory from before the code hash was kept is judged by the chain."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select, update

from couponchain.chain import contracts
from couponchain.errors import ConfigurationError
from couponchain.runtime import Runtime
from couponchain.store.models import Deployment
from tests.integration.conftest import make_settings
from tests.integration.upgrade_world import edit_source, start_and_stop
from tests.integration.upgrade_world import sources as sources  # the fixture


async def test_a_comment_edit_starts_and_a_code_change_is_refused(
    sources: Path, tmp_path: Path, database_url: str, node_url: str
) -> None:
    settings = make_settings(tmp_path, database_url, node_url)
    await start_and_stop(settings)
    editions = sources / "editions.vy"
    edit_source(editions, "@title Limited coupon editions",
                "@title Limited coupon editions (an edited docstring)\n# and a new comment")
    await start_and_stop(settings)  # the runtime code is the same: it starts

    edit_source(editions, '"editions: empty batch"', '"editions: no coupons in the batch"')
    with pytest.raises(ConfigurationError) as refused:
        await start_and_stop(settings)
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith("contracts/editions.vy compiles to other code than the editions")
    assert "couponchain migrate" in message


async def test_a_data_directory_from_before_the_code_hash_is_judged_by_the_chain(
    sources: Path, tmp_path: Path, database_url: str, node_url: str
) -> None:
    settings = make_settings(tmp_path, database_url, node_url)
    runtime = Runtime(settings)
    await runtime.start()
    try:
        # As a deployment recorded before issue 23: a source hash only.
        async with runtime.db.transaction() as s:
            await s.execute(update(Deployment).values(code_hash=None))
    finally:
        await runtime.stop()
    edit_source(sources / "token.vy", "# pragma version", "# an edited comment\n# pragma version")
    await start_and_stop(settings)  # the chain runs the same code: it starts, and keeps the hash
    runtime = Runtime(settings)
    await runtime.start()
    try:
        async with runtime.db.session() as s:
            token = (await s.execute(
                select(Deployment).where(Deployment.name == "token"))).scalar_one()
        assert token.code_hash == contracts.load("token").code_hash
        assert token.source_hash == contracts.load("token").source_hash
        async with runtime.db.transaction() as s:
            await s.execute(update(Deployment).values(code_hash=None))
    finally:
        await runtime.stop()
    # A constructor's message is init code only (it runs once): the check rightly
    # ignores it; a message of a function the chain runs is runtime code.
    edit_source(sources / "token.vy", '"token: mint to the zero address"', '"token: no zero mints"')
    with pytest.raises(ConfigurationError, match="compiles to other code than the token"):
        await start_and_stop(settings)
