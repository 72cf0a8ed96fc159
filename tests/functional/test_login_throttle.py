"""Sign-in throttling through the login page: bounded memory, limits per address and per
username, shared through Redis, usernames counted case-insensitively."""

from __future__ import annotations

import asyncio
import gc
import secrets
import tracemalloc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from appward import rate_limit
from appward.clock import FrozenClock
from appward.config import Settings
from appward.errors import TooManyAttempts
from appward.services import redis_client
from tests.functional.conftest import Api, open_api
from tests.oauth_helpers import PASSWORD, hidden_fields

pytestmark = pytest.mark.anyio
WRONG = "wrong password!!"


@asynccontextmanager
async def server(settings: Settings, clock: FrozenClock, **overrides: Any) -> AsyncIterator[Api]:
    """The app trusting X-Forwarded-For, so each request can come from an address of the
    test's choosing."""
    configured = Settings(**{**settings.model_dump(), "trust_forwarded_for": True, **overrides})
    async with open_api(configured, clock) as api:
        yield api


async def sign_in(api: Api, username: str, password: str, address: str) -> httpx.Response:
    page = await api.http.get("/login")
    return await api.http.post(
        "/login",
        data={**hidden_fields(page.text), "username": username, "password": password},
        headers={"X-Forwarded-For": address},
    )


def random_network() -> str:
    """A /64 of its own per test, so runs sharing one Redis never share a count."""
    return "fd" + ":".join([secrets.token_hex(1), *(secrets.token_hex(2) for _ in range(3))])


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)  # no storage involved
async def test_a_flood_of_new_long_usernames_holds_no_memory(settings, clock):
    """One address posting 1,000 new 10,000-character usernames: once it is throttled its
    attempts store nothing, so the throttle's memory does not grow with them."""
    async with server(settings, clock) as api:
        page = await api.http.get("/login")
        fields = hidden_fields(page.text)

        async def post(i: int) -> int:
            response = await api.http.post(
                "/login",
                data={**fields, "username": f"{i:05d}" + "u" * 10_000, "password": WRONG},
                headers={"X-Forwarded-For": "203.0.113.7"},
            )
            return response.status_code

        assert [await post(i) for i in range(10)] == [401] * 10
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            statuses = {await post(i) for i in range(10, 1_010)}
            gc.collect()
            grown = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
        assert statuses == {429}
        assert grown < 2_000_000, f"{grown} bytes retained"
        throttle = api.app.state.appward.login_throttle
        assert throttle.by_address.tracked_keys == 1
        assert throttle.by_username.tracked_keys == 10


async def test_failures_from_many_addresses_stay_within_the_bound(settings, clock, monkeypatch):
    """Each failure from a new address for a new long username is counted, under at most
    MAX_TRACKED_KEYS keys per limit, each a fixed-size digest for usernames."""
    monkeypatch.setattr(rate_limit, "MAX_TRACKED_KEYS", 50)
    async with server(settings, clock) as api:
        page = await api.http.get("/login")
        fields = hidden_fields(page.text)
        for i in range(120):
            response = await api.http.post(
                "/login",
                data={**fields, "username": f"{i:03d}" + "u" * 10_000, "password": WRONG},
                headers={"X-Forwarded-For": f"198.51.100.{i}"},
            )
            assert response.status_code == 401
        throttle = api.app.state.appward.login_throttle
        assert throttle.by_address.tracked_keys == throttle.by_username.tracked_keys == 50


async def test_a_throttled_address_does_not_lock_the_user_out_elsewhere(settings, clock):
    """Ten failures from one address throttle that address only; the user still signs in
    from another, until the higher per-username limit is reached from any addresses."""
    async with server(settings, clock, login_failures_per_username=15) as api:
        await api.post("/admin/v1/users", {"username": "ivy", "password": PASSWORD})
        for _ in range(10):
            assert (await sign_in(api, "ivy", WRONG, "203.0.113.1")).status_code == 401
        throttled = await sign_in(api, "ivy", PASSWORD, "203.0.113.1")
        assert throttled.status_code == 429
        assert "too many failed sign-ins" in throttled.text
        assert 1 <= int(throttled.headers["retry-after"]) <= 300
        assert (await sign_in(api, "other", WRONG, "203.0.113.1")).status_code == 429
        assert (await sign_in(api, "ivy", PASSWORD, "203.0.113.2")).status_code == 303

        # A success clears the username's count; 15 failures spread over addresses that
        # each stay under their own limit then lock the username, from everywhere.
        for i in range(15):
            assert (await sign_in(api, "IVY", WRONG, f"198.51.100.{i}")).status_code == 401
        locked = await sign_in(api, "ivy", PASSWORD, "192.0.2.99")
        assert locked.status_code == 429
        assert "too many failed sign-ins" in locked.text
        assert (await sign_in(api, "someone", WRONG, "192.0.2.99")).status_code == 401
        clock.advance(301)
        assert (await sign_in(api, "ivy", PASSWORD, "192.0.2.99")).status_code == 303


async def test_failures_are_shared_through_redis(settings, clock, redis_url):
    """Two app instances, as two hosts would be: each refuses after failures counted on
    the other, per address and per username."""
    network, user = random_network(), f"u{secrets.token_hex(8)}"
    overrides = {"redis_url": redis_url, "login_failures_per_username": 12}
    async with server(settings, clock, **overrides) as first:
        await first.post("/admin/v1/users", {"username": user, "password": PASSWORD})
        second_settings = {**overrides, "data_dir": settings.data_dir / "second"}
        async with server(
            Settings(**{**settings.model_dump(), **second_settings}), clock
        ) as second:
            for _ in range(5):
                assert (await sign_in(first, user, WRONG, f"{network}::1")).status_code == 401
                assert (await sign_in(second, user, WRONG, f"{network}::2")).status_code == 401
            # The same /64: throttled on both, though each saw only five failures.
            for api in (first, second):
                assert (await sign_in(api, user, PASSWORD, f"{network}::3")).status_code == 429
            for _ in range(2):
                other = f"{random_network()}::1"
                assert (await sign_in(first, user.upper(), WRONG, other)).status_code == 401
            locked = await sign_in(second, user, PASSWORD, f"{random_network()}::1")
            assert locked.status_code == 429


async def test_redis_checks_store_nothing(redis_url):
    from datetime import UTC, datetime

    now = datetime(2026, 6, 1, 12, tzinfo=UTC)
    key = f"test-{secrets.token_hex(8)}"
    redis, other_redis = redis_client(redis_url), redis_client(redis_url)
    assert redis is not None
    assert other_redis is not None
    limiter = rate_limit.RedisRateLimiter("login-usernames", redis, limit=2, window=300)
    other = rate_limit.RedisRateLimiter("login-usernames", other_redis, limit=2, window=300)
    try:
        await limiter.check(key, now)
        assert await limiter._redis.keys(f"appward:rate:login-usernames:*:{key}") == []
        assert await limiter.add(key, now) == 1
        assert await other.add(key, now) == 2
        with pytest.raises(TooManyAttempts):
            await limiter.check(key, now)
        await other.reset(key, now)
        await limiter.check(key, now)
        # Taking an attempt back never goes below zero, nor creates a key.
        await limiter.subtract(key, now)
        assert await limiter._redis.keys(f"appward:rate:login-usernames:*:{key}") == []
        assert await limiter.add(key, now) == 1
        await other.subtract(key, now)
        assert await limiter.add(key, now) == 1
    finally:
        await redis.aclose()
        await other_redis.aclose()
        await other.close()


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)  # no storage involved
async def test_guesses_sent_all_at_once_are_held_to_the_limit(settings, clock):
    """An attacker's probe sent 60 guesses at once against a limit of 10 and had every
    password checked: each attempt now counts the moment it arrives."""
    async with server(settings, clock) as api:
        await api.post("/admin/v1/users", {"username": "ivy", "password": PASSWORD})
        page = await api.http.get("/login")
        fields = hidden_fields(page.text)

        async def guess() -> int:
            response = await api.http.post(
                "/login",
                data={**fields, "username": "ivy", "password": WRONG},
                headers={"X-Forwarded-For": "203.0.113.50"},
            )
            return response.status_code

        statuses = await asyncio.gather(*(guess() for _ in range(30)))
    assert sorted(statuses) == [401] * 10 + [429] * 20


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)  # no storage involved
async def test_signing_in_often_from_one_address_is_not_throttled(settings, clock):
    """Successes do not count: an office behind one address signs in all day."""
    async with server(settings, clock) as api:
        await api.post("/admin/v1/users", {"username": "ivy", "password": PASSWORD})
        for _ in range(15):
            assert (await sign_in(api, "ivy", PASSWORD, "203.0.113.60")).status_code == 303


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)  # no storage involved
@pytest.mark.parametrize(
    "forged",
    [
        pytest.param(lambda i: [f"198.51.100.{i}", "203.0.113.9"], id="own-header-line"),
        pytest.param(lambda i: [f"198.51.100.{i},"], id="trailing-comma"),
        pytest.param(lambda i: [f"name-{i}"], id="not-an-address"),
    ],
)
async def test_a_forged_forwarded_for_line_does_not_escape_the_address_limit(
    settings, clock, forged
):
    """Behind a proxy that adds its own X-Forwarded-For line rather than appending to the
    caller's, only the last entry of the last line is the proxy's; an entry that is no
    address falls back to the peer, never to a bucket of the caller's choosing."""
    async with server(settings, clock) as api:
        page = await api.http.get("/login")
        fields = hidden_fields(page.text)
        statuses = []
        for i in range(12):
            headers = [("X-Forwarded-For", line) for line in forged(i)]
            response = await api.http.post(
                "/login",
                data={**fields, "username": f"user{i}", "password": WRONG},
                headers=headers,
            )
            statuses.append(response.status_code)
    assert statuses == [401] * 10 + [429] * 2
