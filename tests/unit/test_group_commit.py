"""`Database.write` (group commit in the writer thread) and `Database.read` on SQLite."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from couponchain.store.db import Database, migrate
from couponchain.store.models import IdempotencyRecord


@pytest.fixture
async def db(tmp_path: Path):  # noqa: ANN201 - an async generator fixture
    url = f"sqlite+aiosqlite:///{tmp_path / 'group.db'}"
    migrate(url)
    database = Database(url)
    yield database
    await database.close()


def _add(key: str):  # noqa: ANN202 - a Work
    def work(s: Session) -> str:
        s.add(IdempotencyRecord(key=key, request_hash="h"))
        return key
    return work


def _keys(db: Database) -> set[str]:
    with db._reader_sessions() as s:  # noqa: SLF001 - the test reads what was committed
        return set(s.scalars(select(IdempotencyRecord.key)))


async def test_concurrent_works_share_commits_and_each_gets_its_own_result(db: Database) -> None:
    results = await asyncio.gather(*(db.write(_add(f"k{i}")) for i in range(50)))
    assert results == [f"k{i}" for i in range(50)]
    assert _keys(db) == {f"k{i}" for i in range(50)}


async def test_a_failing_work_fails_alone_and_the_others_commit(db: Database) -> None:
    await db.write(_add("taken"))

    def refuse(_s: Session) -> None:
        raise ValueError("refused by the work")

    outcomes = await asyncio.gather(
        db.write(_add("a")), db.write(refuse), db.write(_add("taken")), db.write(_add("b")),
        return_exceptions=True)
    assert outcomes[0] == "a" and outcomes[3] == "b"
    assert isinstance(outcomes[1], ValueError)
    # The duplicate key fails at commit, after its work returned: one outcome, the error.
    assert isinstance(outcomes[2], IntegrityError)
    assert _keys(db) == {"taken", "a", "b"}


async def test_works_run_in_the_writer_thread_and_reads_on_the_loop(db: Database) -> None:
    loop_thread = threading.get_ident()

    def where(_s: Session) -> int:
        return threading.get_ident()

    assert await db.write(where) != loop_thread
    assert await db.read(where) == loop_thread
    await db.write(_add("seen"))
    assert await db.read(lambda s: s.get(IdempotencyRecord, "seen").key) == "seen"
