"""Where the jti of every accepted client assertion is remembered until it would have
expired, so each assertion is accepted once (RFC 7523 §3 item 7): the database in the
embedded default, Redis when configured, so every process and host shares it."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from types import ModuleType

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from sqlalchemy import Executable, bindparam, delete, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from appward.auth.models import UsedJti
from appward.clock import Clock
from appward.fallback import Fallback, fallback_used

# About one insert in PRUNE_ONE_IN also deletes up to PRUNE_BATCH expired rows: the table
# stays small without a scheduler, and no request pays for a large delete.
PRUNE_ONE_IN = 100
PRUNE_BATCH = 500
REDIS_PREFIX = "appward:jti"


def jti_hash(jti: str) -> str:
    """Returns the stored form of a jti: its SHA-256, a fixed width whatever the client
    chose (and no client-chosen text in a key or a row)."""
    return hashlib.sha256(jti.encode()).hexdigest()


class DatabaseJtiStore:
    """The used jtis as ``used_jtis`` rows on the request's own session. One statement
    records a jti: an insert that, on the primary key (client_id, sha256 of the jti),
    takes over only an expired row, and returns a row only when it recorded the jti. It
    is atomic on SQLite and PostgreSQL alike (a concurrent insert of the same jti waits
    for the first, then finds its row unexpired), needs no SAVEPOINT, and a replay
    changes nothing."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def now(self) -> datetime:
        return self._clock.now()

    async def use_once(
        self, session: AsyncSession, client_id: str, jti: str, expires_at: datetime
    ) -> bool:
        """Records ``jti`` for ``client_id`` until ``expires_at``; returns False when it
        is recorded already and has not expired (a replay)."""
        now = self._clock.now()
        connection = await session.connection()  # Core: the ORM would take the dict for a row
        recorded = await connection.scalar(
            _RECORDING[connection.dialect.name],
            {
                "client_id": client_id,
                "jti_hash": jti_hash(jti),
                "expires_at": expires_at,
                "now": now,
            },
        )
        if recorded is None:
            return False
        if secrets.randbelow(PRUNE_ONE_IN) == 0:
            await prune_expired(session, now)
        if connection.dialect.name == "sqlite":
            # SQLite has one write lock for the whole database, taken at this insert and
            # held to the commit: committed here, it is held for the insert alone, not for
            # the rest of the token request (signing the token, the response), which had
            # every other assertion of every worker queue behind it. The jti is spent
            # whatever the request's outcome, as a single-use value should be.
            await session.commit()
        return True


def _recording_statement(dialect: ModuleType) -> Executable:
    # An expired row for the same jti no longer blocks (its assertion could not be
    # accepted anyway, so this one is a new one that happens to share it).
    statement = dialect.insert(UsedJti).values(
        client_id=bindparam("client_id"),
        jti_hash=bindparam("jti_hash"),
        expires_at=bindparam("expires_at"),
    )
    recording: Executable = statement.on_conflict_do_update(
        index_elements=[UsedJti.client_id, UsedJti.jti_hash],
        set_={"expires_at": statement.excluded.expires_at},
        where=UsedJti.expires_at <= bindparam("now"),
    ).returning(UsedJti.client_id)
    return recording


# Built once: SQLAlchemy compiles each of them once per engine and caches it.
_RECORDING = {
    "postgresql": _recording_statement(postgresql),
    "sqlite": _recording_statement(sqlite),
}


async def prune_expired(session: AsyncSession, now: datetime, limit: int = PRUNE_BATCH) -> int:
    """Deletes up to ``limit`` rows that expired before ``now``; returns how many."""
    expired = (
        await session.execute(
            select(UsedJti.client_id, UsedJti.jti_hash)
            .where(UsedJti.expires_at < now)
            .order_by(UsedJti.expires_at)
            .limit(limit)
        )
    ).all()
    if not expired:
        return 0
    await session.execute(
        delete(UsedJti).where(
            tuple_(UsedJti.client_id, UsedJti.jti_hash).in_([tuple(row) for row in expired]),
            UsedJti.expires_at < now,
        )
    )
    return len(expired)


class RedisJtiStore:
    """The used jtis as Redis keys ``appward:jti:<client_id>:<sha256>`` set with NX and
    an absolute expiry, shared by every process. When Redis cannot answer (down, or
    silent past APPWARD_REDIS_TIMEOUT), the check falls back to the database (noted by
    fallback.fallback_used): never accepted unchecked."""

    def __init__(
        self, redis: aioredis.Redis, fallback: DatabaseJtiStore, *, prefix: str = REDIS_PREFIX
    ) -> None:
        self._redis = redis
        self._fallback = fallback
        self._prefix = prefix
        # Until when jtis recorded in the database during an outage could still be
        # presented: meanwhile the database is asked too, so an assertion used while
        # Redis was down is not accepted again once Redis answers.
        self._database_too_until: datetime | None = None

    def key(self, client_id: str, jti: str) -> str:
        """Returns the Redis key that holds ``jti`` of ``client_id``."""
        return f"{self._prefix}:{client_id}:{jti_hash(jti)}"

    async def use_once(
        self, session: AsyncSession, client_id: str, jti: str, expires_at: datetime
    ) -> bool:
        """Records ``jti`` for ``client_id`` until ``expires_at``; returns False when it
        is recorded already (a replay)."""
        expires_ms = int(expires_at.timestamp() * 1000)
        try:
            created = await self._redis.set(
                self.key(client_id, jti), b"1", nx=True, pxat=expires_ms
            )
        except (RedisError, OSError) as exc:
            fallback_used(Fallback.JTI_REPLAY, exc)
            until = self._database_too_until
            if until is None or expires_at > until:
                self._database_too_until = expires_at
            return await self._fallback.use_once(session, client_id, jti, expires_at)
        if not created:
            return False
        until = self._database_too_until
        if until is not None:
            if self._fallback.now() < until:
                return await self._fallback.use_once(session, client_id, jti, expires_at)
            self._database_too_until = None
        return True
