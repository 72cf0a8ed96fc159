"""Fixed-window limits: counting, the window's end, the bound on keys, Redis outages."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta

import pytest

from appward import rate_limit
from appward.errors import TooManyAttempts
from appward.fallback import Fallback, fallback_counts
from appward.rate_limit import MemoryRateLimiter, RedisRateLimiter
from appward.services import redis_client

pytestmark = pytest.mark.anyio
START = datetime(2026, 6, 1, 12, 0, 10, tzinfo=UTC)  # 10 s into a minute


async def test_allows_the_limit_then_refuses_until_the_window_ends():
    limiter = MemoryRateLimiter("registrations", limit=2)
    await limiter.hit("10.0.0.1", START)
    await limiter.hit("10.0.0.1", START)
    with pytest.raises(TooManyAttempts) as refused:
        await limiter.hit("10.0.0.1", START)
    assert refused.value.retry_after == 50
    await limiter.hit("10.0.0.2", START)  # another key has its own count
    await limiter.hit("10.0.0.1", START + timedelta(seconds=50))  # the next window


async def test_tracks_a_bounded_number_of_keys(monkeypatch):
    monkeypatch.setattr(rate_limit, "MAX_TRACKED_KEYS", 3)
    limiter = MemoryRateLimiter("registrations", limit=1)
    for key in ("a", "b", "c", "d"):
        await limiter.hit(key, START)
    assert len(limiter._counts) == 3
    await limiter.hit("a", START)  # forgotten, so counted afresh
    with pytest.raises(TooManyAttempts):
        await limiter.hit("d", START)


async def test_an_unreachable_redis_counts_in_this_process_instead(caplog, fresh_fallback_log):
    """Never failing open: the limit holds per process while Redis is away, logged once."""
    redis = redis_client("redis://127.0.0.1:1/0")
    assert redis is not None
    limiter = RedisRateLimiter("registrations", redis, limit=2)
    try:
        await limiter.hit("10.0.0.1", START)
        await limiter.hit("10.0.0.1", START)
        with pytest.raises(TooManyAttempts):
            await limiter.hit("10.0.0.1", START)
        await limiter.hit("10.0.0.2", START)  # another key, its own count
        assert limiter.degraded
        assert limiter.fallbacks == 1
    finally:
        await limiter.close()
        await redis.aclose()
    assert caplog.text.count("rate limits count in this process only") == 1


@pytest.mark.parametrize(
    ("address", "key"),
    [
        (None, "unknown"),
        ("10.0.0.7", "10.0.0.7"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
        ("::ffff:10.0.0.7", "10.0.0.7"),
        ("not an address", "not an address"),
    ],
)
def test_ipv6_addresses_are_counted_per_64(address, key):
    assert rate_limit.address_key(address) == key


async def test_check_refuses_at_the_limit_without_counting_or_storing():
    limiter = MemoryRateLimiter("login-addresses", limit=2, window=300)
    for _ in range(5):
        await limiter.check("10.0.0.1", START)
    assert limiter.tracked_keys == 0
    assert await limiter.add("10.0.0.1", START) == 1
    await limiter.check("10.0.0.1", START)
    assert await limiter.add("10.0.0.1", START) == 2
    with pytest.raises(TooManyAttempts) as refused:
        await limiter.check("10.0.0.1", START)
    assert refused.value.retry_after == 290
    await limiter.check("10.0.0.1", START + timedelta(seconds=290))  # the next window
    await limiter.reset("10.0.0.1", START)
    await limiter.check("10.0.0.1", START)
    assert limiter.tracked_keys == 0


async def test_subtract_takes_one_back_never_below_zero():
    limiter = MemoryRateLimiter("login-addresses", limit=2, window=300)
    await limiter.subtract("10.0.0.1", START)
    assert limiter.tracked_keys == 0
    assert await limiter.add("10.0.0.1", START) == 1
    await limiter.subtract("10.0.0.1", START)
    await limiter.subtract("10.0.0.1", START)
    assert await limiter.add("10.0.0.1", START) == 1
    await limiter.subtract("10.0.0.1", START + timedelta(seconds=300))  # another window
    assert await limiter.add("10.0.0.1", START) == 2


async def test_an_unreachable_redis_keeps_sign_in_counts_in_this_process():
    redis = redis_client("redis://127.0.0.1:1/0")
    assert redis is not None
    limiter = RedisRateLimiter("login-addresses", redis, limit=1)
    before = fallback_counts()[Fallback.RATE_LIMIT]
    try:
        await limiter.check("10.0.0.1", START)
        assert await limiter.add("10.0.0.1", START) == 1
        with pytest.raises(TooManyAttempts):
            await limiter.check("10.0.0.1", START)
        await limiter.subtract("10.0.0.1", START)
        await limiter.check("10.0.0.1", START)
        await limiter.add("10.0.0.1", START)
        await limiter.reset("10.0.0.1", START)
        assert await limiter.count("10.0.0.1", START) == 0
    finally:
        await limiter.close()
        await redis.aclose()
    # Counted once per switch into the process (the log line is rate-limited per kind).
    assert fallback_counts()[Fallback.RATE_LIMIT] - before == 1


@pytest.mark.parametrize(
    ("key", "site"),
    [
        ("2001:db8:1:2::/64", "2001:db8:1::/48"),
        ("2001:db8:1:ffff::/64", "2001:db8:1::/48"),
        ("10.0.0.7", None),
        ("unknown", None),
        ("not an address/64", None),
    ],
)
def test_an_ipv6_64_belongs_to_its_48(key, site):
    assert rate_limit.site_key(key) == site


def address_limiter(limit: int) -> rate_limit.AddressRateLimiter:
    return rate_limit.address_rate_limiter("registrations", limit=limit, redis=None, window=60)


async def test_the_64s_of_one_48_share_a_wider_limit():
    limiter = address_limiter(2)  # 2 per /64, 32 per /48
    for subnet in range(16):
        for _ in range(2):
            await limiter.hit(f"2001:db8:1:{subnet:x}::/64", START)
    for fresh in ("2001:db8:1:ff::/64", "2001:db8:1:fff::/64"):
        with pytest.raises(TooManyAttempts):
            await limiter.check(fresh, START)
        with pytest.raises(TooManyAttempts):
            await limiter.hit(fresh, START)
    await limiter.hit("2001:db8:2:0::/64", START)  # another /48
    assert await limiter.count("2001:db8:2:0::/64", START) == 1
    await limiter.hit("2001:db8:1:0::/64", START + timedelta(seconds=50))  # the next window


async def test_count_reports_a_throttled_site_only_to_a_64_that_has_a_count_itself():
    limiter = address_limiter(2)
    for subnet in range(16):
        for _ in range(2):
            await limiter.add(f"2001:db8:1:{subnet:x}::/64", START)
    clean, failed = "2001:db8:1:ff::/64", "2001:db8:1:fe::/64"
    assert await limiter.count(clean, START) == 0  # heard: auth/throttle.py checks its proof
    await limiter.add(failed, START)
    assert await limiter.count(failed, START) == 2  # the limit: refused like its site


async def test_one_64_alone_cannot_use_up_its_48():
    limiter = address_limiter(2)
    for _ in range(100):
        with contextlib.suppress(TooManyAttempts):
            await limiter.hit("2001:db8:1:2::/64", START)
    assert await limiter.site.count("2001:db8:1::/48", START) == 2
    await limiter.hit("2001:db8:1:3::/64", START)  # its neighbours are heard


async def test_ipv4_addresses_have_no_wider_count():
    limiter = address_limiter(2)
    for last in range(40):
        await limiter.hit(f"10.0.0.{last}", START)
        await limiter.hit(f"10.0.0.{last}", START)
    assert limiter.site.tracked_keys == 0  # type: ignore[union-attr]
    assert limiter.tracked_keys == 40


async def test_subtract_takes_back_from_both_and_reset_keeps_the_sites_count():
    limiter = address_limiter(1)  # 1 per /64, 16 per /48
    key = "2001:db8:1:2::/64"
    assert await limiter.add(key, START) == 1
    await limiter.subtract(key, START)
    assert await limiter.count(key, START) == 0
    assert await limiter.site.count("2001:db8:1::/48", START) == 0
    await limiter.add(key, START)
    await limiter.reset(key, START)
    assert await limiter.count(key, START) == 0
    assert await limiter.site.count("2001:db8:1::/48", START) == 1
