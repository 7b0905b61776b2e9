"""Alembic environment: runs migrations synchronously on the configured URL."""

from alembic import context
from sqlalchemy import create_engine, pool

from couponchain.errors import ConfigurationError
from couponchain.store.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    url = config.get_main_option("sqlalchemy.url")
    if url is None:
        raise ConfigurationError(
            "migrations: sqlalchemy.url is not set (run them through couponchain.store.db.migrate)")
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
