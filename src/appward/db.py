"""Storage plumbing: the declarative base, column types and the engine/session factory."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import weakref
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, MetaData, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Dialect, ExceptionContext, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.pool import AsyncAdaptedQueuePool
from sqlalchemy.types import TypeDecorator
from sqlalchemy.util import await_only
from sqlalchemy.util.concurrency import in_greenlet

from appward.errors import InvalidRequest
from appward.text import storable

# Stable constraint names so Alembic diffs are the same on every database.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always stored and returned in UTC.

    SQLite keeps no timezone, so without this a value read back would be naive and
    compare wrongly with the clock's aware datetimes.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


class DatabaseUnavailable(Exception):
    """The database cannot be reached, or did not answer within the timeout: refused,
    dropped or hung connections, and no pooled connection free in time. Raised by the
    engine in place of the driver's error (the cause is chained), so that whoever serves
    a request answers 503 rather than 500 (web/pipeline.py). Its text names the cause's
    type and first line, never a statement or a bound value."""

    def __init__(self, cause: BaseException) -> None:
        first = str(cause).strip().splitlines()
        super().__init__(f"{type(cause).__name__}: {first[0]}" if first else type(cause).__name__)


def create_engine(
    url: str, *, schema: str | None = None, echo: bool = False, timeout: float | None = None
) -> AsyncEngine:
    """Returns an engine for the URL: SQLite with WAL and foreign keys, or PostgreSQL.

    ``schema`` puts PostgreSQL's search_path on one schema (tests and shared clusters).
    ``timeout`` (seconds) bounds each wait on the database: on PostgreSQL a connection,
    each statement, a free connection in the pool; on SQLite the wait for the write lock
    (WRITE_LOCK_TIMEOUT unset). Past it, DatabaseUnavailable. Unset, the driver's
    defaults hold (a migration or a bulk import may run for long). A connection that failed or timed
    out is dropped with every other of the pool (they are as likely dead); the next use
    connects afresh, which is how a server recovers when the database returns.
    """
    connect_args: dict[str, Any] = {}
    options: dict[str, Any] = {}
    if is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:":
            _create_private_database_file(Path(database))
        # sqlite3's busy timeout: how long a writer waits for another process's lock.
        connect_args["timeout"] = timeout if timeout is not None else WRITE_LOCK_TIMEOUT
    else:
        if schema:
            connect_args["server_settings"] = {"search_path": schema}
        options["poolclass"] = _TimelyPool
        if timeout is not None:
            connect_args["timeout"] = timeout  # asyncpg: connecting, startup included
            connect_args["command_timeout"] = timeout  # asyncpg: each statement
            options["pool_timeout"] = timeout
    # hide_parameters: bound values (hashes, tokens) never reach logs or exception text.
    engine = create_async_engine(
        url, echo=echo, connect_args=connect_args, hide_parameters=True, **options
    )
    if is_sqlite(url):
        event.listen(engine.sync_engine, "connect", _configure_sqlite_connection)
        event.listen(engine.sync_engine, "begin", _defer_sqlite_begin)
        event.listen(engine.sync_engine, "before_cursor_execute", _begin_sqlite_write)
        event.listen(engine.sync_engine, "commit", _commit_sqlite_write)
        event.listen(engine.sync_engine, "rollback", _roll_back_sqlite_write)
        event.listen(engine.sync_engine.pool, "checkin", _release_on_checkin)
        event.listen(engine.sync_engine.pool, "invalidate", _release_on_invalidate)
        event.listen(engine.sync_engine, "handle_error", _unavailable_when_locked)
        _write_locks[engine.sync_engine] = _WriteLocks(
            timeout if timeout is not None else WRITE_LOCK_TIMEOUT
        )
    else:
        event.listen(engine.sync_engine, "do_connect", _connect_or_unavailable)
        event.listen(engine.sync_engine, "handle_error", _unavailable_on_lost_connection)
    event.listen(engine.sync_engine, "before_cursor_execute", _refuse_unstorable_text)
    return engine


class _TimelyPool(AsyncAdaptedQueuePool):
    """The async pool, whose wait for a free connection past ``pool_timeout`` is
    DatabaseUnavailable like the other waits on the database."""

    def _do_get(self) -> Any:
        try:
            return super()._do_get()
        except sa_exc.TimeoutError as exc:
            raise DatabaseUnavailable(exc) from exc


def _connect_or_unavailable(dialect: Dialect, _record: Any, cargs: Any, cparams: Any) -> Any:
    """Connects as the dialect would. asyncpg's refusals and timeouts while connecting
    come out as plain OSError and TimeoutError, which SQLAlchemy passes through unwrapped
    (the driver's own errors reach _unavailable_on_lost_connection)."""
    try:
        return dialect.connect(*cargs, **cparams)
    except (OSError, TimeoutError) as exc:
        raise DatabaseUnavailable(exc) from exc


def _unavailable_on_lost_connection(context: ExceptionContext) -> BaseException | None:
    """A statement's connection was lost, would not open, or timed out (asyncpg's
    command_timeout is a plain TimeoutError): DatabaseUnavailable, and the connection is
    marked a disconnect so the pool drops it (after a timeout its state is unknown)
    rather than handing it out again. Any other error (a constraint, a lock) is the
    statement's own and passes unchanged."""
    original = context.original_exception
    if not (
        context.is_disconnect
        or context.connection is None  # the error came while connecting
        or isinstance(original, OSError | TimeoutError)
    ):
        return None
    context.is_disconnect = True
    return DatabaseUnavailable(original)


def _unavailable_when_locked(context: ExceptionContext) -> BaseException | None:
    """SQLite's "database is locked": another process held the write lock past the busy
    timeout. The database is there but cannot take this write now: 503, as for a
    PostgreSQL that does not answer in time, not a 500."""
    original = context.original_exception
    return DatabaseUnavailable(original) if _is_locked(original) else None


def _is_locked(exc: BaseException) -> bool:
    # sqlite3's, or the same error as SQLAlchemy's aiosqlite adapter re-raises it.
    return (
        isinstance(exc, sqlite3.OperationalError) or type(exc).__name__ == "OperationalError"
    ) and "database is locked" in str(exc)


def _create_private_database_file(path: Path) -> None:
    """Creates the SQLite file (an empty file is an empty database) readable by its owner
    only, in a directory of mode 0700 if that is new: SQLite would make it 0644, and gives
    its -wal and -shm files the database file's mode."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def _refuse_unstorable_text(
    _conn: Any, _cursor: Any, _statement: str, parameters: Any, _context: Any, _many: bool
) -> None:
    """The last line of defence: text a database cannot hold (NUL, lone surrogates) is a
    caller's error, not a 500, whichever input it came through."""
    if _holds_unstorable_text(parameters):
        raise InvalidRequest("the request holds characters that cannot be stored (NUL?)")


def _holds_unstorable_text(value: Any) -> bool:
    if isinstance(value, str):
        return not storable(value)
    if isinstance(value, dict):
        return any(_holds_unstorable_text(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_holds_unstorable_text(v) for v in value)
    return False


# SQLite transactions, the way the code's row locks need them. Left to itself, Python's
# sqlite3 runs reads outside any transaction and opens a deferred one at the first write,
# and SQLite ignores FOR UPDATE: a "locked" read of a client could be stale by the time
# its secret is written (a secret added while the client is deleted outlived the delete).
# So the driver's own transaction handling is off (isolation_level=None) and a write
# transaction starts with BEGIN IMMEDIATE, which takes SQLite's one write lock up front,
# at the first statement that writes or locks (SELECT ... FOR UPDATE): from there to the
# commit every read is current and no other writer can come in between, as a row lock
# guarantees on PostgreSQL. Reads before that take no lock, as on PostgreSQL (READ
# COMMITTED), so read-only requests are not serialised behind writers. Other writers wait
# for the lock (busy_timeout) instead of failing.
_WRITE_PENDING = "appward_sqlite_write_pending"


def _defer_sqlite_begin(conn: Any) -> None:
    """SQLAlchemy began a transaction: SQLite's starts with its first write or lock."""
    conn.info[_WRITE_PENDING] = True


#
# Writers of one process queue for that lock in asyncio first (_WriteLocks): left to
# SQLite, a waiting writer polls in its busy handler, sleeping 1, 2, 5 ... 100 ms between
# tries, and under a burst of writes (a jti per client assertion) some waited seconds.
# The process's lock is held from BEGIN IMMEDIATE until the COMMIT or ROLLBACK is done;
# other processes on the host still meet at SQLite's lock.
_HOLDS_WRITE_LOCK = "appward_sqlite_write_lock"
WRITE_LOCK_TIMEOUT = 30.0  # seconds, when the engine is given no timeout


class _WriteLocks:
    """One asyncio lock per event loop (an engine may outlive a loop, as in tests)."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )

    def current(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        lock = self._locks.get(loop)
        if lock is None:
            lock = self._locks[loop] = asyncio.Lock()
        return lock


_write_locks: weakref.WeakKeyDictionary[Any, _WriteLocks] = weakref.WeakKeyDictionary()


def _begin_sqlite_write(
    conn: Any, cursor: Any, statement: str, _parameters: Any, context: Any, _many: bool
) -> None:
    if not conn.info.get(_WRITE_PENDING) or not writes_or_locks(statement, context):
        return
    conn.info[_WRITE_PENDING] = False
    lock = _acquire_write_lock(conn.engine) if in_greenlet() else None
    try:
        cursor.execute("BEGIN IMMEDIATE")
    except BaseException as exc:
        if lock is not None:
            lock.release()
        if _is_locked(exc):  # run by this hook, so SQLAlchemy's handle_error never sees it
            raise DatabaseUnavailable(exc) from exc
        raise
    if lock is not None:
        conn.info[_HOLDS_WRITE_LOCK] = lock


def _acquire_write_lock(engine: Any) -> asyncio.Lock:
    locks = _write_locks.get(engine)
    if locks is None:
        locks = _write_locks[engine] = _WriteLocks(WRITE_LOCK_TIMEOUT)
    lock = locks.current()
    try:
        await_only(asyncio.wait_for(lock.acquire(), locks.timeout))
    except TimeoutError as exc:
        # As SQLite's own "database is locked" after its busy timeout: 503, not 500.
        raise DatabaseUnavailable(
            TimeoutError("the SQLite database is locked by another writer")
        ) from exc
    return lock


def _commit_sqlite_write(conn: Any) -> None:
    # SQLAlchemy commits after this event; committing here first lets the next writer in
    # only once the COMMIT is done (the second commit finds no transaction: a no-op).
    _end_write(conn, lambda dbapi: dbapi.commit())


def _roll_back_sqlite_write(conn: Any) -> None:
    _end_write(conn, lambda dbapi: dbapi.rollback())


def _end_write(conn: Any, finish: Any) -> None:
    lock = conn.info.pop(_HOLDS_WRITE_LOCK, None)
    if lock is None:
        return
    try:
        finish(conn.connection.dbapi_connection)
    finally:
        lock.release()


def _release_on_checkin(_dbapi_connection: Any, record: Any) -> None:
    # A connection back in the pool holds no transaction: never keep its lock.
    lock = record.info.pop(_HOLDS_WRITE_LOCK, None) if record is not None else None
    if lock is not None:
        lock.release()


def _release_on_invalidate(_dbapi_connection: Any, record: Any, _exception: Any) -> None:
    _release_on_checkin(_dbapi_connection, record)


def writes_or_locks(statement: str, context: Any) -> bool:
    if statement.lstrip()[:6].upper() not in ("SELECT", "PRAGMA"):
        return True  # INSERT, UPDATE, DELETE, DDL, SAVEPOINT, WITH ...: all of them write
    compiled = getattr(context, "compiled", None)
    return getattr(getattr(compiled, "statement", None), "_for_update_arg", None) is not None


def _configure_sqlite_connection(dbapi_connection: Any, _record: Any) -> None:
    # No implicit BEGIN from the driver: _begin_sqlite_write starts transactions.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
