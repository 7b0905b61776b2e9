"""Integration fixtures: the real embedded node, SQLite and PostgreSQL, the API.

One node serves the whole session (tests that kill the node start their own).
Each test gets a fresh database, so it deploys its own contracts and keeps its
own journal; `database_url` runs every test on SQLite, and on PostgreSQL too
when COUPONCHAIN_TEST_POSTGRES_URL points at a server (scripts/test starts one).
"""

from __future__ import annotations

import os
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

POSTGRES = os.environ.get("COUPONCHAIN_TEST_POSTGRES_URL")
MASTER = "integration-test-master-secret"


@pytest.fixture(scope="session")
async def node_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    supervisor = NodeSupervisor(tmp_path_factory.mktemp("node"))
    url = await supervisor.start()
    yield url
    await supervisor.stop()


def _postgres_database() -> Iterator[str]:
    assert POSTGRES is not None
    name = f"cc_{uuid.uuid4().hex[:12]}"
    admin = POSTGRES.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = POSTGRES.rpartition("/")
    yield f"{base}/{name}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
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
