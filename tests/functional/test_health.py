"""GET /healthz and /readyz, for load balancers: what each checks and says."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import event, text

from appward.readiness import READINESS_MAX_AGE, ReadinessProbe, expected_revisions
from appward.services import unit_of_work
from tests.factories import SETUP_ACTOR
from tests.functional.conftest import Api, open_api

pytestmark = pytest.mark.anyio


@pytest.fixture
def api(api: Api) -> Api:
    """The app of tests/functional/conftest.py, its /readyz asked afresh each time."""
    api.app.state.appward.readiness = ReadinessProbe(max_age=0)
    return api


async def set_revision(api: Api, revision: str) -> None:
    async with unit_of_work(api.app.state.appward, SETUP_ACTOR) as services:
        await services.session.execute(
            text("UPDATE alembic_version SET version_num = :r"), {"r": revision}
        )


async def test_ready_when_the_database_answers_at_the_code_s_revision(api):
    ready = await api.http.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "checks": {"database": "ok", "migrations": "ok"}}
    assert ready.headers["cache-control"] == "no-store"
    health = await api.http.get("/healthz")
    assert (health.status_code, health.json()) == (200, {"status": "ok"})


async def test_not_ready_on_a_database_behind_the_code_s_migrations(api):
    """A server started before `appward db upgrade` must get no traffic; it is alive
    all the same (no restart would help)."""
    (head,) = expected_revisions()
    await set_revision(api, "0001")
    try:
        ready = await api.http.get("/readyz")
        assert ready.status_code == 503
        assert ready.json() == {
            "status": "not ready",
            "checks": {
                "database": "ok",
                "migrations": f"the database is at 0001, this code expects {head}",
            },
        }
        assert (await api.http.get("/healthz")).status_code == 200
    finally:
        await set_revision(api, head)
    assert (await api.http.get("/readyz")).status_code == 200


async def test_ready_on_a_database_a_newer_release_migrated(api, caplog):
    """A rolling upgrade runs the newer release's `appward db upgrade` while this
    release's instances serve: they stay ready (each migration keeps the release before
    it working), or every one of them would leave the balancer at once."""
    (head,) = expected_revisions()
    await set_revision(api, "9999_from_a_newer_release")
    try:
        with caplog.at_level("WARNING", logger="appward.readiness"):
            ready = await api.http.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["status"] == "ready"
        assert ready.json()["checks"]["migrations"] == (
            "ahead: migrated by a newer release; replace this instance with it"
        )
        assert "which this code does not know" in caplog.text  # never silently
    finally:
        await set_revision(api, head)


async def test_redis_is_checked_when_configured(settings, clock, redis_url):
    async with open_api(settings.model_copy(update={"redis_url": redis_url}), clock) as api:
        ready = await api.http.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["checks"] == {"database": "ok", "migrations": "ok", "redis": "ok"}
    unreachable = settings.model_copy(
        update={"redis_url": "redis://127.0.0.1:1/0", "readiness_timeout": 0.5}
    )
    async with open_api(unreachable, clock) as api:
        ready = await api.http.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["redis"] == "unreachable"
        assert ready.json()["checks"]["database"] == "ok"


async def test_a_flood_of_readiness_asks_costs_one_check_a_second(settings, clock):
    """/readyz needs no credential: however many ask, the database and Redis are asked
    once per READINESS_MAX_AGE, and a change shows once that has passed."""
    async with open_api(settings, clock) as api:
        statements = []
        engine = api.app.state.appward.engine.sync_engine
        note = lambda *args: statements.append(args[2])  # noqa: E731
        event.listen(engine, "before_cursor_execute", note)
        try:
            answers = await asyncio.gather(*(api.http.get("/readyz") for _ in range(50)))
            assert {a.status_code for a in answers} == {200}
            for _ in range(20):
                assert (await api.http.get("/readyz")).status_code == 200
        finally:
            event.remove(engine, "before_cursor_execute", note)
        assert sum("alembic_version" in s for s in statements) == 1, statements
        (head,) = expected_revisions()
        await set_revision(api, "0001")
        try:
            assert (await api.http.get("/readyz")).status_code == 200  # the answer of before
            await asyncio.sleep(READINESS_MAX_AGE)
            assert (await api.http.get("/readyz")).status_code == 503
        finally:
            await set_revision(api, head)


async def test_not_oauth_endpoints(api):
    """Neither is advertised: not in the discovery metadata nor in the API document."""
    discovery = (await api.http.get("/.well-known/oauth-authorization-server")).text
    assert "healthz" not in discovery
    assert "readyz" not in discovery
    paths = (await api.http.get("/openapi.json")).json()["paths"]
    assert "/healthz" not in paths
    assert "/readyz" not in paths
