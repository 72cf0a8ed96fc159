"""Domain-level rules that HTTP cannot easily race: optimistic concurrency on clients,
and the row locks that serialise credential changes (on SQLite too)."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import event, select

from appward.audit import Actor, AuditLog
from appward.clients.models import ClientSecret
from appward.clients.service import ClientService
from appward.db import create_engine, create_sessionmaker, is_sqlite
from appward.errors import NotFound, PreconditionFailed
from appward.hashing import Argon2Hasher
from tests.factories import SERVICE

pytestmark = pytest.mark.anyio


def service_for(session, settings, clock) -> ClientService:
    return ClientService(
        session,
        clock,
        Argon2Hasher(settings.argon2),
        settings.lifetime_bounds,
        settings.secret_policy,
        AuditLog(session, clock, Actor("test")),
    )


async def test_concurrent_updates_lose_nothing(settings, clock):
    """Two writers read revision 1; the second to write gets 412 instead of overwriting."""
    engine = create_engine(settings.database_url, schema=settings.database_schema)
    sessions = create_sessionmaker(engine)
    try:
        async with sessions() as session:
            change = await service_for(session, settings, clock).create(SERVICE)
            await session.commit()
        client_id = change.client.client_id

        async with sessions() as first, sessions() as second:
            a = service_for(first, settings, clock)
            b = service_for(second, settings, clock)
            # Both writers hold the client as they read it, at revision 1...
            held = [await a.get(client_id), await b.get(client_id)]
            assert [c.revision for c in held] == [1, 1]
            await a.update(client_id, {"client_name": "A"}, expected_revision=1)
            await first.commit()
            # ...so the second write, checked against what it read, must not land.
            with pytest.raises(PreconditionFailed):
                await b.update(client_id, {"client_name": "B"}, expected_revision=1)
            await second.rollback()

        async with sessions() as session:
            client = await service_for(session, settings, clock).get(client_id)
            assert (client.client_name, client.revision) == ("A", 2)
    finally:
        await engine.dispose()


async def _event_when_locking_or_writing(session, engine, settings) -> asyncio.Event:
    """Returns an event set as the session's transaction starts to take a lock or write,
    before it can block: SQLite's BEGIN (seen by the driver's trace callback), or the
    SELECT ... FOR UPDATE sent to PostgreSQL."""
    reached = asyncio.Event()
    loop = asyncio.get_running_loop()
    if is_sqlite(settings.database_url):
        raw = await (await session.connection()).get_raw_connection()

        def trace(sql: str) -> None:  # called in aiosqlite's thread
            if sql.lstrip().upper().startswith(("BEGIN", "INSERT")):
                loop.call_soon_threadsafe(reached.set)

        await raw.driver_connection.set_trace_callback(trace)
    else:

        def note(_conn, _cursor, statement, *_args) -> None:
            if "FOR UPDATE" in statement:
                reached.set()

        event.listen(engine.sync_engine, "before_cursor_execute", note)
    return reached


async def test_secret_added_while_the_client_is_deleted_does_not_outlive_the_delete(
    settings, clock
):
    """The delete locks the client (SELECT ... FOR UPDATE; BEGIN IMMEDIATE on SQLite):
    a secret being added meanwhile waits for it, then finds no client, instead of
    reading the client as live and landing a usable secret on a deleted client."""
    engine = create_engine(settings.database_url, schema=settings.database_schema)
    sessions = create_sessionmaker(engine)
    try:
        async with sessions() as session:
            change = await service_for(session, settings, clock).create(SERVICE)
            await session.commit()
        client_id = change.client.client_id

        async with sessions() as deleting, sessions() as adding:
            # The delete has run and holds its lock, not committed yet.
            await service_for(deleting, settings, clock).delete(client_id)

            # The secret's transaction gets to where it must wait for that lock (or,
            # without the lock, has read the client as live and writes its secret).
            waiting = await _event_when_locking_or_writing(adding, engine, settings)
            adder = asyncio.create_task(service_for(adding, settings, clock).add_secret(client_id))
            await waiting.wait()
            await deleting.commit()
            try:
                with pytest.raises(NotFound):
                    await adder
            finally:
                await adding.rollback()

        async with sessions() as session:
            secrets = (
                await session.scalars(
                    select(ClientSecret).where(ClientSecret.client_pk == change.client.pk)
                )
            ).all()
            assert secrets
            assert all(s.revoked_at is not None for s in secrets)
    finally:
        await engine.dispose()
