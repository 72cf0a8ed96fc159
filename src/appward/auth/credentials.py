"""What a request presented as proof of a client's identity, and the shape of a method's
check of it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import jwt
from cryptography import x509
from cryptography.x509.verification import Store
from sqlalchemy.ext.asyncio import AsyncSession

from appward.auth.credential_cache import CredentialCache
from appward.clients.auth_methods import JWT_BEARER_ASSERTION, uses_certificate
from appward.clients.models import ClientSecret
from appward.clients.secret_encryption import SecretCipher
from appward.clients.snapshot import ClientSnapshot
from appward.clock import Clock
from appward.errors import AuthFailure, InvalidClient, InvalidRequest
from appward.hashing import SecretVerifier


@dataclass(frozen=True, slots=True)
class PresentedCredentials:
    """What a request offered as proof: the method it used, the client_id and the secret
    or the signed assertion, and the TLS client certificate the trusted proxy passed on.

    A request with a certificate and no other proof names ``none``: whether the
    certificate is the proof (tls_client_auth, self_signed_tls_client_auth) or only binds
    the tokens of a public client depends on what the client registered (``could_be``).
    """

    method: str
    client_id: str
    secret: str | None = None
    assertion: str | None = None  # client_assertion (RFC 7521 §4.2), a compact JWS
    certificate: x509.Certificate | None = None  # from the TLS-terminating proxy

    def could_be(self, registered: str) -> bool:
        """Returns whether this proof is of the kind the client's ``registered`` method
        takes; anything else is invalid_client, whatever the proof."""
        if registered == self.method:
            return True
        return (
            self.method == "none" and self.certificate is not None and uses_certificate(registered)
        )

    def __repr__(self) -> str:
        # Never the secret nor the assertion: this object reaches log lines and exception
        # details.
        return f"PresentedCredentials({self.method!r}, {self.client_id!r})"


# An assertion is a few hundred bytes; a large one is an attempt at something else.
MAX_ASSERTION_BYTES = 8192


def presented_assertion(
    assertion_type: str | None, assertion: str | None, client_id: str | None
) -> PresentedCredentials:
    """Returns what a request authenticating with a JWT assertion presented (RFC 7521
    §4.2, RFC 7523 §2.2): client_secret_jwt for an HMAC-signed one, private_key_jwt for
    any other, with the client its ``sub`` names. Nothing is verified yet: the method of
    the client it names does that, and a method the client did not register fails.

    Raises InvalidRequest when one of the two parameters is missing, InvalidClient when
    the assertion is of another type, too large, not a JWT or names no client (or another
    client than ``client_id``).
    """
    if assertion_type is None or assertion is None:
        raise InvalidRequest(
            "client_assertion and client_assertion_type go together (RFC 7521 §4.2)"
        )
    if assertion_type != JWT_BEARER_ASSERTION:
        raise InvalidClient(
            f"client_assertion_type must be {JWT_BEARER_ASSERTION}", reason=AuthFailure.MALFORMED
        )
    if len(assertion) > MAX_ASSERTION_BYTES:
        raise InvalidClient(
            f"the client assertion is longer than {MAX_ASSERTION_BYTES} bytes",
            reason=AuthFailure.MALFORMED,
        )
    try:
        header = jwt.get_unverified_header(assertion)
        # Read, not trusted: only to find the client whose keys then verify it.
        claims = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise InvalidClient(
            "the client assertion is not a signed JWT", reason=AuthFailure.MALFORMED
        ) from None
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise InvalidClient(
            "the client assertion has no sub naming the client", reason=AuthFailure.MALFORMED
        )
    if client_id is not None and client_id != subject:
        raise InvalidClient(
            "client_id differs from the client assertion's sub", reason=AuthFailure.MALFORMED
        )
    alg = header.get("alg")
    method = (
        "client_secret_jwt" if isinstance(alg, str) and alg.startswith("HS") else "private_key_jwt"
    )
    return PresentedCredentials(method, subject, assertion=assertion)


@dataclass(frozen=True, slots=True)
class AssertionRules:
    """What a client assertion's claims must satisfy (RFC 7523 §3), from the settings."""

    issuer: str  # the one audience always accepted
    token_endpoint: str  # also accepted while the audience mode is 'compat'
    audience: str = "compat"  # the server's default; a client's own setting wins
    max_lifetime: int = 300  # most seconds from iat to exp
    clock_skew: int = 30


class JtiStore(Protocol):
    """Remembers the jti of every assertion accepted, until it would have expired: the
    database in the embedded default, Redis when configured (auth/replay.py)."""

    async def use_once(
        self, session: AsyncSession, client_id: str, jti: str, expires_at: datetime
    ) -> bool:
        """Records ``jti`` for ``client_id`` until ``expires_at``, atomically; returns
        False when it was recorded already (a replay)."""
        ...


class RemoteKeySets(Protocol):
    """Fetches and caches the JWK Sets of clients' jwks_uri (auth/jwks.py)."""

    async def key_set(
        self, client_id: str, uri: str, *, unknown_kid: str | None = None
    ) -> list[dict[str, Any]]:
        """Returns the keys of the JWK Set at ``uri``, cached per client; with
        ``unknown_kid`` not among the cached keys, fetched again (at most once per
        refetch interval per client).

        Raises InvalidClient when the set cannot be fetched safely or is not a JWK Set.
        """
        ...


@dataclass(frozen=True, slots=True)
class AuthTools:
    """What the methods beyond shared secrets need, built once per app and shared by every
    request: each is None where the app runs without it (a method needing it refuses)."""

    assertion_rules: AssertionRules | None = None
    replay: JtiStore | None = None
    remote_keys: RemoteKeySets | None = None
    # Decrypts client_secret_jwt clients' secrets (clients/secret_encryption.py).
    secret_cipher: SecretCipher | None = None
    # The CAs of APPWARD_MTLS_CA_BUNDLE, loaded once; None: tls_client_auth fails closed.
    client_ca: Store | None = None


NO_TOOLS = AuthTools()


@dataclass(frozen=True, slots=True)
class AuthContext:
    """What a method's check may use besides the request: the database, the verifiers and
    the app's tools, and the URL of the endpoint being called (an assertion's audience)."""

    session: AsyncSession
    verifier: SecretVerifier
    clock: Clock
    tools: AuthTools = NO_TOOLS
    endpoint_url: str = ""
    # The process's credential cache: clients' records and when uses were last written.
    cache: CredentialCache | None = None


class Authenticate(Protocol):
    """Checks the proof ``presented`` for ``client``, the record of the client it names,
    whose registered method is ``presented.method``.

    Returns the secret record the proof matched (for the credential cache and last-used
    time), or None for a method whose proof is not a stored secret. Raises InvalidClient
    when the proof does not hold.
    """

    async def __call__(
        self, client: ClientSnapshot, presented: PresentedCredentials, context: AuthContext
    ) -> ClientSecret | None: ...
