"""Migrations: the models and the migration history never drift apart, on both databases."""

from __future__ import annotations

import asyncio

import pytest
from alembic import command
from sqlalchemy import text

from appward.db import create_engine
from appward.migrations import alembic_config


def test_models_match_migrations(database):
    """`alembic check` fails when a model changed without a migration (warehouse db check)."""
    command.check(alembic_config(database.url, database.schema))


def test_downgrade_and_upgrade_again(database):
    config = alembic_config(database.url, database.schema)
    command.downgrade(config, "base")
    command.upgrade(config, "head")
    command.check(config)

    async def builtin_scopes() -> list[str]:
        engine = create_engine(database.url, schema=database.schema)
        try:
            async with engine.connect() as conn:
                rows = await conn.execute(text("SELECT name FROM scopes"))
                return [r[0] for r in rows]
        finally:
            await engine.dispose()

    assert asyncio.run(builtin_scopes()) == ["appward:admin"]


@pytest.mark.parametrize("kind", ["sqlite"])
def test_embedded_database_uses_wal_and_foreign_keys(tmp_path, kind):
    url = f"sqlite+aiosqlite:///{tmp_path}/x.db"

    async def pragmas() -> tuple[str, int]:
        engine = create_engine(url)
        try:
            async with engine.connect() as conn:
                mode = (await conn.execute(text("PRAGMA journal_mode"))).scalar_one()
                fks = (await conn.execute(text("PRAGMA foreign_keys"))).scalar_one()
                return mode, fks
        finally:
            await engine.dispose()

    assert asyncio.run(pragmas()) == ("wal", 1)
