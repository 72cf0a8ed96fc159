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

import redis.asyncio as aioredis

from appward.auth.credential_cache import CredentialCache, EpochFile

CHANNEL = "appward:credentials-changed"
KEYS_CHANNEL = "appward:signing-keys-changed"
# What a server does when the signing keys changed (web/app.py reloads its key ring).
OnKeysChanged = Callable[[], Awaitable[None]]


def channel(redis: aioredis.Redis, name: str) -> str:
    """Returns ``name`` within the Redis database ``redis`` uses."""
    database = redis.connection_pool.connection_kwargs.get("db", 0)
    return f"{name}:{database}"


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
    epoch.bump()
    if redis is None:
        return
    try:
        await redis.publish(channel(redis, CHANNEL), json.dumps(ids))
    except (aioredis.RedisError, OSError) as exc:
        # The change is committed: failing now would report a done change as failed.
        # Other hosts keep their cached verifications until APPWARD_CREDENTIAL_CACHE_TTL.
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
    redis: aioredis.Redis, cache: CredentialCache, on_keys_changed: OnKeysChanged | None = None
) -> None:
    """Runs until cancelled: every credential change announced on Redis drops this
    process's cache, every signing key change runs ``on_keys_changed``. Holds one
    connection of ``redis``'s pool while subscribed."""
    credentials, keys = channel(redis, CHANNEL), channel(redis, KEYS_CHANNEL)
    while True:
        try:
            async with redis.pubsub() as pubsub:
                await pubsub.subscribe(credentials, keys)
                # A message may have been missed while (re)connecting: start clean.
                cache.invalidate()
                if on_keys_changed is not None:
                    await on_keys_changed()
                async for message in pubsub.listen():
                    if message.get("type") != "message":
                        continue
                    if _channel_of(message) == keys:
                        if on_keys_changed is not None:
                            await on_keys_changed()
                    else:
                        cache.invalidate(announced_ids(message.get("data")))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 (keep listening through Redis outages)
            log.warning("change listener lost Redis (%s); retrying", type(exc).__name__)
            cache.invalidate()
            await asyncio.sleep(1)


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
