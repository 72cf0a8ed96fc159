"""SessionService's rules over a store: new ids, absolute end, idle timeout per check."""

from __future__ import annotations

from datetime import datetime

import pytest

from appward.clock import FrozenClock
from appward.hashing import token_hash
from appward.users.sessions import (
    LAST_SEEN_RESOLUTION,
    SessionRecord,
    SessionService,
    is_session_id,
    new_session_id,
)

pytestmark = pytest.mark.anyio
TTL = 8 * 3600
IDLE = 1800


class MemoryStore:
    """The smallest SessionStore: what the service asks of the real two."""

    def __init__(self) -> None:
        self.records: dict[str, SessionRecord] = {}
        self.lookups = 0

    async def add(self, key: str, record: SessionRecord, now: datetime) -> None:
        self.records[key] = record

    async def get(self, key: str) -> SessionRecord | None:
        self.lookups += 1
        return self.records.get(key)

    async def replace(self, key: str, record: SessionRecord) -> None:
        if key in self.records:
            self.records[key] = record

    async def remove(self, key: str) -> None:
        self.records.pop(key, None)

    async def remove_all(self, subject: str) -> int:
        mine = [k for k, r in self.records.items() if r.subject == subject]
        for key in mine:
            del self.records[key]
        return len(mine)

    async def count(self, subject: str, now: datetime) -> int:
        return sum(1 for r in self.records.values() if r.subject == subject and r.expires_at > now)


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def service(store: MemoryStore, clock: FrozenClock) -> SessionService:
    return SessionService(store, clock, TTL)


async def test_start_keeps_only_the_hash_of_a_new_random_id(service, store):
    active = await service.start("sub-1")
    assert is_session_id(active.session_id)
    assert list(store.records) == [token_hash(active.session_id)]
    assert active.record.auth_time == active.record.created_at


async def test_start_ends_the_session_the_browser_held(service, store):
    first = await service.start("sub-1")
    second = await service.start("sub-1", replacing=first.session_id)
    assert second.session_id != first.session_id
    assert await service.resume(first.session_id, idle_timeout=IDLE) is None
    assert await service.resume(second.session_id, idle_timeout=IDLE) is not None


async def test_resume_refuses_past_the_absolute_end(service, clock):
    active = await service.start("sub-1")
    for _ in range(TTL // (IDLE - 1)):
        clock.advance(IDLE - 1)
        assert await service.resume(active.session_id, idle_timeout=IDLE) is not None
    clock.advance(IDLE - 1)
    assert await service.resume(active.session_id, idle_timeout=IDLE) is None


async def test_the_idle_timeout_is_the_callers(service, clock, store):
    active = await service.start("sub-1")
    clock.advance(600)
    assert await service.resume(active.session_id, idle_timeout=300) is None
    assert store.records == {}  # found past a limit: forgotten


async def test_last_seen_is_written_at_most_once_per_resolution(service, clock, store):
    active = await service.start("sub-1")
    key = token_hash(active.session_id)
    clock.advance(LAST_SEEN_RESOLUTION - 1)
    await service.resume(active.session_id, idle_timeout=IDLE)
    assert store.records[key].last_seen_at == active.record.last_seen_at
    clock.advance(1)
    await service.resume(active.session_id, idle_timeout=IDLE)
    assert store.records[key].last_seen_at == clock.now()


async def test_end_all_ends_only_that_accounts_sessions(service):
    mine = [await service.start("sub-1") for _ in range(3)]
    theirs = await service.start("sub-2")
    assert await service.count("sub-1") == 3
    assert await service.end_all("sub-1") == 3
    assert all([await service.resume(a.session_id, idle_timeout=IDLE) is None for a in mine])
    assert await service.resume(theirs.session_id, idle_timeout=IDLE) is not None


async def test_require_fresh_login_marks_the_session_until_a_new_one(service):
    active = await service.start("sub-1")
    marked = await service.require_fresh_login(active)
    assert marked.record.fresh_login_required
    resumed = await service.resume(active.session_id, idle_timeout=IDLE)
    assert resumed is not None
    assert resumed.record.fresh_login_required
    fresh = await service.start("sub-1", replacing=active.session_id)
    assert not fresh.record.fresh_login_required


@pytest.mark.parametrize("value", [None, "", "short", "a" * 44, "a" * 42 + "=", "é" * 43])
async def test_what_is_no_session_id_is_never_looked_up(service, store, value):
    assert await service.resume(value, idle_timeout=IDLE) is None
    await service.end(value)
    assert store.lookups == 0


def test_session_ids_are_random():
    assert len({new_session_id() for _ in range(100)}) == 100
