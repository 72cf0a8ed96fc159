"""Domain-level rules that HTTP cannot easily race: optimistic concurrency on clients."""

from __future__ import annotations

import pytest

from appward.audit import Actor, AuditLog
from appward.clients.secrets import Argon2Hasher
from appward.clients.service import ClientService
from appward.db import create_engine, create_sessionmaker
from appward.errors import PreconditionFailed
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
