"""A short-lived, bounded, in-process memory of client secrets already verified.

argon2id costs ~100 ms a verification by design; doing one per token request would cap
the server at a dozen requests a second. Instead, a secret that verified is remembered
for ``ttl`` seconds under keyed BLAKE2b(process key, client_id, secret): the key is random
per process and never leaves memory, so the cache holds nothing a stolen database or a
memory-less attacker could use, and argon2id stays the only format at rest.

Clients whose proof is no reusable secret (an assertion, a certificate, a public client)
have their proof checked on every request, but the record it is checked against is
remembered the same way, under the client_id alone, so such a request reads nothing to
find the client's keys and rules.

Any change to a client's credentials (rotation, revocation, disable, delete, new policy)
drops that client's entries at once: in this process directly, in other processes on the
host through an epoch file (auth/epoch_file.py), mapped into memory, whose change every
lookup notices, and across hosts through Redis when configured. Only the changed clients'
entries go: a developer who updates their own client over and over (RFC 7592) must not
make every other client pay an argon2id run on its next request.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from appward.auth.epoch_file import EpochFile
from appward.clients import policy
from appward.clients.snapshot import ClientSnapshot
from appward.metrics import NO_METRICS, Metrics

EPOCH_FILE = "credentials.epoch"


@dataclass(slots=True)
class _Entry:
    client: ClientSnapshot
    secret_id: str
    secret_expires_at: datetime | None
    cached_until: datetime
    last_use_noted: datetime
    stamp: int  # the client's drop count when remembered (_stamp)


@dataclass(frozen=True, slots=True)
class CacheHit:
    client: ClientSnapshot
    secret_id: str
    note_use: bool  # whether last_used_at is due for a write


# Told of every drop, with the client_ids it concerns (empty: every client), so caches of
# other things derived from clients (fetched JWK Sets) drop theirs too.
ChangeListener = Callable[[Collection[str]], None]


class CredentialCache:
    def __init__(
        self,
        *,
        ttl: float,
        max_entries: int,
        epoch: EpochFile | None,
        last_used_resolution: float = 60.0,
        fallback_ttl: float | None = None,
        metrics: Metrics = NO_METRICS,
    ) -> None:
        self.ttl = timedelta(seconds=ttl)
        # While announcements from other hosts may be missed (Redis down, or not yet
        # subscribed: auth/invalidation.py), an entry lives this long instead of ttl.
        self.fallback_ttl = min(self.ttl, timedelta(seconds=fallback_ttl or 0))
        self._lifetime = self.ttl
        self.metrics = metrics
        self.max_entries = max_entries
        self._epoch_file = epoch
        self._last_used_resolution = timedelta(seconds=last_used_resolution)
        self._key = secrets.token_bytes(32)
        self._entries: OrderedDict[bytes, _Entry] = OrderedDict()
        self._local_epoch = 0
        self._file_epoch = epoch.read() if epoch else 0
        self._lock = threading.Lock()
        self._failures: OrderedDict[bytes, tuple[int, datetime]] = OrderedDict()
        # How often each client's entries were dropped: an entry remembered under an older
        # count is stale. Dropping one client is then O(1), however many entries it has.
        self._drops: dict[str, int] = {}
        self._inflight: dict[tuple[bytes, tuple[int, int]], asyncio.Future[ClientSnapshot]] = {}
        self._clients: OrderedDict[str, tuple[ClientSnapshot, datetime]] = OrderedDict()
        self._uses_noted: OrderedDict[object, datetime] = OrderedDict()
        self._listeners: list[ChangeListener] = []

    @property
    def enabled(self) -> bool:
        return self.ttl > timedelta(0)

    @property
    def short_lived(self) -> bool:
        """Whether entries live only ``fallback_ttl`` now (use_short_lifetime)."""
        return self._lifetime < self.ttl

    def use_short_lifetime(self) -> None:
        """From now on remembers for ``fallback_ttl`` only, and forgets everything
        remembered until now: called when changes made elsewhere may go unheard."""
        with self._lock:
            self._lifetime = self.fallback_ttl
        self.invalidate()

    def use_full_lifetime(self) -> None:
        """From now on remembers for ``ttl`` again (announcements are heard)."""
        with self._lock:
            self._lifetime = self.ttl

    def _fingerprint(self, client_id: str, secret: str) -> bytes:
        message = client_id.encode() + b"\x00" + secret.encode()
        # Keyed BLAKE2b is a MAC in its own right (RFC 7693 §2.9) and several times cheaper
        # than HMAC-SHA256 through OpenSSL, on a path every token request takes.
        return hashlib.blake2b(message, key=self._key, digest_size=32).digest()

    def epoch(self) -> tuple[int, int]:
        """Returns the current epoch, first dropping everything if another process bumped
        the epoch file since the last look."""
        if self._epoch_file is not None and self._epoch_file.read() != self._file_epoch:
            with self._lock:
                changes = self._epoch_file.changes_since(self._file_epoch)
                self._file_epoch = changes.sequence
                self._drop(changes.client_ids)
            if changes.any:
                self._tell_listeners(changes.client_ids or ())
        return self._local_epoch, self._file_epoch

    def on_change(self, listener: ChangeListener) -> None:
        """Calls ``listener`` whenever this cache drops entries because credentials
        changed, with the client_ids concerned (empty when not known: all of them)."""
        self._listeners.append(listener)

    def _drop(self, client_ids: Collection[str] | None) -> None:
        """Drops the entries of ``client_ids`` (None: of every client). Under the lock."""
        if client_ids is None or len(self._drops) + len(client_ids) > self.max_entries:
            self._entries.clear()
            self._failures.clear()
            self._clients.clear()
            self._drops.clear()
            return
        for client_id in client_ids:
            self._drops[client_id] = self._drops.get(client_id, 0) + 1
            self._clients.pop(client_id, None)

    def _stamp(self, client_id: str) -> int:
        return self._drops.get(client_id, 0)

    def _tell_listeners(self, client_ids: Collection[str]) -> None:
        for listener in self._listeners:
            listener(client_ids)

    def lookup(self, client_id: str, secret: str, now: datetime) -> CacheHit | None:
        """Returns the remembered verification of exactly this (client_id, secret), if any
        is still fresh and the secret has not expired since."""
        if not self.enabled:
            return None
        self.epoch()
        key = self._fingerprint(client_id, secret)
        entry = self._entries.get(key)
        if entry is None:
            self.metrics.cache_lookup("credentials", hit=False)
            return None
        if (
            now >= entry.cached_until
            or (entry.secret_expires_at is not None and now >= entry.secret_expires_at)
            or entry.stamp != self._stamp(client_id)
        ):
            self._entries.pop(key, None)
            self.metrics.cache_lookup("credentials", hit=False)
            return None
        self.metrics.cache_lookup("credentials", hit=True)
        note_use = now - entry.last_use_noted >= self._last_used_resolution
        if note_use:
            entry.last_use_noted = now
        return CacheHit(entry.client, entry.secret_id, note_use)

    def remember(
        self,
        client: ClientSnapshot,
        secret: str,
        *,
        secret_id: str,
        secret_expires_at: datetime | None,
        epoch: tuple[int, int],
        now: datetime,
    ) -> None:
        """Remembers a verification made from database state read at ``epoch``; nothing is
        remembered if credentials changed meanwhile."""
        if not self.enabled or not policy.client_is_active(client):
            return
        with self._lock:
            if epoch != (self._local_epoch, self._file_epoch):
                return
            key = self._fingerprint(client.client_id, secret)
            self._entries[key] = _Entry(
                client,
                secret_id,
                secret_expires_at,
                cached_until=now + self._lifetime,
                last_use_noted=now,
                stamp=self._stamp(client.client_id),
            )
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def client(self, client_id: str, now: datetime) -> ClientSnapshot | None:
        """Returns the remembered record of a client whose proof is checked anew on each
        request (remember_client), if it is still fresh."""
        if not self.enabled:
            return None
        self.epoch()
        remembered = self._clients.get(client_id)
        if remembered is None:
            return None
        client, cached_until = remembered
        if now >= cached_until:
            self._clients.pop(client_id, None)
            return None
        return client

    def remember_client(
        self, client: ClientSnapshot, *, epoch: tuple[int, int], now: datetime
    ) -> None:
        """Remembers a client's record read at ``epoch`` (nothing if credentials changed
        meanwhile). Only for proofs checked on every request: the record says which keys,
        certificate subject or method may prove the client, never that a proof held."""
        if not self.enabled:
            return
        with self._lock:
            if epoch != (self._local_epoch, self._file_epoch):
                return
            # The lifetime of the moment: short while announcements may go unheard.
            self._clients[client.client_id] = (client, now + self._lifetime)
            self._clients.move_to_end(client.client_id)
            while len(self._clients) > self.max_entries:
                self._clients.popitem(last=False)

    def use_is_due(self, key: object, now: datetime) -> bool:
        """Returns whether a use of ``key`` (a client's key, say) should be written now:
        True at most once per last-used resolution per key in this process, so a busy
        client's requests do not even read whether a write is due."""
        noted = self._uses_noted.get(key)
        if noted is not None and now - noted < self._last_used_resolution:
            return False
        self._uses_noted[key] = now
        self._uses_noted.move_to_end(key)
        while len(self._uses_noted) > self.max_entries:
            self._uses_noted.popitem(last=False)
        return True

    def invalidate(self, client_ids: Iterable[str] = ()) -> None:
        """Forgets the remembered verifications and records of ``client_ids`` (none named:
        of every client); listeners hear which clients changed. A verification still
        running, of any client, is not remembered when it ends: it may have read the
        database before the change."""
        ids = tuple(client_ids)
        with self._lock:
            self._local_epoch += 1
            self._drop(ids or None)
        self._tell_listeners(ids)

    def failed_recently(self, client_id: str, secret: str, now: datetime) -> bool:
        """Returns whether exactly this (client_id, secret) failed within ``ttl``: a client
        stuck on an old secret is refused without another argon2 run."""
        if not self.enabled:
            return False
        self.epoch()
        failure = self._failures.get(self._fingerprint(client_id, secret))
        failed = failure is not None and failure[0] == self._stamp(client_id) and now < failure[1]
        self.metrics.cache_lookup("credential_failures", hit=failed)
        return failed

    def remember_failure(
        self, client_id: str, secret: str, now: datetime, *, epoch: tuple[int, int]
    ) -> None:
        """Remembers a failed verification made from database state read at ``epoch``;
        nothing if credentials changed meanwhile (the secret may have been added since,
        and would be refused for the entry's lifetime)."""
        if not self.enabled:
            return
        with self._lock:
            if epoch != (self._local_epoch, self._file_epoch):
                return
            key = self._fingerprint(client_id, secret)
            self._failures[key] = (self._stamp(client_id), now + self._lifetime)
            self._failures.move_to_end(key)
            while len(self._failures) > self.max_entries:
                self._failures.popitem(last=False)

    async def once(
        self, client_id: str, secret: str, verify: Callable[[], Awaitable[ClientSnapshot]]
    ) -> ClientSnapshot:
        """Runs ``verify`` for this (client_id, secret) once, however many requests ask at
        the same moment: the others wait for its result instead of queueing their own
        argon2 runs (a cold cache under load would otherwise stampede). Only requests of
        one epoch share a run: one that arrives after a change was announced verifies
        afresh, rather than take an answer read before the change."""
        key = (self._fingerprint(client_id, secret), self.epoch())
        running = self._inflight.get(key)
        if running is not None:
            return await asyncio.shield(running)
        future: asyncio.Future[ClientSnapshot] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            result = await verify()
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved here, so an unawaited failure is not reported
            raise
        finally:
            del self._inflight[key]
        future.set_result(result)
        return result

    def __len__(self) -> int:
        return len(self._entries)
