"""The Alembic migrations build the schema the models describe, and each step back
and forth keeps it so: a deployment that migrates gets the tables, columns and
indexes the code queries with (a missing index is only ever noticed under load)."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect

from couponchain.store.db import alembic_config, migrate, sync_url
from couponchain.store.models import Base


def _differences(url: str) -> list[object]:
    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as connection:
            return list(compare_metadata(MigrationContext.configure(connection),
                                         Base.metadata))
    finally:
        engine.dispose()


def test_the_migrated_schema_is_the_models_schema(empty_database_url: str) -> None:
    migrate(empty_database_url)
    assert _differences(empty_database_url) == []


def test_the_migrated_primary_keys_are_the_models(empty_database_url: str) -> None:
    # compare_metadata does not compare primary keys; a read model keyed
    # differently from its model (e.g. marketing anchors, keyed per submitter
    # since 0013) would only show as a duplicate key in the indexer.
    migrate(empty_database_url)
    engine = create_engine(sync_url(empty_database_url))
    try:
        reflected = inspect(engine)
        for table in Base.metadata.sorted_tables:
            key = reflected.get_pk_constraint(table.name)["constrained_columns"]
            assert set(key) == {c.name for c in table.primary_key.columns}, table.name
    finally:
        engine.dispose()


def test_every_migration_goes_down_and_up_again(empty_database_url: str) -> None:
    migrate(empty_database_url)
    cfg = alembic_config(empty_database_url)
    revisions = [r.revision for r in ScriptDirectory.from_config(cfg).walk_revisions()]
    assert len(revisions) >= 9
    command.downgrade(cfg, "base")
    command.upgrade(cfg, "head")
    assert _differences(empty_database_url) == []
