"""The unit of work: one transaction's services, committed (then announced) or rolled back
together. Above the domain: the web, the CLI and the tests get their services here."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Protocol, cast

import redis.asyncio as aioredis
from cryptography.fernet import Fernet
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from appward.audit import Actor, AuditLog
from appward.auth.credential_cache import EPOCH_FILE, CredentialCache
from appward.auth.epoch_file import EpochFile
from appward.auth.invalidation import announce_change, announce_key_change
from appward.clients.credential_changes import changed_credentials
from appward.clients.ownership import OwnershipService
from appward.clients.scopes import ScopeService
from appward.clients.service import ClientService
from appward.clock import Clock, SystemClock
from appward.config import Settings
from appward.db import create_engine, create_sessionmaker
from appward.hashing import Argon2Hasher, Hasher, SecretVerifier
from appward.registration.initial_access_tokens import InitialAccessTokenService
from appward.registration.policy import RegistrationPolicy, registration_policy
from appward.registration.rfc7591 import RegistrationService
from appward.registration.rfc7592 import RegistrationManagementService
from appward.tokens.consent import ConsentService
from appward.tokens.keys import (
    KEYS_EPOCH_FILE,
    KeyRing,
    load_key_encryption,
    load_secret_cipher,
    signing_keys_changed,
)
from appward.tokens.preview import TokenPreviewService
from appward.tokens.service import TokenService
from appward.users.account_security import AccountSecurityService
from appward.users.invitations import InvitationService
from appward.users.one_time_links import OneTimeLinkService
from appward.users.service import UserService
from appward.users.sessions import (
    DatabaseSessionStore,
    RedisSessionStore,
    SessionService,
    SessionStore,
)
from appward.users.signup import DeveloperSignup
from appward.users.totp import TotpService

# Enough for every concurrent request of a worker that touches Redis (rate limits,
# announcements); past it a caller waits REDIS_POOL_TIMEOUT s instead of opening more.
REDIS_POOL_SIZE = 32
REDIS_POOL_TIMEOUT = 5


class Resources(Protocol):
    """What a unit of work is built from, held for a process's lifetime: the web app's
    state (web/state.py), or a CLI run's or a test's (StandaloneResources)."""

    @property
    def settings(self) -> Settings: ...
    @property
    def clock(self) -> Clock: ...
    @property
    def hasher(self) -> Hasher: ...
    @property
    def verifier(self) -> SecretVerifier: ...
    @property
    def user_verifier(self) -> SecretVerifier: ...
    @property
    def registration_policy(self) -> RegistrationPolicy: ...
    @property
    def credential_cache(self) -> CredentialCache | None: ...
    @property
    def epoch(self) -> EpochFile: ...
    @property
    def redis(self) -> aioredis.Redis | None: ...
    @property
    def cipher(self) -> Fernet: ...

    def sessions(self) -> async_sessionmaker[AsyncSession]: ...

    def key_ring(self) -> KeyRing: ...


def redis_client(url: str | None, *, timeout: float | None = None) -> aioredis.Redis | None:
    """Returns the process's one Redis client (a bounded pool; it connects on first use),
    or None when no Redis is configured. Close it with ``aclose()`` at shutdown.
    ``timeout`` (seconds) bounds connecting and each command, and the wait for a free
    connection: a Redis that hangs fails like one that is down, and each use falls back."""
    if not url:
        return None
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=REDIS_POOL_SIZE,
        timeout=REDIS_POOL_TIMEOUT if timeout is None else timeout,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        client_name=redis_client_name(),
    )
    return aioredis.Redis.from_pool(pool)


def redis_client_name() -> str:
    """The name this process's connections carry in Redis's CLIENT LIST: one per worker."""
    return f"appward:{os.getpid()}"


@dataclass(frozen=True)
class Services:
    """The services of one unit of work, all on its one session. Each is built on first
    use: the token endpoint needs one of them, and pays for that one only."""

    session: AsyncSession
    resources: Resources
    actor: Actor | None = None

    def acting_as(self, actor: Actor) -> Services:
        """Returns the same unit of work's services, auditing as ``actor`` (the web learns
        who the caller is from a token it reads in this very unit of work)."""
        return dataclasses.replace(self, actor=actor)

    @cached_property
    def audit(self) -> AuditLog:
        if self.actor is None:
            raise RuntimeError("this unit of work has no actor to audit as")
        return AuditLog(self.session, self.resources.clock, self.actor)

    @cached_property
    def clients(self) -> ClientService:
        settings = self.resources.settings
        return ClientService(
            self.session,
            self.resources.clock,
            self.resources.hasher,
            settings.lifetime_bounds,
            settings.secret_policy,
            self.audit,
            load_secret_cipher(
                settings.key_encryption_key,
                settings.data_dir,
                settings.previous_key_encryption_keys,
            ),
        )

    @cached_property
    def scopes(self) -> ScopeService:
        return ScopeService(self.session, self.resources.clock, self.audit)

    @cached_property
    def users(self) -> UserService:
        # Without an actor the service only reads, and signs in (which audits as the
        # account signing in, or as anonymous).
        audit = self.audit if self.actor is not None else None
        return UserService(
            self.session,
            self.resources.clock,
            self.resources.user_verifier,
            self.sessions,
            audit,
        )

    @cached_property
    def sessions(self) -> SessionService:
        """Login sessions: in Redis when it is configured (one store for every worker and
        host), else in the database, in this unit of work's transaction."""
        redis = self.resources.redis
        store: SessionStore = (
            RedisSessionStore(redis) if redis is not None else DatabaseSessionStore(self.session)
        )
        return SessionService(store, self.resources.clock, self.resources.settings.session_ttl)

    @cached_property
    def consents(self) -> ConsentService:
        audit = self.audit if self.actor is not None else None
        return ConsentService(self.session, self.resources.clock, audit)

    @cached_property
    def tokens(self) -> TokenService:
        resources = self.resources
        return TokenService(
            self.session, resources.key_ring(), resources.settings.issuer, resources.clock
        )

    @cached_property
    def token_preview(self) -> TokenPreviewService:
        resources = self.resources
        return TokenPreviewService(self.session, resources.clock, resources.settings.issuer)

    @cached_property
    def one_time_links(self) -> OneTimeLinkService:
        return OneTimeLinkService(self.session, self.resources.clock, self.audit)

    # --- the developer portal ("portal"): co-owners, invitations, sign-up ---

    @cached_property
    def ownership(self) -> OwnershipService:
        return OwnershipService(self.session, self.resources.clock, self.audit)

    @cached_property
    def invitations(self) -> InvitationService:
        return InvitationService(
            self.session, self.resources.clock, self.one_time_links, self.audit
        )

    @cached_property
    def signup(self) -> DeveloperSignup:
        return DeveloperSignup(
            self.session, self.resources.clock, self.users, self.one_time_links, self.audit
        )

    @cached_property
    def totp(self) -> TotpService:
        resources = self.resources
        # The name an authenticator app shows beside the code: the server's display name.
        issuer = resources.settings.display_name
        return TotpService(self.session, resources.clock, resources.cipher, issuer, self.audit)

    @cached_property
    def account_security(self) -> AccountSecurityService:
        """Password changes and resets, second-factor removal and resets (users/)."""
        return AccountSecurityService(self.users, self.totp, self.one_time_links, self.audit)

    @cached_property
    def initial_access_tokens(self) -> InitialAccessTokenService:
        return InitialAccessTokenService(self.session, self.resources.clock, self.audit)

    @cached_property
    def registrations(self) -> RegistrationService:
        resources = self.resources
        return RegistrationService(
            self.session,
            resources.clock,
            self.clients,
            self.initial_access_tokens,
            resources.registration_policy,
            self.audit,
        )

    @cached_property
    def registration_management(self) -> RegistrationManagementService:
        resources = self.resources
        return RegistrationManagementService(
            self.session,
            resources.clock,
            self.clients,
            resources.registration_policy,
            resources.verifier,
            self.audit,
        )


class _DeferredSession:
    """Stands in for an AsyncSession and opens the real one on first use.

    The token endpoint answers most requests from memory (a cached verification and a
    signature); not even building a session for those is a measurable part of its cost.
    """

    def __init__(self, resources: Resources) -> None:
        self._resources = resources
        self.opened: AsyncSession | None = None

    def __getattr__(self, name: str) -> Any:
        if self.opened is None:
            self.opened = self._resources.sessions()()
        return getattr(self.opened, name)


@asynccontextmanager
async def unit_of_work(resources: Resources, actor: Actor | None) -> AsyncIterator[Services]:
    """Yields the services of one transaction, auditing as ``actor``. Committed when the
    block ends, then every credential cache hears of the credentials it changed; rolled
    back if the block raises. Services only flush: this is the one place that commits.
    No database session is opened unless a service uses it."""
    deferred = _DeferredSession(resources)
    try:
        yield Services(cast(AsyncSession, deferred), resources, actor)
    except BaseException:
        if deferred.opened is not None:
            await deferred.opened.rollback()
            await deferred.opened.close()
        raise
    session = deferred.opened
    if session is None:
        return
    try:
        if session.in_transaction():
            await session.commit()
    finally:
        await session.close()
    await announce_change(
        changed_credentials(session),
        epoch=resources.epoch,
        redis=resources.redis,
        local=resources.credential_cache,
    )
    if signing_keys_changed(session):
        keys_epoch = EpochFile(resources.settings.data_dir / KEYS_EPOCH_FILE)
        await announce_key_change(epoch=keys_epoch, redis=resources.redis)


@dataclass(frozen=True, slots=True)
class StandaloneResources:
    """Resources of a process that serves no requests: a CLI run, a test's setup. It keeps
    no credential cache of its own; the announcements reach the servers'."""

    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    clock: Clock
    hasher: Hasher
    verifier: SecretVerifier
    epoch: EpochFile
    redis: aioredis.Redis | None
    credential_cache: CredentialCache | None = None

    @property
    def user_verifier(self) -> SecretVerifier:
        return self.verifier

    @property
    def registration_policy(self) -> RegistrationPolicy:
        return registration_policy(self.settings)

    def sessions(self) -> async_sessionmaker[AsyncSession]:
        return self.sessionmaker

    def key_ring(self) -> KeyRing:
        raise RuntimeError("a standalone process holds no signing key ring")

    @property
    def cipher(self) -> Fernet:
        """The key-encryption key's cipher (TOTP seeds at rest), made on first use."""
        return load_key_encryption(self.settings.key_encryption_key, self.settings.data_dir)


@asynccontextmanager
async def standalone_resources(
    settings: Settings, *, clock: Clock | None = None, hasher: Hasher | None = None
) -> AsyncIterator[StandaloneResources]:
    """Yields resources built from ``settings`` (an engine, a Redis client), released
    when the block ends."""
    hasher = hasher or Argon2Hasher(settings.argon2)
    engine = create_engine(settings.database_url, schema=settings.database_schema)
    redis = redis_client(settings.redis_url, timeout=settings.redis_timeout)
    try:
        yield StandaloneResources(
            settings=settings,
            engine=engine,
            sessionmaker=create_sessionmaker(engine),
            clock=clock or SystemClock(),
            hasher=hasher,
            verifier=SecretVerifier(hasher, settings.secret_policy),
            epoch=EpochFile(settings.data_dir / EPOCH_FILE),
            redis=redis,
        )
    finally:
        if redis is not None:
            await redis.aclose()
        await engine.dispose()
