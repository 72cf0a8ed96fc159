"""Alembic environment: async engine, naming convention from appward.db, batch mode on SQLite."""

from __future__ import annotations

import asyncio
import warnings

from alembic import context
from sqlalchemy.engine import Connection

import appward.models  # noqa: F401 (registers every table on Base.metadata)
from appward.db import Base, create_engine, is_sqlite

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=is_sqlite(config.attributes["database_url"]),
        compare_type=True,
    )
    with context.begin_transaction(), warnings.catch_warnings():
        # SQLite's reflection cannot read an index on an expression (lower(username)):
        # alembic says so and leaves it out of the comparison there; PostgreSQL compares it.
        warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression-based")
        warnings.filterwarnings("ignore", "autogenerate skipping metadata-specified expression")
        context.run_migrations()


async def _run_online() -> None:
    engine = create_engine(
        config.attributes["database_url"], schema=config.attributes.get("database_schema")
    )
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
    finally:
        await engine.dispose()  # also when a migration stops: no connection is left open


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run 'appward db upgrade'")
asyncio.run(_run_online())
