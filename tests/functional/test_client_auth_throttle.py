"""Failed client authentication throttled per client_id and per source address at the
token, introspection and revocation endpoints; the lockout policy (auth/throttle.py); the
optional per-client limit on /oauth2/token; the counts shared through Redis, and kept per
process while Redis is unreachable."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from appward.clock import FrozenClock
from appward.config import Settings
from appward.fallback import Fallback, fallback_counts
from appward.rate_limit import RedisRateLimiter
from appward.services import redis_client
from tests.factories import SERVICE, basic
from tests.functional.conftest import Api, open_api

pytestmark = pytest.mark.anyio
WRONG = "not-the-secret"
NOW = datetime(2026, 6, 1, 12, 0, 10, tzinfo=UTC)


@asynccontextmanager
async def server(settings: Settings, clock: FrozenClock, **overrides: Any) -> AsyncIterator[Api]:
    """The app trusting X-Forwarded-For, so each request comes from an address of the
    test's choosing."""
    configured = Settings(**{**settings.model_dump(), "trust_forwarded_for": True, **overrides})
    async with open_api(configured, clock) as api:
        yield api


def address() -> str:
    """An address of its own per call, so tests sharing one Redis never share a count."""
    return "fd00:" + ":".join(secrets.token_hex(2) for _ in range(3)) + "::1"


async def new_client(api: Api) -> tuple[str, str]:
    created = (await api.post("/admin/v1/clients", SERVICE)).json()
    return created["client_id"], created["client_secret"]


async def token(api: Api, client_id: str, secret: str, source: str) -> httpx.Response:
    return await api.http.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials"},
        headers={**basic(client_id, secret), "X-Forwarded-For": source},
    )


def assert_throttled(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    assert response.json()["error"] == "too_many_attempts"
    assert "client authentication" in response.json()["error_description"]
    assert 1 <= int(response.headers["Retry-After"]) <= 300
    assert response.headers["Cache-Control"] == "no-store"


async def test_failures_from_one_address_are_refused_past_its_limit(settings, clock):
    async with server(settings, clock, client_auth_failures_per_address=3) as api:
        client_id, secret = await new_client(api)
        here, elsewhere = address(), address()
        assert [(await token(api, client_id, WRONG, here)).status_code for _ in range(3)] == [
            401
        ] * 3
        assert_throttled(await token(api, client_id, WRONG, here))
        # Any client_id, right secret or not: the address is not heard until the window ends.
        assert_throttled(await token(api, client_id, secret, here))
        assert_throttled(await token(api, "some-other-client", WRONG, here))
        # Another address has its own count.
        assert (await token(api, client_id, WRONG, elsewhere)).status_code == 401
        assert (await token(api, client_id, secret, elsewhere)).status_code == 200
        clock.advance(300)  # the next window
        assert (await token(api, client_id, secret, here)).status_code == 200


def site() -> str:
    """An IPv6 /48 of its own per call: the prefix of ``in_site``'s addresses."""
    return "fd01:" + ":".join(secrets.token_hex(2) for _ in range(2))


def in_site(prefix: str, subnet: int) -> str:
    """An address in the /64 numbered ``subnet`` of the /48 ``prefix``."""
    return f"{prefix}:{subnet:x}::1"


async def test_an_ipv6_site_walking_its_64s_is_slowed_past_its_wider_limit(settings, clock):
    """Each /64 has its own limit (3 here); a /48 has 16 times that. A guesser who walks
    the /64s of one /48 gets one failure per /64 past it, and each /64 that failed is
    refused; a clean /64 of the same /48 (another tenant) still authenticates with its
    right secret, and another /48 is not touched."""
    async with server(
        settings, clock, client_auth_failures_per_address=3, client_auth_failures_per_client=1000
    ) as api:
        client_id, secret = await new_client(api)
        attacker = site()
        for subnet in range(16):
            statuses = [
                (await token(api, client_id, WRONG, in_site(attacker, subnet))).status_code
                for _ in range(3)
            ]
            assert statuses == [401] * 3, subnet
        assert (await token(api, client_id, WRONG, in_site(attacker, 16))).status_code == 401
        assert_throttled(await token(api, client_id, WRONG, in_site(attacker, 16)))
        assert_throttled(await token(api, client_id, secret, in_site(attacker, 16)))
        assert (await token(api, client_id, secret, in_site(attacker, 999))).status_code == 200
        assert (await token(api, client_id, secret, in_site(site(), 0))).status_code == 200
        clock.advance(300)  # the next window
        assert (await token(api, client_id, secret, in_site(attacker, 16))).status_code == 200


async def test_the_right_secret_is_not_locked_out_by_others_failures_on_its_client_id(
    settings, clock
):
    """The lockout policy: past its failure limit a client_id is refused only to addresses
    that have failed themselves; the client's own, clean address still gets its proof
    checked (the credential cache is off, so every proof is checked afresh)."""
    async with server(
        settings,
        clock,
        client_auth_failures_per_client=3,
        client_auth_failures_per_address=100,
        credential_cache_ttl=0,
    ) as api:
        client_id, secret = await new_client(api)
        other_id, other_secret = await new_client(api)
        attackers = [address() for _ in range(3)]
        for attacker in attackers:
            assert (await token(api, client_id, WRONG, attacker)).status_code == 401
        for attacker in attackers:  # the client_id is over its limit: failed addresses wait
            assert_throttled(await token(api, client_id, WRONG, attacker))
            assert_throttled(await token(api, client_id, secret, attacker))
        home = address()
        for _ in range(5):
            assert (await token(api, client_id, secret, home)).status_code == 200
        # A fresh address is heard once: its failure makes it one that waits too.
        fresh = address()
        assert (await token(api, client_id, WRONG, fresh)).status_code == 401
        assert_throttled(await token(api, client_id, WRONG, fresh))
        # The limit is the client_id's: another client is served from those addresses.
        assert (await token(api, other_id, other_secret, attackers[0])).status_code == 200
        assert (await token(api, client_id, secret, home)).status_code == 200


async def test_a_secret_verified_moments_ago_is_never_throttled(settings, clock):
    """A proof the credential cache knows to be right is served from a throttled address,
    without the limiter being asked; a proof it does not know waits."""
    async with server(settings, clock, client_auth_failures_per_address=2) as api:
        cached_id, cached_secret = await new_client(api)
        other_id, other_secret = await new_client(api)
        shared = address()
        assert (await token(api, cached_id, cached_secret, shared)).status_code == 200
        for _ in range(2):
            assert (await token(api, other_id, WRONG, shared)).status_code == 401
        for _ in range(3):
            assert (await token(api, cached_id, cached_secret, shared)).status_code == 200
        assert_throttled(await token(api, other_id, other_secret, shared))


@pytest.mark.parametrize("path", ["/oauth2/introspect", "/oauth2/revoke"])
async def test_introspection_and_revocation_failures_count_too(settings, clock, path):
    async with server(settings, clock, client_auth_failures_per_address=2) as api:
        client_id, secret = await new_client(api)
        here = address()

        async def call(with_secret: str) -> httpx.Response:
            return await api.http.post(
                path,
                data={"token": "whatever"},
                headers={**basic(client_id, with_secret), "X-Forwarded-For": here},
            )

        assert [(await call(WRONG)).status_code for _ in range(2)] == [401, 401]
        assert_throttled(await call(WRONG))
        # The token endpoint shares the count: failures anywhere are failures.
        assert_throttled(await token(api, client_id, secret, here))


async def test_unknown_and_malformed_client_ids_count_against_the_address(settings, clock):
    async with server(settings, clock, client_auth_failures_per_address=2) as api:
        here = address()
        assert (await token(api, "no-such-client", WRONG, here)).status_code == 401
        assert (await token(api, "x" * 500, WRONG, here)).status_code == 401
        assert_throttled(await token(api, "no-such-client", WRONG, here))


async def test_the_per_client_token_limit_is_off_by_default(settings, clock):
    async with server(settings, clock) as api:
        client_id, secret = await new_client(api)
        statuses = {(await token(api, client_id, secret, address())).status_code for _ in range(40)}
        assert statuses == {200}


async def test_a_clients_runaway_loop_does_not_starve_the_others(settings, clock):
    async with server(settings, clock, token_requests_per_client=3) as api:
        busy_id, busy_secret = await new_client(api)
        quiet_id, quiet_secret = await new_client(api)
        here = address()
        for _ in range(3):
            assert (await token(api, busy_id, busy_secret, here)).status_code == 200
        refused = await token(api, busy_id, busy_secret, address())  # any address
        assert refused.status_code == 429
        assert refused.json()["error"] == "too_many_attempts"
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        for _ in range(3):  # same address, another client: its own count
            assert (await token(api, quiet_id, quiet_secret, here)).status_code == 200
        # Naming the busy client without its secret spends nothing of its count.
        clock.advance(60)
        assert (await token(api, busy_id, WRONG, here)).status_code == 401
        for _ in range(3):
            assert (await token(api, busy_id, busy_secret, here)).status_code == 200


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)  # Redis is what is shared
async def test_failures_are_counted_across_servers_through_redis(settings, clock, redis_url):
    async with (
        server(settings, clock, redis_url=redis_url, client_auth_failures_per_address=2) as first,
        server(settings, clock, redis_url=redis_url, client_auth_failures_per_address=2) as second,
    ):
        client_id, secret = await new_client(first)
        here = address()
        assert (await token(first, client_id, WRONG, here)).status_code == 401
        assert (await token(second, client_id, WRONG, here)).status_code == 401
        assert_throttled(await token(first, client_id, secret, here))
        assert_throttled(await token(second, client_id, secret, here))
        assert (await token(second, client_id, secret, address())).status_code == 200


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)  # the outage is Redis's
async def test_with_redis_unreachable_each_process_counts_on_its_own(settings, clock):
    before = fallback_counts()[Fallback.RATE_LIMIT]
    async with server(
        settings,
        clock,
        redis_url="redis://127.0.0.1:1/0",
        client_auth_failures_per_address=2,
    ) as api:
        client_id, secret = await new_client(api)
        here = address()
        assert [(await token(api, client_id, WRONG, here)).status_code for _ in range(2)] == [
            401,
            401,
        ]
        assert_throttled(await token(api, client_id, secret, here))
        assert (await token(api, client_id, secret, address())).status_code == 200
    # Counted (and logged, at most a line per kind every few seconds).
    assert fallback_counts()[Fallback.RATE_LIMIT] > before


async def test_counting_returns_to_redis_once_it_answers(caplog, redis_url):
    redis = redis_client(redis_url)
    assert redis is not None
    name = f"test-{secrets.token_hex(4)}"
    limiter = RedisRateLimiter(name, redis, limit=5)
    down = redis_client("redis://127.0.0.1:1/0")
    assert down is not None
    try:
        limiter._redis = down
        assert await limiter.add("10.0.0.1", NOW) == 1  # in process
        assert limiter.degraded
        limiter._down_until = 0.001  # RETRY_AFTER has passed
        limiter._redis = redis
        assert await limiter.add("10.0.0.1", NOW) == 1  # in Redis, afresh
        assert not limiter.degraded
        assert await redis.get(f"appward:rate:{name}:{int(NOW.timestamp()) // 60}:10.0.0.1")
    finally:
        await limiter.close()
        await redis.aclose()
        await down.aclose()
    assert "Redis answers again" in caplog.text


async def rate_commands_during(redis_url: str, requests: Any) -> list[str]:
    """The commands on rate-limit keys Redis executes while ``requests`` runs (MONITOR),
    up to a sentinel command sent after it."""
    watcher = redis_client(redis_url)
    assert watcher is not None
    sentinel = f"sentinel-{secrets.token_hex(6)}"
    db = int(redis_url.rsplit("/", 1)[1] or 0)
    seen: list[str] = []
    try:
        async with watcher.monitor() as monitor:
            await requests()
            sender = redis_client(redis_url)
            assert sender is not None
            try:
                await sender.get(sentinel)
            finally:
                await sender.aclose()
            while True:
                executed = await monitor.next_command()
                command = executed["command"]
                if sentinel in command:
                    break
                # Other runs may share the Redis server, never its database.
                if executed["db"] == db and "appward:rate:" in command:
                    seen.append(command)
    finally:
        await watcher.aclose()
    return seen


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)  # Redis is what is watched
@pytest.mark.parametrize("per_client", [None, 1000], ids=["limit off", "limit on"])
async def test_a_cached_secret_costs_no_round_trip_to_redis(settings, clock, redis_url, per_client):
    """The token endpoint's hot path: a secret verified moments ago is answered without
    asking Redis, unless the per-client limit is on (then one INCR a request)."""
    async with server(
        settings, clock, redis_url=redis_url, token_requests_per_client=per_client
    ) as api:
        client_id, secret = await new_client(api)
        here = address()
        assert (await token(api, client_id, secret, here)).status_code == 200  # now cached

        async def requests() -> None:
            for _ in range(5):
                assert (await token(api, client_id, secret, here)).status_code == 200

        seen = await rate_commands_during(redis_url, requests)
    if per_client is None:
        assert seen == []
    else:
        assert len([c for c in seen if "INCR" in c and "token-requests" in c]) == 5
