"""Whether this process can serve requests now: what /readyz reports to a load balancer.

Ready means the database answers within the timeout, its schema is at the revision this
code was written for (Alembic's head: a server started before `appward db upgrade`, or
after a downgrade, is not ready) or at one this code does not know, which a newer release
made (each migration keeps the release before it working, so the instances of that
release serve on during a rolling upgrade: docs/deployment.md, Upgrades), and Redis
answers when it is configured. Each check
says what failed in a few fixed words: the answer is public, so it names no host,
address or error text.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from functools import cache

import redis.asyncio as aioredis
from alembic.script import ScriptDirectory
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from appward.db import DatabaseUnavailable
from appward.migrations import alembic_config

OK = "ok"
UNREACHABLE = "unreachable"
NOT_CHECKED = "not checked: the database is unreachable"
NOT_MIGRATED = "no schema: run `appward db upgrade`"
# Ready all the same: a newer release migrated the database (a rolling upgrade), and each
# migration keeps the release before it working. Said apart from OK, so that an instance
# left behind shows in /readyz as well as in the log.
AHEAD = "ahead: migrated by a newer release; replace this instance with it"
PASSING = frozenset({OK, AHEAD})
log = logging.getLogger("appward.readiness")


@dataclass(frozen=True, slots=True)
class Readiness:
    """Each check's outcome: OK, or what failed."""

    checks: dict[str, str]

    @property
    def ready(self) -> bool:
        return all(outcome in PASSING for outcome in self.checks.values())


@cache
def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config(""))


@cache
def expected_revisions() -> frozenset[str]:
    """Returns the head revisions of this code's migrations (read once per process)."""
    return frozenset(_scripts().get_heads())


@cache
def _known_revisions() -> frozenset[str]:
    return frozenset(script.revision for script in _scripts().walk_revisions())


def is_ahead(revisions: frozenset[str]) -> bool:
    """Whether the database is at revisions none of which this code knows: migrated by a
    newer release (not behind, nor without a schema)."""
    return bool(revisions) and revisions.isdisjoint(_known_revisions())


async def readiness(engine: AsyncEngine, redis: aioredis.Redis | None, *, wait: float) -> Readiness:
    """Returns the outcome of every check, each given at most ``wait`` seconds; the
    checks run at once, so the whole takes about that long at worst."""
    if redis is None:
        database, migrations = await _database_checks(engine, wait)
        return Readiness({"database": database, "migrations": migrations})
    (database, migrations), redis_outcome = await asyncio.gather(
        _database_checks(engine, wait), _redis_check(redis, wait)
    )
    return Readiness({"database": database, "migrations": migrations, "redis": redis_outcome})


# How long an answer of /readyz is reused: a load balancer asks every few seconds, and
# anyone may ask (it needs no credential), so a flood of asks costs one database query
# and one PING per this many seconds, never one each.
READINESS_MAX_AGE = 1.0


class ReadinessProbe:
    """readiness(), reused for READINESS_MAX_AGE and asked once however many callers wait
    at the same moment."""

    def __init__(self, max_age: float = READINESS_MAX_AGE) -> None:
        self.max_age = max_age
        self._last: tuple[float, Readiness] | None = None
        self._running: asyncio.Task[Readiness] | None = None

    async def check(
        self, engine: AsyncEngine, redis: aioredis.Redis | None, *, wait: float
    ) -> Readiness:
        loop = asyncio.get_running_loop()
        if self._last is not None and loop.time() - self._last[0] < self.max_age:
            return self._last[1]
        if self._running is None:
            # A task of its own: a caller cancelled while it runs (a client gone, a
            # shutdown) must not cancel it for the others waiting on it.
            self._running = asyncio.ensure_future(readiness(engine, redis, wait=wait))
            self._running.add_done_callback(self._remember)
        return await asyncio.shield(self._running)

    def _remember(self, done: asyncio.Future[Readiness]) -> None:
        self._running = None
        if not done.cancelled() and done.exception() is None:
            self._last = (asyncio.get_running_loop().time(), done.result())


async def schema_revisions(engine: AsyncEngine) -> frozenset[str]:
    """Returns the revisions the database's schema is at: none without Alembic's table.
    Raises DatabaseUnavailable."""
    async with engine.connect() as connection:
        try:
            rows = await connection.execute(text("SELECT version_num FROM alembic_version"))
        except DatabaseUnavailable:
            raise
        except SQLAlchemyError:
            return frozenset()
        return frozenset(str(row[0]) for row in rows)


async def _database_checks(engine: AsyncEngine, wait: float) -> tuple[str, str]:
    """Returns the outcomes of "database" and "migrations": one statement serves both."""
    try:
        async with asyncio.timeout(wait):
            revisions = await schema_revisions(engine)
    except (DatabaseUnavailable, TimeoutError):
        return UNREACHABLE, NOT_CHECKED
    if not revisions:
        return OK, NOT_MIGRATED  # it answered: without Alembic's table
    expected = expected_revisions()
    if revisions == expected:
        return OK, OK
    if is_ahead(revisions):
        _warn_ahead(revisions)
        return OK, AHEAD
    return OK, f"the database is at {listed(revisions)}, this code expects {listed(expected)}"


def _warn_ahead(revisions: frozenset[str]) -> None:
    # Ready, and said in the log every time it is checked: an instance of an older release
    # left in the balancer for good, or a database stamped by something else, must not
    # pass unnoticed.
    log.warning(
        "the database is at %s, which this code does not know (it expects %s): serving on "
        "it as the release before a migration; replace this instance with the newer release",
        listed(revisions),
        listed(expected_revisions()),
    )


async def _redis_check(redis: aioredis.Redis, wait: float) -> str:
    try:
        async with asyncio.timeout(wait):
            await redis.ping()  # type: ignore[misc]
    except (RedisError, OSError):  # TimeoutError included
        return UNREACHABLE
    return OK


def listed(revisions: frozenset[str]) -> str:
    """Revisions as the checks and `appward db` name them."""
    return ", ".join(sorted(revisions)) or "no revision"
