"""Shared fixtures: a migrated database per test on SQLite and on PostgreSQL, the app, time."""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text

import appward.models  # noqa: F401 (every table on Base.metadata)
from appward.clock import FrozenClock
from appward.config import Settings
from appward.db import Base
from appward.migrations import upgrade

POSTGRES_URL = os.environ.get("APPWARD_TEST_POSTGRES_URL")
REQUIRE_POSTGRES = os.environ.get("APPWARD_REQUIRE_POSTGRES") == "1"
# Tables emptied between PostgreSQL tests: every table of the models (appward.models
# imports each table module, as Alembic needs it to); scopes keeps the built-in scope.
# Children before parents, so that a plain DELETE never trips a foreign key.
KEPT_TABLES = {"scopes"}
TABLES = tuple(t.name for t in reversed(Base.metadata.sorted_tables) if t.name not in KEPT_TABLES)

# Cheap argon2 for tests: the format and the code path are the same, only the cost differs.
FAST_ARGON2 = {"argon2_time_cost": 1, "argon2_memory_cost_kib": 64, "argon2_parallelism": 1}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass(frozen=True)
class Database:
    kind: str
    url: str
    schema: str | None


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "appward.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_schema() -> Iterator[str]:
    if not POSTGRES_URL:
        if REQUIRE_POSTGRES:
            pytest.fail("APPWARD_REQUIRE_POSTGRES=1 but APPWARD_TEST_POSTGRES_URL is unset")
        pytest.skip("PostgreSQL tests need APPWARD_TEST_POSTGRES_URL (see README)")
    schema = f"appward_test_{os.getpid()}_{secrets.token_hex(3)}"
    try:
        _pg_execute(f"CREATE SCHEMA {schema}")
    except Exception as exc:  # noqa: BLE001 (any failure to reach the server)
        if REQUIRE_POSTGRES:
            pytest.fail(f"PostgreSQL is required but unreachable: {exc}")
        pytest.skip(f"PostgreSQL unreachable: {exc}")
    upgrade(POSTGRES_URL, schema)
    _check_every_table_is_cleaned(schema)
    yield schema
    _pg_execute(f"DROP SCHEMA {schema} CASCADE")


def _check_every_table_is_cleaned(schema: str) -> None:
    """Fails when the migrations create a table the models do not know, which TABLES would
    then leave full between tests."""
    import asyncio

    from appward.db import create_engine

    async def migrated() -> set[str]:
        assert POSTGRES_URL
        engine = create_engine(POSTGRES_URL, schema=schema)
        try:
            async with engine.connect() as conn:
                rows = await conn.execute(
                    text(
                        "SELECT table_name FROM information_schema.tables WHERE table_schema = :s"
                    ),
                    {"s": schema},
                )
                return {row[0] for row in rows}
        finally:
            await engine.dispose()

    unknown = asyncio.run(migrated()) - set(TABLES) - KEPT_TABLES - {"alembic_version"}
    assert not unknown, f"tables no model declares, never emptied between tests: {unknown}"


class SchemaCleaner:
    """Empties a schema between tests over one connection kept for the session, on an
    event loop of its own: a new engine and connection per test cost more than the
    cleaning itself."""

    def __init__(self, schema: str) -> None:
        import asyncio

        import asyncpg
        from sqlalchemy.engine import make_url

        assert POSTGRES_URL
        url = make_url(POSTGRES_URL).set(drivername="postgresql")
        self._statement = _cleaning_statement(schema)
        self._loop = asyncio.new_event_loop()
        self._connection = self._loop.run_until_complete(
            asyncpg.connect(
                url.render_as_string(hide_password=False),
                server_settings={"search_path": schema},
            )
        )

    def clean(self) -> None:
        self._loop.run_until_complete(self._connection.execute(self._statement))

    def close(self) -> None:
        self._loop.run_until_complete(self._connection.close())
        self._loop.close()


@pytest.fixture(scope="session")
def postgres_cleaner(postgres_schema: str) -> Iterator[SchemaCleaner]:
    cleaner = SchemaCleaner(postgres_schema)
    yield cleaner
    cleaner.close()


def _cleaning_statement(schema: str) -> str:
    """One statement that empties TABLES and restarts their sequences, as TRUNCATE ...
    RESTART IDENTITY did, without TRUNCATE's cost: it makes new files for every table and
    index (about 20 ms a table) where deleting the few rows a test wrote takes microseconds.
    One DO block, so the whole cleaning is a single round trip."""
    import asyncio

    from appward.db import create_engine

    async def owned_sequences() -> list[tuple[str, int]]:
        assert POSTGRES_URL
        engine = create_engine(POSTGRES_URL, schema=schema)
        try:
            async with engine.connect() as conn:
                rows = await conn.execute(
                    text(
                        "SELECT s.relname, q.seqstart FROM pg_class s"
                        " JOIN pg_sequence q ON q.seqrelid = s.oid"
                        " JOIN pg_namespace n ON n.oid = s.relnamespace"
                        " JOIN pg_depend d ON d.objid = s.oid AND d.deptype IN ('a', 'i')"
                        " JOIN pg_class t ON t.oid = d.refobjid"
                        " WHERE n.nspname = :s AND t.relname = ANY(:t)"
                    ),
                    {"s": schema, "t": list(TABLES)},
                )
                return sorted((row[0], row[1]) for row in rows)
        finally:
            await engine.dispose()

    deletes = [f"DELETE FROM {table};" for table in TABLES]
    deletes.append("DELETE FROM scopes WHERE name <> 'appward:admin';")
    # setval, not ALTER SEQUENCE ... RESTART, which gives the sequence a new file too.
    restarts = [
        f"PERFORM setval('{schema}.{name}', {start}, false);"
        for name, start in asyncio.run(owned_sequences())
    ]
    return "DO $$BEGIN " + " ".join(deletes + restarts) + " END$$"


def _pg_execute(*statements: str, schema: str | None = None) -> None:
    import asyncio

    from appward.db import create_engine

    async def run() -> None:
        assert POSTGRES_URL
        engine = create_engine(POSTGRES_URL, schema=schema)
        try:
            async with engine.begin() as conn:
                for statement in statements:
                    await conn.execute(text(statement))
        finally:
            await engine.dispose()

    asyncio.run(run())


@pytest.fixture(params=["sqlite", "postgresql"])
def database(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path
) -> Iterator[Database]:
    """A freshly migrated, empty database: SQLite file copy, or a cleaned PostgreSQL schema."""
    if request.param == "sqlite":
        path = tmp_path / "appward.db"
        shutil.copy(sqlite_template, path)
        yield Database("sqlite", f"sqlite+aiosqlite:///{path}", None)
        return
    schema = request.getfixturevalue("postgres_schema")
    cleaner: SchemaCleaner = request.getfixturevalue("postgres_cleaner")
    assert POSTGRES_URL
    yield Database("postgresql", POSTGRES_URL, schema)
    cleaner.clean()


@pytest.fixture
def settings(database: Database, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database.url,
        database_schema=database.schema,
        data_dir=tmp_path / "var",
        key_encryption_key=Fernet.generate_key().decode(),
        **FAST_ARGON2,  # type: ignore[arg-type]
    )


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime(2026, 6, 1, 12, 0, tzinfo=UTC))


def settings_env(settings: Settings) -> dict[str, str]:
    """The APPWARD_* environment that reproduces ``settings`` in a CLI or server process."""
    env = {
        "APPWARD_DATABASE_URL": settings.database_url,
        "APPWARD_DATA_DIR": str(settings.data_dir),
        "APPWARD_KEY_ENCRYPTION_KEY": settings.key_encryption_key or "",
        "APPWARD_ARGON2_TIME_COST": str(settings.argon2_time_cost),
        "APPWARD_ARGON2_MEMORY_COST_KIB": str(settings.argon2_memory_cost_kib),
        "APPWARD_ARGON2_PARALLELISM": str(settings.argon2_parallelism),
    }
    if settings.database_schema:
        env["APPWARD_DATABASE_SCHEMA"] = settings.database_schema
    return env


@pytest.fixture
def fresh_fallback_log(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Redis fallbacks' log state (fallback.py logs each at most once per interval)
    as a new process has it: a fallback an earlier test of the same worker took (an
    outage test) would otherwise keep a line from being logged, or add "(N more since
    the last line)" to it."""
    from appward import fallback

    monkeypatch.setattr(fallback, "_last_logged", {})
    monkeypatch.setattr(fallback, "_unlogged", dict.fromkeys(fallback.Fallback, 0))
