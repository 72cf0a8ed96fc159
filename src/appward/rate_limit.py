"""Fixed-window limits per key (e.g. per source IP): in memory for one process, or in
Redis so that every worker and host shares one count.

Two ways to use a limiter: ``hit`` counts a request and refuses it once over the limit
(every registration request counts); ``check`` refuses without counting, and ``add``
counts without refusing, for limits on outcomes (only a failed sign-in counts, and it
is known only after the password check that ``check`` guards)."""

from __future__ import annotations

import ipaddress
import logging
import math
import time
from collections import OrderedDict
from datetime import datetime
from typing import Protocol

import redis.asyncio as aioredis

from appward.errors import TooManyAttempts
from appward.fallback import Fallback, fallback_used

log = logging.getLogger("appward.rate_limit")
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

    async def count(self, key: str, now: datetime) -> int:
        """Returns this window's count for ``key``, counting nothing."""

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


def seconds_left(now: datetime, window: int) -> int:
    """Returns the seconds left (at least 1) in the ``window``-second window holding ``now``."""
    return _window(now, window)[1]


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
        if await self.count(key, now) >= self.limit:
            raise _refuse(self.name, _window(now, self.window)[1])

    async def count(self, key: str, now: datetime) -> int:
        number, _ = _window(now, self.window)
        seen_window, count = self._counts.get(key, (number, 0))
        return count if seen_window == number else 0

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
    process. ``redis`` is the process's one client, shared with the other users of Redis;
    whoever made it closes it.

    If Redis cannot be reached the limit still holds, counted in this process instead (a
    MemoryRateLimiter of the same limit): never failing open, never failing the request.
    The switch is logged once each way, and Redis is not asked again for RETRY_AFTER
    seconds, so an outage does not add a connection attempt to every request.
    """

    RETRY_AFTER = 5.0  # seconds of counting in process before Redis is tried again

    def __init__(self, name: str, redis: aioredis.Redis, *, limit: int, window: int = 60) -> None:
        self.name, self.limit, self.window = name, limit, window
        self._redis = redis
        self._fallback = MemoryRateLimiter(name, limit=limit, window=window)
        self._down_until = 0.0  # monotonic time before which Redis is not asked
        self.fallbacks = 0  # how many times counting moved into this process

    def _key(self, key: str, number: int) -> str:
        return f"appward:rate:{self.name}:{number}:{key}"

    @property
    def degraded(self) -> bool:
        """Whether counts are kept in this process for now (Redis was unreachable)."""
        return self._down_until > 0.0

    async def hit(self, key: str, now: datetime) -> None:
        if await self.add(key, now) > self.limit:
            raise _refuse(self.name, _window(now, self.window)[1])

    async def check(self, key: str, now: datetime) -> None:
        if await self.count(key, now) >= self.limit:
            raise _refuse(self.name, _window(now, self.window)[1])

    async def count(self, key: str, now: datetime) -> int:
        if self._use_fallback():
            return await self._fallback.count(key, now)
        try:
            count = await self._redis.get(self._key(key, _window(now, self.window)[0]))
        except (aioredis.RedisError, OSError) as exc:
            self._unavailable(exc)
            return await self._fallback.count(key, now)
        self._available()
        return 0 if count is None else int(count)

    async def add(self, key: str, now: datetime) -> int:
        if self._use_fallback():
            return await self._fallback.add(key, now)
        redis_key = self._key(key, _window(now, self.window)[0])
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.incr(redis_key)
                pipe.expire(redis_key, self.window * 2)
                count, _ = await pipe.execute()
        except (aioredis.RedisError, OSError) as exc:
            self._unavailable(exc)
            return await self._fallback.add(key, now)
        self._available()
        return int(count)

    async def reset(self, key: str, now: datetime) -> None:
        await self._fallback.reset(key, now)
        if self._use_fallback():
            return
        try:
            await self._redis.delete(self._key(key, _window(now, self.window)[0]))
        except (aioredis.RedisError, OSError) as exc:
            self._unavailable(exc)

    async def subtract(self, key: str, now: datetime) -> None:
        if self._use_fallback():
            await self._fallback.subtract(key, now)
            return
        try:
            redis_key = self._key(key, _window(now, self.window)[0])
            await self._redis.eval(_SUBTRACT, 1, redis_key)  # type: ignore[misc]
        except (aioredis.RedisError, OSError) as exc:
            self._unavailable(exc)
            await self._fallback.subtract(key, now)

    def _use_fallback(self) -> bool:
        return self._down_until > 0.0 and time.monotonic() < self._down_until

    def _unavailable(self, exc: Exception) -> None:
        if self._down_until == 0.0:
            self.fallbacks += 1
            # Logged (at most a line per kind every few seconds) and counted.
            fallback_used(Fallback.RATE_LIMIT, exc, name=self.name)
        self._down_until = time.monotonic() + self.RETRY_AFTER

    def _available(self) -> None:
        if self._down_until > 0.0:
            self._down_until = 0.0
            log.warning("rate limit %s: Redis answers again; counting there", self.name)

    async def close(self) -> None:
        """Releases the in-process counts; the shared client outlives the limiter."""
        await self._fallback.close()


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


def site_key(key: str) -> str | None:
    """Returns the IPv6 /48 holding the /64 ``key`` (an ``address_key``), or None for a
    key that is not an IPv6 /64. A /48 is the usual assignment to one site: its holder
    can move to any of 65,536 /64s, each with a fresh count of its own."""
    if not key.endswith("/64"):
        return None
    try:
        network = ipaddress.IPv6Network(key)
    except ValueError:
        return None
    return str(network.supernet(new_prefix=48))


class AddressRateLimiter:
    """A limit per source address (``address_key``: an IPv4 address, or an IPv6 /64),
    plus, for IPv6, a wider one per /48 of ``limit * SITE_FACTOR``: moving between the
    /64s of one site does not reset the count. Each side is a limiter of its own, in
    this process or in Redis. ``check`` and ``hit`` refuse on either, and the site counts
    only what the address's own limit let through (one /64 alone cannot use up its /48's
    budget). ``count`` is the address's own count, or the full limit once its site has
    used up the wider one and the address has a count of its own: a caller comparing it
    with ``limit`` (client authentication, auth/throttle.py) still hears a clean /64 of
    a throttled site once, so a tenant sharing a cloud's /48 with a guesser keeps
    authenticating with its right secret, while each /64 the guesser moves to costs it
    a failure that stops that /64 too."""

    SITE_FACTOR = 16  # a /48 gets the budget of 16 /64s: many hosts, not one per /64

    def __init__(self, address: RateLimiter, site: RateLimiter) -> None:
        self.name, self.limit, self.window = address.name, address.limit, address.window
        self.address, self.site = address, site

    @property
    def tracked_keys(self) -> int:
        return int(getattr(self.address, "tracked_keys", 0))

    async def hit(self, key: str, now: datetime) -> None:
        await self.address.hit(key, now)
        wider = site_key(key)
        if wider is not None:
            await self.site.hit(wider, now)

    async def check(self, key: str, now: datetime) -> None:
        wider = site_key(key)
        if wider is not None:
            await self.site.check(wider, now)
        await self.address.check(key, now)

    async def count(self, key: str, now: datetime) -> int:
        own = await self.address.count(key, now)
        wider = site_key(key)
        if own >= self.limit or own == 0 or wider is None:
            return own
        if await self.site.count(wider, now) >= self.site.limit:
            return self.limit
        return own

    async def add(self, key: str, now: datetime) -> int:
        wider = site_key(key)
        if wider is not None:
            await self.site.add(wider, now)
        return await self.address.add(key, now)

    async def reset(self, key: str, now: datetime) -> None:
        # The site keeps its count: one good sign-in must not wipe its neighbours' failures.
        await self.address.reset(key, now)

    async def subtract(self, key: str, now: datetime) -> None:
        wider = site_key(key)
        if wider is not None:
            await self.site.subtract(wider, now)
        await self.address.subtract(key, now)

    async def close(self) -> None:
        await self.address.close()
        await self.site.close()


def rate_limiter(
    name: str, *, limit: int, redis: aioredis.Redis | None, window: int = 60
) -> MemoryRateLimiter | RedisRateLimiter:
    """Returns a limiter counting in ``redis`` when there is one, else in this process."""
    if redis is not None:
        return RedisRateLimiter(name, redis, limit=limit, window=window)
    return MemoryRateLimiter(name, limit=limit, window=window)


def address_rate_limiter(
    name: str, *, limit: int, redis: aioredis.Redis | None, window: int = 60
) -> AddressRateLimiter:
    """Returns the limit per source address (``address_key``), with its /48 limit for IPv6."""
    return AddressRateLimiter(
        rate_limiter(name, limit=limit, redis=redis, window=window),
        rate_limiter(
            f"{name}-sites",
            limit=limit * AddressRateLimiter.SITE_FACTOR,
            redis=redis,
            window=window,
        ),
    )
