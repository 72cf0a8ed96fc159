"""What the web app holds for its lifetime, built once in create_app."""

from __future__ import annotations

from dataclasses import dataclass, field

import redis.asyncio as aioredis
from cryptography.fernet import Fernet
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from appward.auth import AuthTools, ClientAuthThrottle, CredentialCache
from appward.auth.epoch_file import EpochFile
from appward.clock import Clock
from appward.config import Settings
from appward.hashing import Hasher, SecretVerifier
from appward.mail import Mailer
from appward.metrics import NO_METRICS, Metrics
from appward.rate_limit import RateLimiter
from appward.readiness import ReadinessProbe
from appward.registration.policy import RegistrationPolicy
from appward.tokens.keys import KeyRing
from appward.users.throttle import LoginThrottle, ResetRequestThrottle
from appward.web.client_certificate import CertificateHeader


@dataclass
class AppState:
    """The app's resources (services.Resources): a unit of work is built from them."""

    settings: Settings = field(repr=False)
    clock: Clock
    hasher: Hasher
    verifier: SecretVerifier
    # Passwords get their own argon2 bound: a flood of logins must not take the slots
    # that client authentication needs, nor the other way round.
    user_verifier: SecretVerifier
    credential_cache: CredentialCache
    login_throttle: LoginThrottle
    # Failed client authentication per client_id and per address (auth/throttle.py).
    client_auth_throttle: ClientAuthThrottle
    epoch: EpochFile
    cipher: Fernet = field(repr=False)
    # Derives the pages' CSRF tokens from the session cookie (web/sessions.py).
    session_key: bytes = field(repr=False)
    registration_limiter: RateLimiter
    # Built once: read on every registration request, and settings never change.
    registration_policy: RegistrationPolicy
    # Self-service password reset requests (web/password_reset.py).
    reset_throttle: ResetRequestThrottle
    # APPWARD_TOKEN_REQUESTS_PER_CLIENT: None (the default) costs the token endpoint nothing.
    token_limiter: RateLimiter | None = None
    # The app's one Redis client (a bounded pool), shared by the rate limiters, the
    # credential-change announcements and their listener; closed at shutdown.
    redis: aioredis.Redis | None = field(default=None, repr=False)
    # mail.mailer_for: SMTP, the development log, or None (production without SMTP).
    mailer: Mailer | None = None
    engine: AsyncEngine | None = None
    sessionmaker: async_sessionmaker[AsyncSession] | None = None
    ring: KeyRing | None = None
    # What private_key_jwt, client_secret_jwt and mutual TLS need (auth/credentials.py).
    auth_tools: AuthTools = field(default_factory=AuthTools)
    # Where the TLS-terminating proxy passes the client certificate on; None: mTLS off.
    client_certificates: CertificateHeader | None = None
    # What the app counts (metrics.py); NO_METRICS when APPWARD_METRICS_ENABLED is off.
    # metrics.fallback(component) counts a degraded mode taken.
    metrics: Metrics = NO_METRICS
    # /readyz's answer, reused for a second (readiness.ReadinessProbe).
    readiness: ReadinessProbe = field(default_factory=ReadinessProbe)

    def sessions(self) -> async_sessionmaker[AsyncSession]:
        if self.sessionmaker is None:
            raise RuntimeError("the app has not started")
        return self.sessionmaker

    def key_ring(self) -> KeyRing:
        if self.ring is None:
            raise RuntimeError("the app has not started")
        return self.ring
