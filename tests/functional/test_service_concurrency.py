"""Domain-level rules that HTTP cannot easily race: optimistic concurrency on clients,
and the row locks that serialise credential changes (on SQLite too)."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import event, select

from appward.clients.models import ClientSecret
from appward.db import is_sqlite
from appward.errors import NotFound, PreconditionFailed
from appward.services import standalone_resources, unit_of_work
from tests.factories import SERVICE
from tests.factories import SETUP_ACTOR as ACTOR

pytestmark = pytest.mark.anyio


async def test_concurrent_updates_lose_nothing(settings, clock):
    """Two writers read revision 1; the second to write gets 412 instead of overwriting,
    and its unit of work rolls back."""
    async with standalone_resources(settings, clock=clock) as resources:
        async with unit_of_work(resources, ACTOR) as services:
            change = await services.clients.create(SERVICE)
        client_id = change.client.client_id

        async def write_after_a_concurrent_writer() -> None:
            async with unit_of_work(resources, ACTOR) as second:
                async with unit_of_work(resources, ACTOR) as first:
                    # Both writers hold the client as they read it, at revision 1...
                    held = [await first.clients.get(client_id), await second.clients.get(client_id)]
                    assert [c.revision for c in held] == [1, 1]
                    await first.clients.update(client_id, {"client_name": "A"}, expected_revision=1)
                # ...so the second write, checked against what it read, must not land.
                await second.clients.update(client_id, {"client_name": "B"}, expected_revision=1)

        with pytest.raises(PreconditionFailed):
            await write_after_a_concurrent_writer()

        async with unit_of_work(resources, ACTOR) as services:
            client = await services.clients.get(client_id)
            assert (client.client_name, client.revision) == ("A", 2)


async def _event_when_locking_or_writing(session, engine, settings) -> asyncio.Event:
    """Returns an event set as the session's transaction starts to take a lock or write,
    before it can block: on SQLite, before it queues for the process's write lock and
    BEGIN IMMEDIATE (appward.db); on PostgreSQL, as its SELECT ... FOR UPDATE is sent."""
    reached = asyncio.Event()
    if is_sqlite(settings.database_url):

        def note_sqlite(state) -> None:
            # The ORM's hook runs before any of the engine's: the engine's own
            # before_cursor_execute hook is where the statement queues for the lock, and
            # a listener added to the engine later runs after it (insert=True or not).
            if state.is_select and state.statement._for_update_arg is None:
                return
            reached.set()

        event.listen(session.sync_session, "do_orm_execute", note_sqlite)
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
    async with standalone_resources(settings, clock=clock) as resources:
        async with unit_of_work(resources, ACTOR) as services:
            change = await services.clients.create(SERVICE)
        client_id = change.client.client_id

        async def add_while_deleting() -> None:
            async with unit_of_work(resources, ACTOR) as adding:
                async with unit_of_work(resources, ACTOR) as deleting:
                    # The delete has run and holds its lock, not committed yet.
                    await deleting.clients.delete(client_id)
                    # The secret's transaction gets to where it must wait for that lock
                    # (or, without the lock, has read the client as live and writes).
                    waiting = await _event_when_locking_or_writing(
                        adding.session, resources.engine, settings
                    )
                    adder = asyncio.create_task(adding.clients.add_secret(client_id))
                    await waiting.wait()
                await adder  # once the delete has committed

        with pytest.raises(NotFound):  # and the adding unit of work rolls back
            await add_while_deleting()

        async with unit_of_work(resources, ACTOR) as services:
            secrets = (
                await services.session.scalars(
                    select(ClientSecret).where(ClientSecret.client_pk == change.client.pk)
                )
            ).all()
            assert secrets
            assert all(s.revoked_at is not None for s in secrets)
