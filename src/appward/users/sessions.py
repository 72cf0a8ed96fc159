"""Server-side sessions: a signed-in browser holds only a random session id; the server
keeps the record (whose account, since when, last seen, when it ends) under the id's
SHA-256, so ending a session on the server ends it, whatever the browser still holds.

Two stores keep the records, behind one Protocol with the same behaviour: the database
(the default, in the request's transaction) and Redis (when APPWARD_REDIS_URL is set,
shared by every worker and host). Every expiry is decided here, by the injected clock;
a store's own expiry (Redis's TTL) only collects what is long dead.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, TypeGuard

import redis.asyncio as aioredis
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from appward.clock import Clock
from appward.errors import TemporarilyUnavailable
from appward.hashing import token_hash
from appward.users.models import UserSession

log = logging.getLogger("appward.sessions")

# 32 random bytes, URL-safe base64 without padding: what a session id always looks like.
SESSION_ID = re.compile(r"[A-Za-z0-9_-]{43}")
# last_seen_at is written at most this often (seconds) per session: a page view must not
# cost a write each time. An idle timeout can so end a session up to this much early.
LAST_SEEN_RESOLUTION = 60


def new_session_id() -> str:
    """Returns a fresh random session id (256 bits)."""
    return secrets.token_urlsafe(32)


def is_session_id(value: str | None) -> TypeGuard[str]:
    """Returns whether ``value`` has the shape of a session id (anything else is not
    looked up at all)."""
    return value is not None and SESSION_ID.fullmatch(value) is not None


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """What the server knows of one session. ``subject`` is the account's public id."""

    subject: str
    created_at: datetime
    last_seen_at: datetime
    auth_time: datetime  # when the user last typed their password into this session
    expires_at: datetime  # the absolute end (APPWARD_SESSION_TTL after the sign-in)
    fresh_login_required: bool = False  # prompt=login: nothing issued until a new sign-in


class SessionStore(Protocol):
    """Where session records live, keyed by ``token_hash(session id)``."""

    async def add(self, key: str, record: SessionRecord, now: datetime) -> None:
        """Stores a new session (and may forget sessions that ended before ``now``)."""

    async def get(self, key: str) -> SessionRecord | None:
        """Returns the record stored under ``key``, or None."""

    async def replace(self, key: str, record: SessionRecord) -> None:
        """Overwrites the record of a session that exists (nothing if it does not)."""

    async def remove(self, key: str) -> None:
        """Forgets one session (nothing if it does not exist)."""

    async def remove_all(self, subject: str) -> int:
        """Forgets every session of the account; returns how many there were."""

    async def count(self, subject: str, now: datetime) -> int:
        """Returns how many sessions of the account have not reached their absolute end."""


class DatabaseSessionStore:
    """Sessions in the ``user_sessions`` table, in the unit of work's transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, key: str, record: SessionRecord, now: datetime) -> None:
        # Sign-ins are throttled, so this sweep runs a bounded number of times; it keeps
        # the table at the sessions that can still be used.
        await self._session.execute(delete(UserSession).where(UserSession.expires_at <= now))
        self._session.add(UserSession(id_hash=key, **dataclasses.asdict(record)))
        await self._session.flush()

    async def get(self, key: str) -> SessionRecord | None:
        row = await self._session.get(UserSession, key)
        return _record_of(row) if row is not None else None

    async def replace(self, key: str, record: SessionRecord) -> None:
        row = await self._session.get(UserSession, key)
        if row is None:
            return
        for name, value in dataclasses.asdict(record).items():
            setattr(row, name, value)
        await self._session.flush()

    async def remove(self, key: str) -> None:
        await self._session.execute(delete(UserSession).where(UserSession.id_hash == key))

    async def remove_all(self, subject: str) -> int:
        result = await self._session.execute(
            delete(UserSession).where(UserSession.subject == subject)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def count(self, subject: str, now: datetime) -> int:
        rows = await self._session.scalars(
            select(UserSession.id_hash).where(
                UserSession.subject == subject, UserSession.expires_at > now
            )
        )
        return len(list(rows))


def _record_of(row: UserSession) -> SessionRecord:
    return SessionRecord(
        subject=row.subject,
        created_at=row.created_at,
        last_seen_at=row.last_seen_at,
        auth_time=row.auth_time,
        expires_at=row.expires_at,
        fresh_login_required=row.fresh_login_required,
    )


class RedisSessionStore:
    """Sessions in Redis, shared by every process: one key per session (JSON, expiring
    at its absolute end) and one set per account of its sessions' keys, for "end every
    session". Redis out of reach is TemporarilyUnavailable: a sign-out that did not
    happen must not look as if it had. ``redis`` is the process's one client; whoever
    made it closes it."""

    def __init__(self, redis: aioredis.Redis, *, prefix: str = "appward:session") -> None:
        self._redis = redis
        self._prefix = prefix

    def _key(self, key: str) -> str:
        return f"{self._prefix}:id:{key}"

    def _index(self, subject: str) -> str:
        return f"{self._prefix}:of:{subject}"

    async def add(self, key: str, record: SessionRecord, now: datetime) -> None:
        ttl = _seconds_until(record.expires_at, now)
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.set(self._key(key), _encode(record), ex=ttl)
                pipe.sadd(self._index(record.subject), key)
                # Every session lives as long as the newest: the set outlives them all.
                pipe.expire(self._index(record.subject), ttl)
                await pipe.execute()
        except (aioredis.RedisError, OSError) as exc:
            raise _unavailable(exc) from None

    async def get(self, key: str) -> SessionRecord | None:
        try:
            raw = await self._redis.get(self._key(key))
        except (aioredis.RedisError, OSError) as exc:
            raise _unavailable(exc) from None
        return _decode(raw) if raw is not None else None

    async def replace(self, key: str, record: SessionRecord) -> None:
        try:
            # KEEPTTL and XX: the session keeps its end, and one removed meanwhile (a
            # sign-out in another tab) does not come back.
            await self._redis.set(self._key(key), _encode(record), keepttl=True, xx=True)
        except (aioredis.RedisError, OSError) as exc:
            raise _unavailable(exc) from None

    async def remove(self, key: str) -> None:
        try:
            raw = await self._redis.getdel(self._key(key))
            if raw is not None:
                await self._redis.srem(self._index(_decode(raw).subject), key)  # type: ignore[misc]
        except (aioredis.RedisError, OSError) as exc:
            raise _unavailable(exc) from None

    async def remove_all(self, subject: str) -> int:
        index = self._index(subject)
        try:
            keys = [_text(k) for k in await self._redis.smembers(index)]  # type: ignore[misc]
            removed = 0
            if keys:
                removed = int(await self._redis.delete(*(self._key(k) for k in keys)))
            await self._redis.delete(index)
        except (aioredis.RedisError, OSError) as exc:
            raise _unavailable(exc) from None
        return removed

    async def count(self, subject: str, now: datetime) -> int:
        try:
            keys = list(await self._redis.smembers(self._index(subject)))  # type: ignore[misc]
            if not keys:
                return 0
            values = await self._redis.mget([self._key(_text(k)) for k in keys])
        except (aioredis.RedisError, OSError) as exc:
            raise _unavailable(exc) from None
        return sum(1 for raw in values if raw is not None and _decode(raw).expires_at > now)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _seconds_until(moment: datetime, now: datetime) -> int:
    return max(1, int((moment - now).total_seconds()) + 1)


def _encode(record: SessionRecord) -> str:
    fields = dataclasses.asdict(record)
    return json.dumps(
        {k: v.isoformat() if isinstance(v, datetime) else v for k, v in fields.items()}
    )


def _decode(raw: bytes | str) -> SessionRecord:
    data = json.loads(raw)
    return SessionRecord(
        subject=data["subject"],
        created_at=datetime.fromisoformat(data["created_at"]),
        last_seen_at=datetime.fromisoformat(data["last_seen_at"]),
        auth_time=datetime.fromisoformat(data["auth_time"]),
        expires_at=datetime.fromisoformat(data["expires_at"]),
        fresh_login_required=bool(data.get("fresh_login_required", False)),
    )


def _unavailable(exc: Exception) -> TemporarilyUnavailable:
    log.warning("session store unavailable: Redis (%s)", exc)
    return TemporarilyUnavailable(
        "sign-in is unavailable for a moment; try again", detail="session store: Redis"
    )


@dataclass(frozen=True, slots=True)
class ActiveSession:
    """A session that may be used now, and the id the browser presented for it."""

    session_id: str
    record: SessionRecord


@dataclass(frozen=True, slots=True)
class SessionService:
    """Starting, resuming and ending sessions. ``lifetime`` is the absolute one
    (APPWARD_SESSION_TTL); the idle timeout is the caller's, per check: the account pages
    and the console may each ask for their own."""

    store: SessionStore
    clock: Clock
    lifetime: int

    async def start(self, subject: str, *, replacing: str | None = None) -> ActiveSession:
        """Returns a new session for the account, under a new random id (never one the
        browser brought: session fixation); ``replacing``, the id the browser held, ends."""
        if is_session_id(replacing):
            await self.store.remove(token_hash(replacing))
        now = self.clock.now()
        record = SessionRecord(
            subject=subject,
            created_at=now,
            last_seen_at=now,
            auth_time=now,
            expires_at=now + timedelta(seconds=self.lifetime),
        )
        session_id = new_session_id()
        await self.store.add(token_hash(session_id), record, now)
        return ActiveSession(session_id, record)

    async def resume(self, session_id: str | None, *, idle_timeout: int) -> ActiveSession | None:
        """Returns the session of ``session_id`` if it may be used now: known, before its
        absolute end, and seen within ``idle_timeout`` seconds; None otherwise (and a
        session found past either limit is forgotten). Marks it seen."""
        if not is_session_id(session_id):
            return None
        key = token_hash(session_id)
        record = await self.store.get(key)
        if record is None:
            return None
        now = self.clock.now()
        idle = (now - record.last_seen_at).total_seconds()
        if now >= record.expires_at or idle > idle_timeout:
            await self.store.remove(key)
            return None
        if idle >= LAST_SEEN_RESOLUTION:
            record = dataclasses.replace(record, last_seen_at=now)
            await self.store.replace(key, record)
        return ActiveSession(session_id, record)

    async def require_fresh_login(self, active: ActiveSession) -> ActiveSession:
        """prompt=login: marks the session so nothing is issued from it until the user
        signs in again (which starts a new session)."""
        record = dataclasses.replace(active.record, fresh_login_required=True)
        await self.store.replace(token_hash(active.session_id), record)
        return ActiveSession(active.session_id, record)

    async def end(self, session_id: str | None) -> None:
        """Ends one session on the server: its id is worth nothing from now on."""
        if is_session_id(session_id):
            await self.store.remove(token_hash(session_id))

    async def end_all(self, subject: str) -> int:
        """Ends every session of the account; returns how many there were."""
        return await self.store.remove_all(subject)

    async def count(self, subject: str) -> int:
        """Returns how many sessions of the account have not reached their absolute end."""
        return await self.store.count(subject, self.clock.now())
