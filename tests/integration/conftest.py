"""Integration fixtures: the real embedded node, SQLite and PostgreSQL, the API.

One node serves the whole session (tests that kill the node start their own).
Each test gets a fresh database, so it deploys its own contracts and keeps its
own journal; `database_url` runs every test on SQLite, and on PostgreSQL too
when COUPONCHAIN_TEST_POSTGRES_URL points at a server (scripts/test starts one).

A fresh database is a copy of one migrated once per session (`sqlite_url`, and
PostgreSQL's CREATE DATABASE ... TEMPLATE): building the schema through all the
migrations took 0.5-0.9 s of every test's set-up, about 300 s of a CI run. A
start still runs `migrate`, which finds the schema at the newest revision.
test_migrations.py builds from an empty database (`empty_database_url`).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from couponchain.api.app import create_app
from couponchain.chain.node import NodeSupervisor
from couponchain.config import Settings
from couponchain.runtime import Runtime
from couponchain.store.db import migrate

POSTGRES = os.environ.get("COUPONCHAIN_TEST_POSTGRES_URL")
MASTER = "integration-test-master-secret"


@pytest.fixture(scope="session")
async def node_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    supervisor = NodeSupervisor(tmp_path_factory.mktemp("node"))
    url = await supervisor.start()
    yield url
    await supervisor.stop()


def _admin_url() -> str:
    assert POSTGRES is not None
    return POSTGRES.replace("postgresql+psycopg://", "postgresql://")


def _postgres_database(template: str | None = None) -> Iterator[str]:
    """A new PostgreSQL database (a copy of `template` if given), dropped afterwards."""
    name = f"cc_{uuid.uuid4().hex[:12]}"
    copy = f' TEMPLATE "{template}"' if template else ""
    with psycopg.connect(_admin_url(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"{copy}')
    base, _, _ = POSTGRES.rpartition("/")
    yield f"{base}/{name}"
    with psycopg.connect(_admin_url(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This session's SQLite database at the newest revision: `sqlite_url` copies it."""
    path = tmp_path_factory.mktemp("template") / "migrated.db"
    migrate(f"sqlite+aiosqlite:///{path}")
    with sqlite3.connect(path) as conn:  # everything in the main file, nothing in a WAL
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


def sqlite_url(migrated: Path, path: Path) -> str:
    """The URL of a new SQLite database at `path`: a copy of `migrated_sqlite`."""
    shutil.copyfile(migrated, path)
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    """This session's PostgreSQL database at the newest revision (its name): every
    other one is created from it."""
    databases = _postgres_database()
    url = next(databases)
    migrate(url)
    yield url.rpartition("/")[2]
    next(databases, None)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A new database at the newest revision: SQLite, and PostgreSQL when there is one."""
    if request.param == "sqlite":
        yield sqlite_url(request.getfixturevalue("migrated_sqlite"), tmp_path / "couponchain.db")
        return
    if not POSTGRES:
        pytest.skip("COUPONCHAIN_TEST_POSTGRES_URL is not set (scripts/test sets it)")
    yield from _postgres_database(request.getfixturevalue("postgres_template"))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A new, empty database (no schema): for the migrations' own tests."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'couponchain.db'}"
        return
    if not POSTGRES:
        pytest.skip("COUPONCHAIN_TEST_POSTGRES_URL is not set (scripts/test sets it)")
    yield from _postgres_database()


def make_settings(tmp_path: Path, database_url: str, rpc_url: str | None,
                  **overrides: object) -> Settings:
    """Test settings: dev mode asked for explicitly, for the fixed admin key."""
    values: dict[str, object] = {"data_dir": tmp_path / "data", "database_url": database_url,
                                 "rpc_url": rpc_url, "master_secret": MASTER,
                                 "admin_key": "test-admin-key", "dev_mode": True}
    return Settings(**{**values, **overrides})


@pytest.fixture
async def runtime(tmp_path: Path, database_url: str, node_url: str) -> AsyncIterator[Runtime]:
    rt = Runtime(make_settings(tmp_path, database_url, node_url))
    await rt.start()
    yield rt
    await rt.stop()


@pytest.fixture
async def client(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(runtime, manage_runtime=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test",
                                 headers={"authorization": "Bearer test-admin-key"}) as c:
        yield c
