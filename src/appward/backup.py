"""Backups of the embedded database (SQLite): a consistent copy taken while it serves.

SQLite's online backup API copies the database page by page under its own locking, so a
server may keep reading and writing meanwhile (WAL): the copy is the database as of one
moment, never a torn file, which copying ``appward.db`` with ``cp`` while ``-wal`` holds
recent commits is not. PostgreSQL is backed up with its own tools (``pg_dump``,
docs/deployment.md): nothing here re-implements them.

The copy holds what the database holds: argon2id hashes of client secrets, encrypted
signing keys and encrypted client_secret_jwt secrets, hashes of tokens. Its use to an
attacker is what the key-encryption key adds to it, so the key is kept apart from it.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from appward.db import is_sqlite
from appward.errors import InvalidInput


@dataclass(frozen=True, slots=True)
class Backup:
    path: Path
    size: int
    revisions: tuple[str, ...]


def sqlite_file(database_url: str) -> Path:
    """Returns the file of a SQLite database URL. Raises InvalidInput for another
    database, or an in-memory one."""
    if not is_sqlite(database_url):
        raise InvalidInput(
            "only the embedded SQLite database is backed up by appward; back up PostgreSQL "
            "with pg_dump (docs/deployment.md, Backups and restore)"
        )
    database = make_url(database_url).database
    if not database or database == ":memory:":
        raise InvalidInput("an in-memory SQLite database has nothing to back up")
    return Path(database)


def back_up_sqlite(database_url: str, target: Path) -> Backup:
    """Copies the SQLite database of ``database_url`` to ``target``, a new file with mode
    0600 (as the database itself). Raises InvalidInput when ``target`` exists or its
    directory does not, or when the source is no Appward database.

    The copy is made and checked in a private directory beside ``target`` and only then
    linked in under its name: the name never holds a partial or unchecked copy (a killed
    backup leaves nothing under it), and nobody else who can write to the directory can
    swap the file between its creation and the copy."""
    source = sqlite_file(database_url)
    if not source.is_file():
        raise InvalidInput(f"no database at {source}")
    if target.exists() or target.is_symlink():
        raise InvalidInput(f"{target} exists: back up to a new file")
    try:
        scratch = Path(tempfile.mkdtemp(prefix=".appward-backup-", dir=target.parent))
    except (FileNotFoundError, NotADirectoryError, PermissionError) as exc:
        raise InvalidInput(f"cannot create {target}: {exc.strerror}") from None
    try:
        copy = scratch / "copy.db"
        revisions = _copy(source, copy)
        copy.chmod(0o600)
        try:
            # A hard link: fails if the name exists, never follows a symlink placed there.
            os.link(copy, target)
        except FileExistsError:
            raise InvalidInput(f"{target} exists: back up to a new file") from None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return Backup(target, target.stat().st_size, revisions)


def _copy(source: Path, target: Path) -> tuple[str, ...]:
    # Read-only on the source: a backup never creates or changes the database it copies.
    # The path as a file: URI, so "%", "?" or "#" in it name no other file.
    try:
        src = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise InvalidInput(f"cannot open {source}: {exc}") from None
    with closing(src):
        try:
            rows = src.execute("SELECT version_num FROM alembic_version").fetchall()
        except sqlite3.DatabaseError:
            raise InvalidInput(f"{source} is not an Appward database") from None
        with closing(sqlite3.connect(target)) as dst:
            src.backup(dst)
            # The copy is one file: no -wal beside it to lose.
            dst.execute("PRAGMA journal_mode=DELETE")
            (check,) = dst.execute("PRAGMA quick_check").fetchone()
        if check != "ok":
            raise InvalidInput(f"the copy failed its integrity check: {check}")
    return tuple(str(revision) for (revision,) in rows)
