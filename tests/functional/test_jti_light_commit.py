"""On SQLite, the used jti of a client assertion is committed without waiting for the
disk (PRAGMA synchronous=NORMAL for that one transaction: the fsync was most of a
private_key_jwt request's time), and every other commit still waits for it: after any
mix of accepted and replayed assertions, each pooled connection is back at FULL."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event, text

from tests.functional.test_private_key_jwt import claims_for, register, sign, token
from tests.keys import ec_key

pytestmark = pytest.mark.anyio

FULL, NORMAL = 2, 1


@pytest.fixture
async def orders(api):  # as tests/functional/test_private_key_jwt.py's
    created = await api.post("/admin/v1/scopes", {"name": "orders", "description": "Orders"})
    assert created.status_code == 201, created.text
    return api


@contextmanager
def levels_of_writes(engine) -> Iterator[list[tuple[str, int]]]:
    """The safety level each INSERT ran under, by table: what its commit will do."""
    seen: list[tuple[str, int]] = []

    def note(conn, _cursor, statement, *_args) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO"):
            cursor = conn.connection.dbapi_connection.cursor()
            cursor.execute("PRAGMA synchronous")
            seen.append((statement.split()[2], cursor.fetchone()[0]))

    event.listen(engine.sync_engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", note)


async def test_only_the_jti_commit_skips_the_fsync(orders, clock, settings):
    if not settings.database_url.startswith("sqlite"):
        pytest.skip("SQLite's synchronous setting")
    engine = orders.app.state.appward.engine
    key = ec_key()
    client_id = (await register(orders, key))["client_id"]
    with levels_of_writes(engine) as seen:
        claims = claims_for(client_id, clock)
        assert (await token(orders, sign(key, claims))).status_code == 200
        assert (await token(orders, sign(key, claims))).status_code == 401  # the replay
        more = [token(orders, sign(key, claims_for(client_id, clock))) for _ in range(8)]
        assert {r.status_code for r in await asyncio.gather(*more)} == {200}
        # An admin change, after all that, commits with the fsync.
        created = await orders.post("/admin/v1/scopes", {"name": "more", "description": "M"})
        assert created.status_code == 201
    jtis = [level for table, level in seen if table == "used_jtis"]
    others = [level for table, level in seen if table != "used_jtis"]
    assert len(jtis) == 10
    assert set(jtis) == {NORMAL}
    assert others
    assert set(others) == {FULL}, seen
    connections = [await engine.connect() for _ in range(5)]  # the pool's, and new ones
    try:
        for connection in connections:
            level = (await connection.execute(text("PRAGMA synchronous"))).scalar_one()
            assert level == FULL
    finally:
        for connection in connections:
            await connection.close()
