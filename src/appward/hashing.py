"""Hashing shared by the domain: argon2id for secrets and passwords, SHA-256 for tokens.

Client secrets and user passwords are verified with argon2id (through argon2-cffi, never
by hand) in bounded, niced worker threads; authorization codes, refresh tokens and
registration tokens carry 256 random bits, so a plain SHA-256 is enough to store them.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import threading
from typing import Protocol

import anyio
from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from appward.config import Argon2Params, SecretPolicy
from appward.errors import TemporarilyUnavailable
from appward.metrics import NO_METRICS, Metrics


def token_hash(token: str) -> str:
    """Returns the SHA-256 hex digest under which a code or token is stored."""
    return hashlib.sha256(token.encode()).hexdigest()


class Hasher(Protocol):
    def hash(self, secret: str) -> str: ...

    def verify(self, hashed: str, secret: str) -> bool: ...


class Argon2Hasher:
    """argon2id through argon2-cffi; verification compares in constant time."""

    def __init__(self, params: Argon2Params) -> None:
        self._hasher = PasswordHasher(
            time_cost=params.time_cost,
            memory_cost=params.memory_cost_kib,
            parallelism=params.parallelism,
            type=Type.ID,
        )

    def hash(self, secret: str) -> str:
        return self._hasher.hash(secret)

    def verify(self, hashed: str, secret: str) -> bool:
        try:
            return self._hasher.verify(hashed, secret)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False


LOW_PRIORITY = 10  # nice value of threads running argon2


class SecretVerifier:
    """Runs argon2 verifications in worker threads, never more than a bound at once.

    The bound keeps a flood of guesses from taking every thread and core: excess
    verifications wait their turn instead of piling onto the CPU.
    """

    def __init__(
        self,
        hasher: Hasher,
        policy: SecretPolicy,
        *,
        metrics: Metrics = NO_METRICS,
        pool: str = "clients",
    ) -> None:
        self.hasher = hasher
        self.policy = policy
        self.metrics = metrics
        self.pool = pool  # the metrics' name for this bound
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
        statistics = self.limiter.statistics()
        if statistics.tasks_waiting >= self.policy.max_waiting_verifications:
            raise TemporarilyUnavailable(
                "too many client authentications at once; retry shortly",
                detail="argon2 verification queue full",
            )
        if self.metrics.enabled:
            # This one is about to take a free slot, or else to wait for one.
            full = statistics.borrowed_tokens >= statistics.total_tokens
            self._note_queue(waiting=int(full), running=int(not full))
        try:
            return await anyio.to_thread.run_sync(
                _verify_at_low_priority, self.hasher, hashed, presented, limiter=self.limiter
            )
        finally:
            if self.metrics.enabled:
                self._note_queue()

    def _note_queue(self, waiting: int = 0, running: int = 0) -> None:
        statistics = self.limiter.statistics()
        self.metrics.argon2_queue(
            self.pool, statistics.tasks_waiting + waiting, statistics.borrowed_tokens + running
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
