"""`appward db status` and `appward db backup`: what an operator runs around an upgrade,
and the embedded database's consistent copy."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import stat

import pytest
from alembic import command
from sqlalchemy import text

from appward.backup import back_up_sqlite
from appward.config import Settings
from appward.db import create_engine
from appward.errors import InvalidInput
from appward.migrations import alembic_config
from appward.readiness import expected_revisions
from tests.conftest import settings_env
from tests.factories import SERVICE
from tests.functional import test_cli
from tests.functional.test_cli import Cli

cli = test_cli.cli  # the fixture
HEAD = ", ".join(sorted(expected_revisions()))


def test_status_says_whether_migrations_are_due(cli: Cli, settings: Settings) -> None:
    assert cli.ok("db", "status").strip() == f"database is at {HEAD}, as this version expects"
    command.downgrade(alembic_config(settings.database_url, settings.database_schema), "0010")
    try:
        behind = cli.run("db", "status")
        assert behind.exit_code == 1
        assert behind.stdout.strip() == (
            f"database is at 0010, this version expects {HEAD}: run `appward db upgrade`"
        )
        cli.ok("db", "upgrade")
        assert cli.run("db", "status").exit_code == 0
    finally:
        command.upgrade(alembic_config(settings.database_url, settings.database_schema), "head")


def test_status_of_a_database_a_newer_release_migrated(cli: Cli, settings: Settings) -> None:
    set_revision(settings, "9999_from_a_newer_release")
    try:
        assert cli.ok("db", "status").strip() == (
            f"database is at 9999_from_a_newer_release, newer than this version's {HEAD} "
            "(a newer release's migration): this version keeps serving on it"
        )
    finally:
        set_revision(settings, HEAD)
    assert cli.run("db", "status").exit_code == 0


def set_revision(settings: Settings, revision: str) -> None:
    async def run() -> None:
        engine = create_engine(settings.database_url, schema=settings.database_schema)
        try:
            async with engine.begin() as connection:
                await connection.execute(
                    text("UPDATE alembic_version SET version_num = :r"), {"r": revision}
                )
        finally:
            await engine.dispose()

    asyncio.run(run())


def test_a_backup_is_a_working_copy_of_the_database(cli: Cli, settings: Settings, tmp_path):
    if not settings.database_url.startswith("sqlite"):
        message = cli.fails("db", "backup", str(tmp_path / "copy.db"))
        assert "back up PostgreSQL with pg_dump" in message
        assert not (tmp_path / "copy.db").exists()
        return
    kept = cli.create(SERVICE)
    copy = tmp_path / "copy.db"
    out = cli.ok("db", "backup", str(copy))
    assert out.startswith(f"backed up to {copy} (")
    assert f"at {HEAD})" in out
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600
    assert not copy.with_name("copy.db-wal").exists()  # one file, nothing beside it
    cli.create({**SERVICE, "client_name": "after the backup"})
    # The copy, served in place of the database, holds what was there when it was taken.
    restored = Cli(
        {**cli.env, **settings_env(settings), "APPWARD_DATABASE_URL": f"sqlite+aiosqlite:///{copy}"}
    )
    assert [c["client_id"] for c in restored.clients()] == [kept["client_id"]]
    assert restored.run("db", "status").exit_code == 0
    with sqlite3.connect(copy) as check:
        assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_a_backup_never_overwrites_a_file(cli: Cli, settings: Settings, tmp_path) -> None:
    if not settings.database_url.startswith("sqlite"):
        pytest.skip("the SQLite backup")
    older = tmp_path / "older.db"
    older.write_bytes(b"an older backup")
    assert "exists: back up to a new file" in cli.fails("db", "backup", str(older))
    assert older.read_bytes() == b"an older backup"
    missing = tmp_path / "no-such-dir" / "copy.db"
    assert "cannot create" in cli.fails("db", "backup", str(missing))
    assert not os.path.exists(missing.parent)


def _appward_like_db(path, revision: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE alembic_version (version_num TEXT)")
        db.execute("INSERT INTO alembic_version VALUES (?)", (revision,))


@pytest.mark.parametrize("directory", ["a%41b", "x#y"])
def test_a_backup_copies_the_configured_database_whatever_its_path(tmp_path, directory):
    """The security review's F1: the path went into a file: URI unquoted, so "a%41b" was
    read as "aAb" and another database was copied, reported as a success."""
    real = tmp_path / directory / "appward.db"
    _appward_like_db(real, "REAL")
    _appward_like_db(tmp_path / "aAb" / "appward.db", "DECOY")
    done = back_up_sqlite(f"sqlite+aiosqlite:///{real}", tmp_path / "copy.db")
    assert done.revisions == ("REAL",)
    assert stat.S_IMODE((tmp_path / "copy.db").stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        {directory, "aAb", "copy.db"}
    )  # no scratch directory left


def test_a_backup_never_writes_through_a_symlink(tmp_path):
    """F2: the name is linked in at the end; a symlink placed under it is refused, and the
    file it points to is untouched."""
    _appward_like_db(tmp_path / "db" / "appward.db", "REAL")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_bytes(b"theirs")
    (tmp_path / "copy.db").symlink_to(elsewhere)
    with pytest.raises(InvalidInput):
        back_up_sqlite(
            f"sqlite+aiosqlite:///{tmp_path / 'db' / 'appward.db'}", tmp_path / "copy.db"
        )
    assert elsewhere.read_bytes() == b"theirs"
