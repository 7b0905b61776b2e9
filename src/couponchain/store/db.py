"""The database handle: an async SQLAlchemy engine for SQLite (WAL) or PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from pathlib import Path
from typing import Any, TypeVar

import orjson
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).parent / "migrations"

T = TypeVar("T")
#: A unit of work for `Database.write` (it adds or changes rows in the synchronous
#: session it is given, in the database's writer thread) or `Database.read`.
Work = Callable[[Session], T]


def sync_url(url: str) -> str:
    """The synchronous twin of an async URL (Alembic runs synchronously)."""
    return url.replace("sqlite+aiosqlite:", "sqlite:")


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def alembic_config(url: str) -> Config:
    """The Alembic configuration of this project's migrations on the database `url`."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", sync_url(url))
    cfg.attributes["configure_logger"] = False
    return cfg


def migrate(url: str) -> None:
    """Bring the schema to the newest Alembic revision."""
    if is_sqlite(url):
        path = url.split("///", 1)[-1]
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(url), "head")


def _json_dumps(value: object) -> str:
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # integers beyond 64 bits (uint256 amounts)
        return json.dumps(value)


class Database:
    """An engine and a session factory; one per process."""

    def __init__(self, url: str) -> None:
        self.url = url
        codec = {"json_serializer": _json_dumps, "json_deserializer": orjson.loads}
        #: The synchronous engine of point reads on the loop (`read`): SQLite only.
        self._reader_engine: Engine | None = None
        if is_sqlite(url):
            pool = {"connect_args": {"timeout": 30}, **codec}
            self.engine: AsyncEngine = create_async_engine(
                url, pool_size=8, max_overflow=8, **pool)
            self.writer_engine: Engine = create_engine(
                sync_url(url), pool_size=1, max_overflow=0, **pool)
            self._reader_engine = create_engine(
                sync_url(url), pool_size=1, max_overflow=0, **pool)
            for engine in (self.engine.sync_engine, self.writer_engine, self._reader_engine):
                event.listen(engine, "connect", _sqlite_pragmas)
            self._reader_sessions = sessionmaker(self._reader_engine, expire_on_commit=False)
        else:
            self.engine = create_async_engine(url, pool_size=10, max_overflow=20, **codec)
            self.writer_engine = create_engine(url, pool_size=1, max_overflow=0, **codec)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self.writer_sessions = sessionmaker(self.writer_engine, expire_on_commit=False)
        self._writer_thread = ThreadPoolExecutor(1, thread_name_prefix="group-commit")
        self._write_lock = asyncio.Lock() if is_sqlite(url) else None
        self._queued: list[tuple[Work[Any], asyncio.Future[Any]]] = []
        self._current: list[tuple[Work[Any], asyncio.Future[Any]]] = []
        self._writer: asyncio.Task[None] | None = None

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session; the caller commits."""
        async with self.sessions() as session:
            yield session

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session inside one transaction, committed on success.

        On SQLite the process's write transactions take turns on an asyncio
        lock: SQLite has one writer at a time anyway, and connections racing
        for its lock wait in its busy handler, which sleeps in steps of up to
        100 ms (measured: prize claims from 200 terminals at once took seconds).
        Reads never wait (WAL).
        """
        async with self._write_turn(), self.sessions() as session, session.begin():
            yield session

    def _write_turn(self) -> AbstractAsyncContextManager[Any]:
        """This process's turn to write: the SQLite write lock, or nothing to wait for."""
        return self._write_lock if self._write_lock is not None else nullcontext()

    async def read(self, work: Work[T]) -> T:
        """Run `work`, a point read (a few rows by key), in a synchronous session.

        On SQLite it runs right here on the event loop: such a read takes tens
        of microseconds, while the same read through the async driver hops to
        a connection thread and back three times (checkout, query, reset), and
        under load each hop waited 10-30 ms for its thread (measured: a prize
        scan's one read at p50 31 ms with 200 terminals). Elsewhere (a database
        across the network) it runs through the async session as usual.
        Not for scans of many rows: those would hold up every request.
        """
        if self._reader_engine is None:
            async with self.sessions() as session:
                return await session.run_sync(work)
        with self._reader_sessions() as session:
            return work(session)

    async def write(self, work: Work[T]) -> T:
        """Run `work` in a write transaction shared with other callers' (group commit).

        Small writes of many concurrent callers (the journal rows of many
        accounts, the claim rows of many terminals) cost one commit together
        instead of one each: while a transaction is being committed, the
        works that arrive queue up and the next transaction runs them all,
        in arrival order; nobody waits for a timer. When a shared transaction
        fails, each of its works is run again alone, so an error (a unique
        key taken, say) reaches only the caller whose work caused it. A work
        may therefore run more than once and must only touch the session.

        The shared transaction runs whole in one writer thread with a
        synchronous session: on the event loop each of its statements would
        wait for the loop to come round before the next could start, and
        under load (a busy API) that stretched a few-millisecond transaction
        to hundreds while every writer queued behind it (measured: the
        transactions held SQLite's one write turn 57% of the time, p99 119 ms).
        """
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queued.append((work, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_queued(), name="group commit")
        return await future

    async def _write_queued(self) -> None:
        try:
            await self._write_batches()
        finally:  # cancelled (shutting down): nobody is left waiting forever
            for _work, future in [*self._current, *self._queued]:
                future.cancel()
            self._current, self._queued = [], []

    async def _write_batches(self) -> None:
        loop = asyncio.get_running_loop()
        while self._queued:
            batch, self._queued = self._queued, []
            self._current = batch
            async with self._write_turn():
                outcomes = await loop.run_in_executor(self._writer_thread, self._commit, batch)
            for (_work, future), (result, exc) in zip(batch, outcomes, strict=True):
                _settle(future, result, exc=exc)

    def _commit(self, batch: list[tuple[Work[Any], asyncio.Future[Any]]],
                ) -> list[tuple[Any, BaseException | None]]:
        """Run a batch's works in one transaction (in the writer thread); each
        work's (result, error)."""
        try:
            with self.writer_sessions() as session, session.begin():
                results = [work(session) for work, _future in batch]
            return [(result, None) for result in results]
        except Exception as exc:
            if len(batch) == 1:
                return [(None, exc)]
        outcomes: list[tuple[Any, BaseException | None]] = []
        for work, _future in batch:  # find whose work it was
            try:
                with self.writer_sessions() as session, session.begin():
                    result = work(session)
            except Exception as alone:  # the work's, or its commit's (a unique key)
                outcomes.append((None, alone))
            else:
                outcomes.append((result, None))
        return outcomes

    async def close(self) -> None:
        await self.engine.dispose()
        if self._reader_engine is not None:
            self._reader_engine.dispose()
        await asyncio.get_running_loop().run_in_executor(
            self._writer_thread, self.writer_engine.dispose)
        self._writer_thread.shutdown(wait=False)


def _settle(future: asyncio.Future[Any], result: Any = None, *,
            exc: BaseException | None = None) -> None:
    if future.done():  # its caller was cancelled
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # noqa: ANN001 - DB-API connection
    # WAL lets readers run beside the one writer; NORMAL sync in WAL mode keeps every
    # committed transaction across a crash of the process (only power loss could lose
    # the last ones).
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()
