"""The embedded database held by another writer (another process's long transaction, a
backup tool that locks it) past APPWARD_DATABASE_TIMEOUT: the request that needs to write
gets 503 temporarily_unavailable and changes nothing, as for a PostgreSQL that does not
answer in time, never a 500; reads go on; once the lock is free, writes work again."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy.engine import make_url

from tests.factories import SERVICE
from tests.functional.conftest import open_api

pytestmark = pytest.mark.anyio


async def test_a_write_past_the_timeout_is_503_and_changes_nothing(settings, clock):
    if not settings.database_url.startswith("sqlite"):
        pytest.skip("SQLite's one write lock")
    quick = settings.model_copy(update={"database_timeout": 0.3})
    async with open_api(quick, clock) as api:
        before = (await api.get("/admin/v1/clients")).json()["items"]
        other_process = sqlite3.connect(make_url(settings.database_url).database, timeout=0)
        other_process.isolation_level = None
        other_process.execute("BEGIN IMMEDIATE")  # holds the write lock
        try:
            refused = await api.post("/admin/v1/clients", SERVICE)
            assert refused.status_code == 503, refused.text
            assert refused.headers["content-type"].startswith("application/problem+json")
            assert refused.json()["status"] == 503
            assert "Traceback" not in refused.text
            token = await api.client_credentials(api.admin_id, api.admin_secret)
            assert token.status_code in (200, 503), token.text  # a read-mostly path
            listed = await api.get("/admin/v1/clients")
            assert listed.status_code == 200  # reads take no lock
            assert listed.json()["items"] == before
        finally:
            other_process.execute("ROLLBACK")
            other_process.close()
        created = await api.post("/admin/v1/clients", SERVICE)
        assert created.status_code == 201, created.text
