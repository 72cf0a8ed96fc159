"""A Redis outage, on a redis-server of the test's own (never the machine's), killed or
frozen while the app runs: each use of Redis falls back as docs/deployment.md says,
never open, each fallback noted (fallback.fallback_used), and /readyz says so."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from appward.clock import FrozenClock
from appward.config import Settings
from appward.fallback import Fallback, fallback_counts
from appward.rate_limit import RedisRateLimiter
from appward.readiness import ReadinessProbe
from appward.web.app import create_app
from tests.factories import SERVICE, basic
from tests.functional.conftest import Api, open_api
from tests.functional.test_private_key_jwt import claims_for, refused, register, sign, token
from tests.keys import rsa_key
from tests.throwaway import Redis, throwaway_redis

pytestmark = pytest.mark.anyio

REDIS_TIMEOUT = 0.5  # APPWARD_REDIS_TIMEOUT
FALLBACK_TTL = 2  # APPWARD_CREDENTIAL_CACHE_FALLBACK_TTL
# A request that falls back waits for Redis at most REDIS_TIMEOUT, plus a loaded
# machine's slack.
WORST_WAIT = REDIS_TIMEOUT + 1.5
# The change listener pings every second and gives Redis three pings of silence.
NOTICED = 10.0


@pytest.fixture
def redis() -> Iterator[Redis]:
    with throwaway_redis() as server:
        yield server


@pytest.fixture
def clock() -> FrozenClock:
    # Redis expires the jtis at the assertions' own exp: the clock must be about now.
    return FrozenClock(datetime.now(UTC).replace(microsecond=0))


def with_redis(settings: Settings, redis: Redis, data_dir: Path, **changes: Any) -> Settings:
    return Settings(
        **{
            **settings.model_dump(),
            "redis_url": redis.url,
            "redis_timeout": REDIS_TIMEOUT,
            "credential_cache_fallback_ttl": FALLBACK_TTL,
            "data_dir": data_dir,
            **changes,
        }
    )


async def timed(request: Awaitable[httpx.Response]) -> httpx.Response:
    started = time.monotonic()
    response = await asyncio.wait_for(request, 30)
    took = time.monotonic() - started
    assert took < WORST_WAIT, took
    return response


async def eventually(condition: Callable[[], bool], within: float = NOTICED) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {within} s")
        await asyncio.sleep(0.1)


async def test_jti_replay_checks_fall_back_to_the_database(settings, clock, redis, tmp_path):
    """RFC 7523 §3 item 7 holds through the outage: an assertion is accepted once while
    Redis is down (killed or hung), and stays used once Redis is back."""
    configured = with_redis(settings, redis, tmp_path / "var")
    async with open_api(configured, clock) as api:
        created = await api.post("/admin/v1/scopes", {"name": "orders", "description": "Orders"})
        assert created.status_code == 201, created.text
        key = rsa_key()
        client_id = (await register(api, key))["client_id"]

        async def used_once() -> str:
            assertion = sign(key, claims_for(client_id, clock))
            assert (await timed(token(api, assertion))).status_code == 200
            refused(await timed(token(api, assertion)))
            return assertion

        await used_once()  # Redis up
        before = fallback_counts()[Fallback.JTI_REPLAY]
        redis.kill()
        during = await used_once()
        redis.start()  # empty: it never saw `during`
        refused(await timed(token(api, during)))
        await used_once()
        with redis.frozen():
            await used_once()
        assert fallback_counts()[Fallback.JTI_REPLAY] - before >= 4


@asynccontextmanager
async def _hosts(
    settings: Settings, redis: Redis, tmp_path: Path, clock: FrozenClock
) -> AsyncIterator[tuple[Api, httpx.AsyncClient, Any]]:
    """Host b (with an admin) and host a, on the same database and Redis: a's own data
    dir, so only Redis tells it of b's changes."""
    async with AsyncExitStack() as stack:
        b = await stack.enter_async_context(
            open_api(with_redis(settings, redis, tmp_path / "b"), clock)
        )
        app = create_app(with_redis(settings, redis, tmp_path / "a"), clock=clock)
        app.state.appward.readiness = ReadinessProbe(max_age=0)  # each ask checks afresh
        await stack.enter_async_context(app.router.lifespan_context(app))
        a = await stack.enter_async_context(
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://a")
        )
        yield b, a, app.state.appward.credential_cache


async def test_the_credential_cache_is_short_lived_while_redis_is_unheard(
    settings, clock, redis, tmp_path
):
    async with _hosts(settings, redis, tmp_path, clock) as (b, a, cache):
        client = (await b.post("/admin/v1/clients", SERVICE)).json()
        credentials = basic(client["client_id"], client["client_secret"])

        async def status() -> int:
            response = await timed(
                a.post(
                    "/oauth2/token", data={"grant_type": "client_credentials"}, headers=credentials
                )
            )
            return response.status_code

        await eventually(lambda: not cache.short_lived)  # subscribed
        assert await status() == 200
        before = fallback_counts()[Fallback.CACHE_INVALIDATION]

        redis.kill()
        await eventually(lambda: cache.short_lived)
        assert fallback_counts()[Fallback.CACHE_INVALIDATION] - before == 2  # a and b
        ready = await a.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"] == {
            "database": "ok",
            "migrations": "ok",
            "redis": "unreachable",
        }
        assert (await a.get("/healthz")).status_code == 200

        assert await status() == 200  # verified afresh, remembered for FALLBACK_TTL only
        revoked = await b.delete(
            f"/admin/v1/clients/{client['client_id']}/secrets/{client['client_secret_id']}"
            "?confirm=true"
        )
        assert revoked.status_code == 204  # done, though no host heard of it through Redis
        assert await status() == 200  # still the cached verification
        clock.advance(FALLBACK_TTL)  # not APPWARD_CREDENTIAL_CACHE_TTL (60 s)
        assert await status() == 401

        redis.start()
        await eventually(lambda: not cache.short_lived)
        assert (await a.get("/readyz")).status_code == 200

        with redis.frozen():  # connections stay open, nothing answers
            await eventually(lambda: cache.short_lived)
        await eventually(lambda: not cache.short_lived)


async def test_rate_limits_count_per_process_while_redis_is_down(
    settings, clock, redis, tmp_path, monkeypatch
):
    """Neither open nor closed: the registration limit still refuses the fourth of three."""
    # Redis is asked again this long after it failed (5 s in production).
    monkeypatch.setattr(RedisRateLimiter, "RETRY_AFTER", 0.5)
    configured = with_redis(
        settings, redis, tmp_path / "var", dcr_modes=("open",), dcr_rate_limit=3
    )
    async with open_api(configured, clock) as api:
        redis.kill()
        before = fallback_counts()[Fallback.RATE_LIMIT]

        async def registration() -> httpx.Response:
            body = {
                "client_name": f"app {uuid.uuid4().hex[:6]}",
                "redirect_uris": ["https://app.example.com/cb"],
            }
            return await timed(api.http.post("/oauth2/register", json=body))

        for _ in range(3):
            response = await registration()
            assert response.status_code == 201, response.text
        refusal = await registration()
        assert refusal.status_code == 429, refusal.text
        assert int(refusal.headers["retry-after"]) >= 1
        # Counted once per switch into the process (not once per request meanwhile).
        assert fallback_counts()[Fallback.RATE_LIMIT] - before == 1

        redis.start()  # counted in Redis again, from nothing: its count is Redis's own
        await asyncio.sleep(0.6)  # past RETRY_AFTER
        response = await registration()
        assert response.status_code == 201, response.text
