"""A database outage, on a PostgreSQL cluster of the test's own (never the machine's):
hung, then stopped. Every request that needs the database gets a quick 503 in its
route's error shape, /readyz says not ready while /healthz stays up, and the server
serves again by itself once the database is back."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet

from appward.config import Settings
from appward.migrations import upgrade
from appward.readiness import ReadinessProbe
from tests.conftest import FAST_ARGON2
from tests.factories import SERVICE, basic
from tests.functional.conftest import Api, open_api
from tests.throwaway import Postgres, throwaway_postgres

pytestmark = pytest.mark.anyio

TIMEOUT = 1.0  # APPWARD_DATABASE_TIMEOUT and APPWARD_READINESS_TIMEOUT of the server
# A statement that times out on a pooled connection, or a wait for a free connection
# and then a connect: twice the timeout at worst, plus a loaded machine's slack.
WORST_WAIT = 2 * TIMEOUT + 1.5
RECOVERY = 15.0  # seconds for the server to serve again once the database is back


@pytest.fixture
def cluster() -> AsyncIterator[Postgres]:
    with throwaway_postgres() as postgres:
        upgrade(postgres.url)
        yield postgres


@pytest.fixture
async def served(cluster: Postgres, tmp_path: Path) -> AsyncIterator[Api]:
    settings = Settings(
        database_url=cluster.url,
        data_dir=tmp_path / "var",
        key_encryption_key=Fernet.generate_key().decode(),
        database_timeout=TIMEOUT,
        readiness_timeout=TIMEOUT,
        **FAST_ARGON2,  # type: ignore[arg-type]
    )
    async with open_api(settings, None) as api:  # the system clock: the timeouts are real
        api.app.state.appward.readiness = ReadinessProbe(max_age=0)  # each ask checks afresh
        yield api


async def timed(request: Awaitable[httpx.Response]) -> tuple[httpx.Response, float]:
    """Returns the response and the seconds it took; a request hanging past 30 s fails."""
    started = time.monotonic()
    response = await asyncio.wait_for(request, 30)
    return response, time.monotonic() - started


Probe = Callable[[Api], Awaitable[httpx.Response]]


async def token_of_unknown_client(served: Api) -> httpx.Response:
    return await served.http.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials"},
        # A new one each time: a failure just seen is answered from memory.
        headers=basic(f"no-such-client-{uuid.uuid4().hex}", "whatever"),
    )


async def admin_client_list(served: Api) -> httpx.Response:
    return await served.http.get("/admin/v1/clients", headers=served.auth)


async def authorization_page(served: Api) -> httpx.Response:
    return await served.http.get(
        "/oauth2/authorize",
        params={
            "client_id": "no-such-client",
            "response_type": "code",
            "redirect_uri": "https://app.example.com/cb",
        },
    )


# What each needs the database for: the client's record, the admin token's state, the
# client named. Up, each answers as usual: 401, 200, and an error page (400).
PROBES: dict[Probe, int] = {
    token_of_unknown_client: 401,
    admin_client_list: 200,
    authorization_page: 400,
}


def check_unavailable(probe: Probe, response: httpx.Response) -> None:
    """503 in the route's error shape: OAuth JSON, problem details, a page."""
    assert response.status_code == 503, (probe.__name__, response.text)
    assert response.headers["retry-after"] == "1"
    if probe is token_of_unknown_client:
        assert response.json()["error"] == "temporarily_unavailable"
        assert response.headers["cache-control"] == "no-store"
    elif probe is admin_client_list:
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["error"] == "temporarily_unavailable"
        assert response.json()["status"] == 503
    else:
        assert response.headers["content-type"].startswith("text/html")
        assert "Temporarily unavailable" in response.text
    assert "request_id" not in response.text  # no 500 in disguise


async def check_serving(served: Api) -> None:
    for probe, status in PROBES.items():
        response = await probe(served)
        assert response.status_code == status, (probe.__name__, response.text)


async def readiness(served: Api) -> tuple[int, dict[str, str]]:
    response, took = await timed(served.http.get("/readyz"))
    assert took < TIMEOUT + 1.5  # /readyz itself never hangs
    assert response.headers["cache-control"] == "no-store"
    return response.status_code, response.json()["checks"]


async def wait_until_ready(served: Api) -> None:
    deadline = time.monotonic() + RECOVERY
    while time.monotonic() < deadline:
        if (await readiness(served))[0] == 200:
            return
        await asyncio.sleep(0.2)
    pytest.fail(f"not ready {RECOVERY} s after the database came back")


async def check_outage(served: Api, caplog: pytest.LogCaptureFixture) -> None:
    for probe in PROBES:
        response, took = await timed(probe(served))
        check_unavailable(probe, response)
        assert took < WORST_WAIT, (probe.__name__, took)
    # A burst larger than the pool (5 + 10 overflow): the requests beyond it wait for a
    # free connection no longer than the timeout either.
    burst = await asyncio.gather(*(timed(admin_client_list(served)) for _ in range(20)))
    for response, took in burst:
        check_unavailable(admin_client_list, response)
        assert took < 2 * WORST_WAIT, took
    status, checks = await readiness(served)
    assert status == 503
    assert checks["database"] == "unreachable"
    health, took = await timed(served.http.get("/healthz"))
    assert (health.status_code, health.json(), took < 0.5) == (200, {"status": "ok"}, True)
    assert "-> 503 temporarily_unavailable (database unavailable" in caplog.text
    assert "-> 500" not in caplog.text


async def test_a_hung_database_gets_503_within_the_timeout_then_recovers(
    served: Api, cluster: Postgres, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="appward")
    await check_serving(served)
    assert await readiness(served) == (
        200,
        {"database": "ok", "migrations": "ok"},
    )
    with cluster.frozen():
        await check_outage(served, caplog)
    await wait_until_ready(served)
    await check_serving(served)


async def test_a_stopped_database_gets_503_at_once_then_recovers(
    served: Api, cluster: Postgres, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="appward")
    await check_serving(served)
    cluster.stop()
    try:
        await check_outage(served, caplog)
        for probe in PROBES:  # refused, not waited for
            response, took = await timed(probe(served))
            assert response.status_code == 503
            assert took < 0.5 * TIMEOUT, (probe.__name__, took)
    finally:
        cluster.start()
    await wait_until_ready(served)
    await check_serving(served)
    # Changes work again too: a new client, and a token for it.
    created = await served.http.post("/admin/v1/clients", json=SERVICE, headers=served.auth)
    assert created.status_code == 201, created.text
    client = created.json()
    issued = await served.http.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials"},
        headers=basic(client["client_id"], client["client_secret"]),
    )
    assert issued.status_code == 200, issued.text
