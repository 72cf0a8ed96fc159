"""Alembic migrations, run programmatically: ``appward db upgrade``."""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config

HERE = Path(__file__).parent


def alembic_config(database_url: str, schema: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(HERE))
    config.set_main_option("path_separator", "os")
    config.set_main_option("version_locations", str(HERE / "versions"))
    config.attributes["database_url"] = database_url
    config.attributes["database_schema"] = schema
    return config


def upgrade(database_url: str, schema: str | None = None, revision: str = "head") -> None:
    """Brings the database to ``revision`` (head by default)."""
    from alembic import command

    command.upgrade(alembic_config(database_url, schema), revision)
