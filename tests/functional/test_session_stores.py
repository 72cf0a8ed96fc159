"""The two session stores behave alike: the database's (both databases) and Redis's."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import pytest

from appward.services import redis_client, unit_of_work
from appward.users.sessions import DatabaseSessionStore, RedisSessionStore, SessionRecord
from tests.factories import SETUP_ACTOR
from tests.functional.conftest import open_api
from tests.functional.test_sessions import reachable_redis

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["database", "redis"])
def kind(request) -> str:
    return str(request.param)


@asynccontextmanager
async def store_for(kind: str, settings, clock) -> AsyncIterator[tuple[object, list[str]]]:
    """A store, and the public ids of two accounts it may hold sessions of."""
    async with open_api(settings, clock) as api:
        async with unit_of_work(api.app.state.appward, SETUP_ACTOR) as services:
            subjects = [
                (await services.users.create(name, "long enough pw")).public_id
                for name in ("ann", "ben")
            ]
        if kind == "redis":
            redis = redis_client(reachable_redis())
            assert redis is not None
            try:
                # A prefix of its own: runs sharing one Redis never see each other's keys.
                yield RedisSessionStore(redis, prefix=f"test:{secrets.token_hex(6)}"), subjects
            finally:
                await redis.aclose()
            return
        async with unit_of_work(api.app.state.appward, None) as services:
            yield DatabaseSessionStore(services.session), subjects


def record(subject: str, clock, *, lifetime: int = 3600) -> SessionRecord:
    now = clock.now()
    return SessionRecord(subject, now, now, now, now + timedelta(seconds=lifetime))


async def test_add_get_replace_remove(kind, settings, clock):
    async with store_for(kind, settings, clock) as (store, (ann, _)):
        assert await store.get("k1") is None
        await store.add("k1", record(ann, clock), clock.now())
        assert await store.get("k1") == record(ann, clock)
        marked = SessionRecord(
            ann, clock.now(), clock.now(), clock.now(), record(ann, clock).expires_at, True
        )
        await store.replace("k1", marked)
        assert await store.get("k1") == marked
        await store.remove("k1")
        assert await store.get("k1") is None
        await store.replace("k1", marked)  # no coming back once removed
        assert await store.get("k1") is None
        await store.remove("k1")  # removing twice is no error


async def test_remove_all_and_count_are_per_account(kind, settings, clock):
    async with store_for(kind, settings, clock) as (store, (ann, ben)):
        for key in ("a1", "a2", "a3"):
            await store.add(key, record(ann, clock), clock.now())
        await store.add("b1", record(ben, clock), clock.now())
        await store.add("a-old", record(ann, clock, lifetime=10), clock.now())
        clock.advance(11)
        assert await store.count(ann, clock.now()) == 3
        assert await store.remove_all(ann) >= 3
        assert await store.count(ann, clock.now()) == 0
        assert await store.get("a1") is None
        assert await store.get("b1") is not None
        assert await store.remove_all(ann) == 0
