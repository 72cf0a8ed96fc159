"""The two jti replay stores, used directly on real databases and a real Redis: a jti is
accepted once until it expires, per client; an expired one no longer blocks; old rows
are pruned; Redis keys expire; when Redis is down the database answers."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import redis.asyncio as aioredis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from appward.auth import replay
from appward.auth.models import UsedJti
from appward.auth.replay import DatabaseJtiStore, RedisJtiStore, jti_hash, prune_expired
from appward.clock import FrozenClock
from appward.db import create_engine, create_sessionmaker
from appward.fallback import Fallback, fallback_counts
from tests.conftest import Database
from tests.functional.test_sessions import reachable_redis

pytestmark = pytest.mark.anyio

START = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
async def session(database: Database) -> AsyncIterator[AsyncSession]:
    engine = create_engine(database.url, schema=database.schema)
    try:
        async with create_sessionmaker(engine)() as opened:
            yield opened
            await opened.rollback()
            async with opened.begin():
                await opened.execute(UsedJti.__table__.delete())
    finally:
        await engine.dispose()


async def rows(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(UsedJti)) or 0)


async def test_database_store_accepts_each_jti_once(session):
    clock = FrozenClock(START)
    store = DatabaseJtiStore(clock)
    until = START + timedelta(minutes=5)
    assert await store.use_once(session, "client-a", "j1", until) is True
    assert await store.use_once(session, "client-a", "j1", until) is False
    # Per client: another client's jti of the same value is its own.
    assert await store.use_once(session, "client-b", "j1", until) is True
    assert await store.use_once(session, "client-a", "j2", until) is True
    # A refused replay rolled back only its own savepoint: the rest is still there.
    assert await rows(session) == 3
    await session.commit()
    stored = (await session.scalars(select(UsedJti.jti_hash))).all()
    assert jti_hash("j1") in stored
    assert "j1" not in stored  # only the hash is kept


async def test_database_store_expired_row_does_not_block(session):
    clock = FrozenClock(START)
    store = DatabaseJtiStore(clock)
    assert await store.use_once(session, "client-a", "j1", START + timedelta(seconds=30))
    await session.commit()
    clock.advance(29)
    assert await store.use_once(session, "client-a", "j1", START + timedelta(minutes=5)) is False
    clock.advance(2)
    assert await store.use_once(session, "client-a", "j1", START + timedelta(minutes=5)) is True
    await session.commit()
    assert await rows(session) == 1


async def test_database_store_prunes_expired_rows_bounded(session, monkeypatch):
    clock = FrozenClock(START)
    store = DatabaseJtiStore(clock)
    for n in range(7):
        assert await store.use_once(session, "c", f"old-{n}", START + timedelta(seconds=10))
    assert await store.use_once(session, "c", "live", START + timedelta(minutes=10))
    await session.commit()
    assert await prune_expired(session, START + timedelta(minutes=1), limit=5) == 5
    assert await rows(session) == 3
    # Now and then an insert prunes: forced here.
    monkeypatch.setattr(replay.secrets, "randbelow", lambda _n: 0)
    clock.advance(60)
    assert await store.use_once(session, "c", "new", START + timedelta(minutes=5))
    await session.commit()
    left = set((await session.scalars(select(UsedJti.jti_hash))).all())
    assert left == {jti_hash("live"), jti_hash("new")}


@pytest.fixture
async def redis_client() -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(reachable_redis())
    try:
        yield client
    finally:
        await client.aclose()


async def test_redis_store_accepts_each_jti_once_and_expires(session, redis_client):
    clock = FrozenClock(datetime.now(UTC))
    store = RedisJtiStore(redis_client, DatabaseJtiStore(clock))
    client_id = f"client-{uuid.uuid4().hex[:8]}"
    until = datetime.now(UTC) + timedelta(milliseconds=800)
    assert await store.use_once(session, client_id, "j1", until) is True
    assert await store.use_once(session, client_id, "j1", until) is False
    assert await store.use_once(session, client_id + "x", "j1", until) is True
    key = store.key(client_id, "j1")
    assert key == f"appward:jti:{client_id}:{jti_hash('j1')}"
    ttl = await redis_client.pttl(key)
    assert 0 < ttl <= 800
    import asyncio

    await asyncio.sleep(0.9)
    assert await store.use_once(session, client_id, "j1", datetime.now(UTC) + timedelta(seconds=5))
    assert await rows(session) == 0  # Redis alone held them
    await redis_client.delete(key, store.key(client_id + "x", "j1"))


async def test_redis_down_falls_back_to_the_database(session, caplog):
    # Nothing listens on port 1 of the loopback: every Redis call fails at once.
    down = aioredis.Redis.from_url("redis://127.0.0.1:1/3", socket_connect_timeout=0.5)
    clock = FrozenClock(START)
    store = RedisJtiStore(down, DatabaseJtiStore(clock))
    until = START + timedelta(minutes=5)
    before = fallback_counts()[Fallback.JTI_REPLAY]
    try:
        assert await store.use_once(session, "client-a", "j1", until) is True
        assert await store.use_once(session, "client-a", "j1", until) is False  # never open
    finally:
        await down.aclose()
    assert await rows(session) == 1
    assert fallback_counts()[Fallback.JTI_REPLAY] - before == 2  # each noted (and logged)
    assert "j1" not in caplog.text


class _Switchable:
    """A Redis client that is down until ``up`` is set: one store living through an
    outage and its end, as one server process does."""

    def __init__(self, down: aioredis.Redis, up: aioredis.Redis) -> None:
        self.down, self.up, self.is_up = down, up, False

    async def set(self, *args: object, **kwargs: object) -> object:
        return await (self.up if self.is_up else self.down).set(*args, **kwargs)  # type: ignore[arg-type]


async def test_a_jti_used_during_a_redis_outage_stays_used_once_redis_is_back(
    session, redis_client
):
    """Security review F3: while Redis was down the jti went to the database only; once
    Redis answers again the database is still asked, for as long as such an assertion
    could be presented, so it is not accepted a second time."""
    down = aioredis.Redis.from_url("redis://127.0.0.1:1/3", socket_connect_timeout=0.5)
    clock = FrozenClock(datetime.now(UTC))
    switch = _Switchable(down, redis_client)
    store = RedisJtiStore(switch, DatabaseJtiStore(clock))  # type: ignore[arg-type]
    client_id = f"client-{uuid.uuid4().hex[:8]}"
    until = clock.now() + timedelta(minutes=5)
    try:
        assert await store.use_once(session, client_id, "during", until) is True
        switch.is_up = True
        assert await store.use_once(session, client_id, "during", until) is False
        # A new jti right after the outage is recorded in both, and accepted once.
        assert await store.use_once(session, client_id, "after", until) is True
        assert await store.use_once(session, client_id, "after", until) is False
        # Once every assertion of the outage has expired, Redis alone answers again.
        clock.advance(301)
        before = await rows(session)
        assert await store.use_once(session, client_id, "later", until + timedelta(minutes=6))
        assert await rows(session) == before
    finally:
        await down.aclose()
        await redis_client.delete(
            *(store.key(client_id, jti) for jti in ("during", "after", "later"))
        )
