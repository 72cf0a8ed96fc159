"""client_secret_basic and client_secret_post (RFC 6749 §2.3.1) against argon2id hashes."""

from __future__ import annotations

import contextlib
import os
import secrets
import threading
from datetime import datetime, timedelta

import anyio
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from appward.clients.models import Client, ClientSecret
from appward.clients.secrets import Hasher, secret_id_of
from appward.clock import Clock
from appward.config import SecretPolicy
from appward.errors import InvalidClient, TemporarilyUnavailable

LOW_PRIORITY = 10  # nice value of threads running argon2


class SecretVerifier:
    """Runs argon2 verifications in worker threads, never more than a bound at once.

    The bound keeps a flood of guesses from taking every thread and core: excess
    verifications wait their turn instead of piling onto the CPU.
    """

    def __init__(self, hasher: Hasher, policy: SecretPolicy) -> None:
        self.hasher = hasher
        self.policy = policy
        self._limiter: anyio.CapacityLimiter | None = None
        self._decoy: str | None = None

    @property
    def limiter(self) -> anyio.CapacityLimiter:
        # Created on first use: a limiter belongs to the running event loop.
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self.policy.max_concurrent_verifications)
        return self._limiter

    async def verify(self, hashed: str, presented: str) -> bool:
        """Returns whether ``presented`` matches ``hashed``. Raises TemporarilyUnavailable
        rather than queue behind too many verifications already waiting (a flood of
        guesses): verified credentials are served from the cache meanwhile."""
        if self.limiter.statistics().tasks_waiting >= self.policy.max_waiting_verifications:
            raise TemporarilyUnavailable(
                "too many client authentications at once; retry shortly",
                detail="argon2 verification queue full",
            )
        return await anyio.to_thread.run_sync(
            _verify_at_low_priority, self.hasher, hashed, presented, limiter=self.limiter
        )

    async def decoy_hash(self) -> str:
        """Returns a hash to verify against when there is nothing real to check, so a
        miss costs as much time as a hit."""
        if self._decoy is None:
            self._decoy = await anyio.to_thread.run_sync(
                self.hasher.hash, secrets.token_urlsafe(32), limiter=self.limiter
            )
        return self._decoy


def _verify_at_low_priority(hasher: Hasher, hashed: str, presented: str) -> bool:
    """Verifies in a thread niced below the event loop's, so that when guesses flood in,
    the CPU goes first to serving clients whose credentials are already verified (Linux
    nices threads one by one; argon2's own lane threads inherit it)."""
    _lower_this_threads_priority()
    return hasher.verify(hashed, presented)


_niced_threads: set[int] = set()


def _lower_this_threads_priority() -> None:
    thread_id = threading.get_native_id()
    if thread_id in _niced_threads:
        return
    with contextlib.suppress(OSError, AttributeError):
        os.setpriority(os.PRIO_PROCESS, thread_id, LOW_PRIORITY)
    _niced_threads.add(thread_id)


async def verify_client_secret(
    session: AsyncSession,
    client: Client,
    presented: str,
    verifier: SecretVerifier,
    clock: Clock,
) -> ClientSecret:
    """Returns the client's secret record that ``presented`` matches.

    Raises InvalidClient when it matches no usable (unexpired, unrevoked) secret.
    """
    secret_id = secret_id_of(presented)
    if secret_id is None:
        raise InvalidClient(detail="presented secret is not of this server's shape")
    record = await session.scalar(
        select(ClientSecret).where(
            ClientSecret.id == secret_id, ClientSecret.client_pk == client.pk
        )
    )
    now = clock.now()
    if record is None or not record.is_usable(now):
        raise InvalidClient(detail=f"secret {secret_id} unknown, revoked or expired")
    if not await verifier.verify(record.secret_hash, presented):
        raise InvalidClient(detail=f"secret {secret_id} mismatch")
    return record


def use_is_due(record: ClientSecret, now: datetime, resolution: int) -> bool:
    """Returns whether the secret's last_used_at is older than ``resolution`` seconds."""
    last = record.last_used_at
    return last is None or now - last >= timedelta(seconds=resolution)


async def note_secret_use(session: AsyncSession, secret_id: str, now: datetime) -> None:
    """Records a secret's last use, so an admin sees whether a rotated-out secret is still
    in use before revoking it. Callers write it at most once a minute per secret."""
    await session.execute(
        update(ClientSecret).where(ClientSecret.id == secret_id).values(last_used_at=now)
    )
