"""SQLite writers of one process queue for the write lock in asyncio (appward.db), not in
SQLite's sleeping busy handler: the second writer waits until the first commits or rolls
back, then goes on at once, and no ending of a transaction leaves the lock held."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.util import await_only

from appward.db import create_engine, create_sessionmaker

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


BEGUN: list[str] = []  # every BEGIN SQLite started, in any connection


def _trace_begins(dbapi_connection, _record) -> None:
    def trace(sql: str) -> None:  # called in aiosqlite's thread, as SQLite starts it
        if sql.lstrip().upper().startswith("BEGIN"):
            BEGUN.append(sql)

    await_only(dbapi_connection.driver_connection.set_trace_callback(trace))


@pytest.fixture
async def sessions(tmp_path: Path):
    BEGUN.clear()
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'lock.db'}")
    event.listen(engine.sync_engine, "connect", _trace_begins)
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY)"))
    yield create_sessionmaker(engine)
    await engine.dispose()


async def _insert(make, row: int) -> None:
    async with make() as session, session.begin():
        await session.execute(text("INSERT INTO t (id) VALUES (:id)"), {"id": row})


async def _settle() -> None:
    # Long enough for the second writer to open its connection and reach its first write.
    await asyncio.sleep(0.5)


async def test_a_second_writer_waits_for_the_first_to_commit(sessions):
    async with sessions() as first:
        await first.begin()
        await first.execute(text("INSERT INTO t (id) VALUES (1)"))
        begun = len(BEGUN)
        second = asyncio.create_task(_insert(sessions, 2))
        await _settle()
        assert not second.done()  # queued behind the first writer...
        assert len(BEGUN) == begun  # ...in asyncio: it has not reached SQLite's lock
        await first.commit()
    await asyncio.wait_for(second, 5)
    async with sessions() as check:
        assert (await check.scalars(text("SELECT id FROM t ORDER BY id"))).all() == [1, 2]


async def test_a_rollback_lets_the_next_writer_in(sessions):
    async with sessions() as first:
        await first.begin()
        await first.execute(text("INSERT INTO t (id) VALUES (1)"))
        second = asyncio.create_task(_insert(sessions, 2))
        await _settle()
        assert not second.done()
        await first.rollback()
    await asyncio.wait_for(second, 5)
    async with sessions() as check:
        assert (await check.scalars(text("SELECT id FROM t"))).all() == [2]


async def test_a_failed_write_and_a_closed_session_release_the_lock(sessions):
    await _insert(sessions, 1)
    with pytest.raises(IntegrityError):
        await _insert(sessions, 1)  # the duplicate fails; its transaction rolls back
    async with sessions() as abandoned:
        await abandoned.begin()
        await abandoned.execute(text("INSERT INTO t (id) VALUES (3)"))
    # Closed without a commit: rolled back, and the lock is free again.
    await asyncio.wait_for(_insert(sessions, 2), 5)
    async with sessions() as check:
        assert (await check.scalars(text("SELECT id FROM t ORDER BY id"))).all() == [1, 2]


async def test_reads_do_not_wait_for_a_writer(sessions):
    await _insert(sessions, 1)
    async with sessions() as writer:
        await writer.begin()
        await writer.execute(text("INSERT INTO t (id) VALUES (2)"))
        async with sessions() as reader:
            rows = await asyncio.wait_for(reader.scalars(text("SELECT id FROM t")), 5)
            assert rows.all() == [1]  # WAL: the committed state, at once
        await writer.commit()
