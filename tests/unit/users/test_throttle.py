import contextlib
from datetime import UTC, datetime, timedelta

import pytest

from appward import rate_limit
from appward.errors import TooManyAttempts
from appward.rate_limit import MemoryRateLimiter
from appward.users.throttle import LoginThrottle, username_key

pytestmark = pytest.mark.anyio
NOW = datetime(2026, 6, 1, tzinfo=UTC)  # the start of a five-minute window


def throttle(per_address: int = 10, per_username: int = 100) -> LoginThrottle:
    return LoginThrottle(
        by_address=MemoryRateLimiter("login-addresses", limit=per_address, window=300),
        by_username=MemoryRateLimiter("login-usernames", limit=per_username, window=300),
    )


async def test_one_address_guessing_many_usernames_is_throttled():
    t = throttle(per_address=3)
    for i in range(3):
        await t.attempt(f"user{i}", "127.0.0.5", NOW)
    with pytest.raises(TooManyAttempts) as refused:
        await t.attempt("someone-else", "127.0.0.5", NOW)
    assert refused.value.detail == "throttled on address"
    await t.attempt("someone-else", "127.0.0.6", NOW)  # another address is not affected


async def test_attempts_count_before_the_password_check():
    """Guesses sent all at once are each counted on arrival: the limit holds however many
    are in flight (an attacker's probe had 60 checked against a limit of 10)."""
    t = throttle(per_address=10)
    for i in range(10):
        await t.attempt(f"user{i}", "127.0.0.5", NOW)  # none of them answered yet
    with pytest.raises(TooManyAttempts):
        await t.attempt("user10", "127.0.0.5", NOW)


async def test_a_success_takes_its_own_attempt_back_but_not_the_failures():
    t = throttle(per_address=3, per_username=100)
    for _ in range(20):  # an office behind one address, everyone signing in fine
        await t.attempt("amy", "127.0.0.5", NOW)
        await t.succeeded("amy", "127.0.0.5", NOW)
    for i in range(2):
        await t.attempt(f"guess{i}", "127.0.0.5", NOW)  # two failures stay counted
    await t.attempt("own-account", "127.0.0.5", NOW)
    await t.succeeded("own-account", "127.0.0.5", NOW)
    await t.attempt("guess2", "127.0.0.5", NOW)
    with pytest.raises(TooManyAttempts):
        await t.attempt("guess3", "127.0.0.5", NOW)


async def test_failures_age_out_of_the_window_and_success_clears_the_username():
    t = throttle(per_address=100, per_username=2)
    await t.attempt("amy", None, NOW)
    await t.attempt("amy", None, NOW)
    with pytest.raises(TooManyAttempts, match="try again in 5 minute") as refused:
        await t.attempt("AMY", None, NOW)
    assert refused.value.detail == "throttled on username"
    assert refused.value.retry_after == 300
    await t.attempt("amy", None, NOW + timedelta(minutes=5))
    await t.succeeded("Amy", None, NOW + timedelta(minutes=5))
    await t.attempt("amy", None, NOW + timedelta(minutes=5))
    await t.attempt("amy", None, NOW + timedelta(minutes=5))


async def test_a_throttled_address_stores_nothing_more_and_counts_stay_within_the_bound(
    monkeypatch,
):
    """Once an address is throttled, its attempts with new usernames store nothing; and
    20,000 distinct 10 kB usernames from 20,000 addresses are held under fixed-size keys,
    at most MAX_TRACKED_KEYS of them."""
    monkeypatch.setattr(rate_limit, "MAX_TRACKED_KEYS", 1000)
    t = throttle(per_address=3)
    for i in range(1_000):
        with contextlib.suppress(TooManyAttempts):
            await t.attempt(f"{i:05d}" + "x" * 10_000, "127.0.0.5", NOW)
    assert t.by_address.tracked_keys == 1
    assert t.by_username.tracked_keys == 3
    t = throttle()
    for i in range(20_000):
        await t.attempt(f"{i:05d}" + "x" * 10_000, f"10.0.{i // 250}.{i % 250}", NOW)
    assert t.by_address.tracked_keys == t.by_username.tracked_keys == 1000
    assert {len(k) for k in t.by_username._counts} == {32}


def test_username_keys_are_fixed_size_case_folded_digests():
    assert username_key("Alice") == username_key("alice")
    assert username_key("alice") != username_key("alice2")
    assert len(username_key("a" * 16_000)) == len(username_key("a")) == 32
    assert "alice" not in username_key("alice")
