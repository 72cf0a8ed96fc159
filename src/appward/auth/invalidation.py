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
from redis.asyncio.client import PubSub

from appward.auth.credential_cache import CredentialCache, EpochFile
from appward.fallback import Fallback, fallback_used

CHANNEL = "appward:credentials-changed"
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
    epoch.bump()
    if redis is None:
        return
    try:
        await redis.publish(CHANNEL, json.dumps(ids))
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


async def listen_for_changes(
    redis: aioredis.Redis, cache: CredentialCache, *, ping_interval: float = PING_INTERVAL
) -> None:
    """Runs until cancelled: every change announced on Redis drops this process's cache.
    Holds one connection of ``redis``'s pool while subscribed.

    Whenever this process may miss an announcement (before the subscription is
    confirmed, after Redis dropped it or went silent) the cache keeps entries for its
    short lifetime only: a change made on another host then reaches this one within
    APPWARD_CREDENTIAL_CACHE_FALLBACK_TTL, never later."""
    cache.use_short_lifetime()
    while True:
        try:
            async with redis.pubsub() as pubsub:
                await pubsub.subscribe(CHANNEL)
                await _follow(pubsub, cache, ping_interval)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 (keep listening through Redis outages)
            if not cache.short_lived:
                fallback_used(Fallback.CACHE_INVALIDATION, exc)
                cache.use_short_lifetime()
            await asyncio.sleep(ping_interval)


async def _follow(pubsub: PubSub, cache: CredentialCache, ping_interval: float) -> None:
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
            kind = message.get("type")
            if kind == "subscribe":
                # Heard from here on; anything before it may have been missed.
                cache.invalidate()
                cache.use_full_lifetime()
            elif kind == "message":
                cache.invalidate()
        elif now - heard > SILENT_PINGS * ping_interval:
            raise TimeoutError(f"no answer from Redis for {now - heard:.1f} s")
        if now - pinged >= ping_interval:
            await pubsub.ping()
            pinged = now
