"""Fixed-window limits per key (e.g. per source IP): in memory for one process, or in
Redis so that every worker and host shares one count.

Two ways to use a limiter: ``hit`` counts a request and refuses it once over the limit
(every registration request counts); ``check`` refuses without counting, and ``add``
counts without refusing, for limits on outcomes (only a failed sign-in counts, and it
is known only after the password check that ``check`` guards)."""

from __future__ import annotations

import ipaddress
import math
from collections import OrderedDict
from datetime import datetime
from typing import Protocol

import redis.asyncio as aioredis

from appward.errors import TooManyAttempts
from appward.fallback import Fallback, fallback_used

MAX_TRACKED_KEYS = 100_000


class RateLimiter(Protocol):
    name: str
    limit: int
    window: int

    async def hit(self, key: str, now: datetime) -> None:
        """Counts one request for ``key``. Raises TooManyAttempts once over the limit."""

    async def check(self, key: str, now: datetime) -> None:
        """Raises TooManyAttempts if ``key`` has used up its limit in this window. Counts
        nothing, and stores nothing for a key not seen before."""

    async def add(self, key: str, now: datetime) -> int:
        """Counts one for ``key``, never refusing. Returns the count in this window."""

    async def reset(self, key: str, now: datetime) -> None:
        """Forgets this window's count for ``key``."""

    async def subtract(self, key: str, now: datetime) -> None:
        """Takes one back off this window's count for ``key`` (never below zero)."""

    async def close(self) -> None:
        """Releases what the limiter holds itself (the Redis client is its owner's)."""


def _window(now: datetime, seconds: int) -> tuple[int, int]:
    """Returns the current window's number and the seconds left in it (at least 1)."""
    stamp = now.timestamp()
    number = int(stamp // seconds)
    return number, max(1, math.ceil((number + 1) * seconds - stamp))


def _refuse(what: str, wait: int) -> TooManyAttempts:
    return TooManyAttempts(f"too many {what}; retry in {wait} s", retry_after=wait)


class MemoryRateLimiter:
    """Counts in this process only: with several workers, each allows ``limit``. Holds
    at most MAX_TRACKED_KEYS keys, forgetting the least recently counted first."""

    def __init__(self, name: str, *, limit: int, window: int = 60) -> None:
        self.name, self.limit, self.window = name, limit, window
        self._counts: OrderedDict[str, tuple[int, int]] = OrderedDict()

    @property
    def tracked_keys(self) -> int:
        return len(self._counts)

    async def hit(self, key: str, now: datetime) -> None:
        if await self.add(key, now) > self.limit:
            raise _refuse(self.name, _window(now, self.window)[1])

    async def check(self, key: str, now: datetime) -> None:
        number, left = _window(now, self.window)
        seen_window, count = self._counts.get(key, (number, 0))
        if seen_window == number and count >= self.limit:
            raise _refuse(self.name, left)

    async def add(self, key: str, now: datetime) -> int:
        number, _ = _window(now, self.window)
        seen_window, count = self._counts.pop(key, (number, 0))
        count = count + 1 if seen_window == number else 1
        self._counts[key] = (number, count)
        while len(self._counts) > MAX_TRACKED_KEYS:
            self._counts.popitem(last=False)  # the least recently counted key
        return count

    async def reset(self, key: str, now: datetime) -> None:
        self._counts.pop(key, None)

    async def subtract(self, key: str, now: datetime) -> None:
        number, _ = _window(now, self.window)
        seen_window, count = self._counts.get(key, (number, 0))
        if seen_window == number and count > 0:
            self._counts[key] = (number, count - 1)

    async def close(self) -> None:
        self._counts.clear()


# DECR only a count that exists and is above zero, in one step: a missing key must not
# come back as -1 (with no expiry).
_SUBTRACT = """
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
if count > 0 then return redis.call('DECR', KEYS[1]) end
return 0
"""


class RedisRateLimiter:
    """One count per key and window in Redis (INCR with an expiry), shared by every
    process. While Redis cannot answer, each process counts on its own (a
    MemoryRateLimiter of the same limit, noted by fallback.fallback_used): neither open
    (no limit at all) nor closed (a registration endpoint or a sign-in page that refuses
    everyone on a cache outage is a worse outage). With N processes a caller may then get
    up to N times the limit. ``redis`` is the process's one client, shared with the other
    users of Redis; whoever made it closes it."""

    def __init__(self, name: str, redis: aioredis.Redis, *, limit: int, window: int = 60) -> None:
        self.name, self.limit, self.window = name, limit, window
        self._redis = redis
        self._local = MemoryRateLimiter(name, limit=limit, window=window)

    def _key(self, key: str, number: int) -> str:
        return f"appward:rate:{self.name}:{number}:{key}"

    async def hit(self, key: str, now: datetime) -> None:
        if await self.add(key, now) > self.limit:
            raise _refuse(self.name, _window(now, self.window)[1])

    async def check(self, key: str, now: datetime) -> None:
        number, left = _window(now, self.window)
        try:
            count = await self._redis.get(self._key(key, number))
        except (aioredis.RedisError, OSError) as exc:
            self._unavailable(exc)
            await self._local.check(key, now)
            return
        if count is not None and int(count) >= self.limit:
            raise _refuse(self.name, left)

    async def add(self, key: str, now: datetime) -> int:
        redis_key = self._key(key, _window(now, self.window)[0])
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.incr(redis_key)
                pipe.expire(redis_key, self.window * 2)
                count, _ = await pipe.execute()
        except (aioredis.RedisError, OSError) as exc:
            self._unavailable(exc)
            return await self._local.add(key, now)
        return int(count)

    async def reset(self, key: str, now: datetime) -> None:
        try:
            await self._redis.delete(self._key(key, _window(now, self.window)[0]))
        except (aioredis.RedisError, OSError) as exc:
            self._unavailable(exc)
            await self._local.reset(key, now)

    async def subtract(self, key: str, now: datetime) -> None:
        try:
            redis_key = self._key(key, _window(now, self.window)[0])
            await self._redis.eval(_SUBTRACT, 1, redis_key)  # type: ignore[misc]
        except (aioredis.RedisError, OSError) as exc:
            self._unavailable(exc)
            await self._local.subtract(key, now)

    def _unavailable(self, exc: Exception) -> None:
        fallback_used(Fallback.RATE_LIMIT, exc, name=self.name)

    async def close(self) -> None:
        """Forgets the outage counts; the shared client outlives the limiter."""
        await self._local.close()


def address_key(address: str | None) -> str:
    """Returns what a request from ``address`` is counted under: the address itself, or
    for IPv6 its /64, since one host usually holds a whole /64 to pick from."""
    if not address:
        return "unknown"
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def rate_limiter(
    name: str, *, limit: int, redis: aioredis.Redis | None, window: int = 60
) -> MemoryRateLimiter | RedisRateLimiter:
    """Returns a limiter counting in ``redis`` when there is one, else in this process."""
    if redis is not None:
        return RedisRateLimiter(name, redis, limit=limit, window=window)
    return MemoryRateLimiter(name, limit=limit, window=window)
