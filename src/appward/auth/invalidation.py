"""Telling every process's credential cache that credentials changed.

On one host, bumping the epoch file reaches every worker and the CLI; across hosts,
a Redis channel carries the same news when ``APPWARD_REDIS_URL`` is set.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable

import redis.asyncio as aioredis

from appward.auth.credential_cache import CredentialCache, EpochFile

CHANNEL = "appward:credentials-changed"
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
        await redis.publish(CHANNEL, json.dumps(ids))
    except (aioredis.RedisError, OSError) as exc:
        # The change is committed: failing now would report a done change as failed.
        # Other hosts keep their cached verifications until APPWARD_CREDENTIAL_CACHE_TTL.
        log.warning(
            "credential change not announced on Redis (%s): other hosts' caches keep "
            "their entries until they expire",
            type(exc).__name__,
        )


async def listen_for_changes(redis: aioredis.Redis, cache: CredentialCache) -> None:
    """Runs until cancelled: every change announced on Redis drops this process's cache.
    Holds one connection of ``redis``'s pool while subscribed."""
    while True:
        try:
            async with redis.pubsub() as pubsub:
                await pubsub.subscribe(CHANNEL)
                # A message may have been missed while (re)connecting: start clean.
                cache.invalidate()
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        cache.invalidate(announced_ids(message.get("data")))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 (keep listening through Redis outages)
            log.warning("credential cache listener lost Redis (%s); retrying", type(exc).__name__)
            cache.invalidate()
            await asyncio.sleep(1)


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
