"""Telling every process that something it keeps in memory changed: clients'
credentials (each credential cache drops its entries) and the signing keys (each server
reloads its key ring).

On one host, bumping an epoch file reaches every worker and the CLI; across hosts, a
Redis channel carries the same news when ``APPWARD_REDIS_URL`` is set. Channels are
named after the Redis database, since Redis delivers a message to subscribers of every
database: two deployments sharing one Redis server must not hear each other.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.asyncio.client import PubSub

from appward.auth.credential_cache import CredentialCache
from appward.auth.epoch_file import EpochFile
from appward.fallback import Fallback, fallback_used

CHANNEL = "appward:credentials-changed"
KEYS_CHANNEL = "appward:signing-keys-changed"
# What a server does when the signing keys changed (web/app.py reloads its key ring).
OnKeysChanged = Callable[[], Awaitable[None]]


def channel(redis: aioredis.Redis, name: str) -> str:
    """Returns ``name`` within the Redis database ``redis`` uses."""
    database = redis.connection_pool.connection_kwargs.get("db", 0)
    return f"{name}:{database}"


# The subscription is checked with a PING this often (seconds); a Redis silent for
# SILENT_PINGS of them is taken for lost.
PING_INTERVAL = 1.0
SILENT_PINGS = 3
log = logging.getLogger("appward.auth")


async def announce_change(
    client_ids: Iterable[str],
    *,
    epoch: EpochFile,
    redis: aioredis.Redis | None,
    local: CredentialCache | None = None,
) -> None:
    """Drops cached verifications of ``client_ids`` everywhere. Call after commit, with
    the process's one Redis client (a connection from its pool, not a new one)."""
    ids = sorted(set(client_ids))
    if not ids:
        return
    if local is not None:
        local.invalidate(ids)
    epoch.bump(ids)
    if redis is None:
        return
    try:
        await redis.publish(channel(redis, CHANNEL), json.dumps(ids))
    except (aioredis.RedisError, OSError) as exc:
        # The change is committed: failing now would report a done change as failed.
        # Other hosts keep their cached verifications until they expire: within
        # APPWARD_CREDENTIAL_CACHE_FALLBACK_TTL if they lost Redis too (listen_for_changes),
        # else APPWARD_CREDENTIAL_CACHE_TTL.
        log.warning(
            "credential change not announced on Redis (%s): other hosts' caches keep "
            "their entries until they expire",
            type(exc).__name__,
        )


async def announce_key_change(*, epoch: EpochFile, redis: aioredis.Redis | None) -> None:
    """Tells every server that the signing keys changed. Call after commit."""
    epoch.bump()
    if redis is None:
        return
    try:
        await redis.publish(channel(redis, KEYS_CHANNEL), b"1")
    except (aioredis.RedisError, OSError) as exc:
        log.warning(
            "signing key change not announced on Redis (%s): other hosts reload their "
            "key rings at their next periodic reload",
            type(exc).__name__,
        )


async def listen_for_changes(
    redis: aioredis.Redis,
    cache: CredentialCache,
    on_keys_changed: OnKeysChanged | None = None,
    *,
    ping_interval: float = PING_INTERVAL,
) -> None:
    """Runs until cancelled: every credential change announced on Redis drops this
    process's cache, every signing key change runs ``on_keys_changed``. Holds one
    connection of ``redis``'s pool while subscribed.

    Whenever this process may miss an announcement (before the subscription is
    confirmed, after Redis dropped it or went silent) the cache keeps entries for its
    short lifetime only: a change made on another host then reaches this one within
    APPWARD_CREDENTIAL_CACHE_FALLBACK_TTL, never later; the key ring is reloaded when the
    subscription is confirmed again."""
    cache.use_short_lifetime()
    channels = _Channels(channel(redis, CHANNEL), channel(redis, KEYS_CHANNEL), on_keys_changed)
    while True:
        try:
            async with redis.pubsub() as pubsub:
                await pubsub.subscribe(channels.credentials, channels.keys)
                await _follow(pubsub, cache, channels, ping_interval)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 (keep listening through Redis outages)
            if not cache.short_lived:
                fallback_used(Fallback.CACHE_INVALIDATION, exc)
                cache.use_short_lifetime()
            await asyncio.sleep(ping_interval)


@dataclass(frozen=True, slots=True)
class _Channels:
    credentials: str
    keys: str
    on_keys_changed: OnKeysChanged | None

    async def keys_changed(self) -> None:
        if self.on_keys_changed is not None:
            await self.on_keys_changed()


async def _follow(
    pubsub: PubSub, cache: CredentialCache, channels: _Channels, ping_interval: float
) -> None:
    """Reads the subscription until it fails. A Redis that stops answering without
    closing the connection (a hung server, a lost network) sends nothing, not even the
    answer to a PING: silence for SILENT_PINGS pings counts as a lost connection."""
    loop = asyncio.get_running_loop()
    heard = pinged = loop.time()
    while True:
        message = await pubsub.get_message(timeout=ping_interval)
        now = loop.time()
        if message is not None:
            heard = now
            await _take(message, cache, channels)
        elif now - heard > SILENT_PINGS * ping_interval:
            raise TimeoutError(f"no answer from Redis for {now - heard:.1f} s")
        if now - pinged >= ping_interval:
            await pubsub.ping()
            pinged = now


async def _take(message: dict[str, object], cache: CredentialCache, channels: _Channels) -> None:
    kind, about_keys = message.get("type"), _channel_of(message) == channels.keys
    if kind == "subscribe":
        # Heard from here on; anything before it may have been missed.
        if about_keys:
            await channels.keys_changed()
        else:
            cache.invalidate()
            cache.use_full_lifetime()
    elif kind == "message":
        if about_keys:
            await channels.keys_changed()
        else:
            cache.invalidate(announced_ids(message.get("data")))


def _channel_of(message: dict[str, object]) -> str:
    name = message.get("channel")
    return name.decode() if isinstance(name, bytes) else str(name)


def announced_ids(data: object) -> list[str]:
    """Returns the client_ids an announcement names; none (everything changed, as far as
    a listener can tell) when it is not the JSON list announce_change publishes."""
    try:
        ids = json.loads(data) if isinstance(data, str | bytes) else None
    except ValueError:
        return []
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        return []
    return ids
