"""Client authentication at the token endpoint, one module per IANA method name.

The adapter says what the request presented (:class:`PresentedCredentials`); this package
decides whether that proves the client's identity, with the one method the client
registered. Any other method, or any failure, is ``invalid_client``.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from appward.auth.client_secret import note_secret_use, use_is_due
from appward.auth.credential_cache import CredentialCache
from appward.auth.credentials import NO_TOOLS, AuthContext, AuthTools, PresentedCredentials
from appward.auth.registry import AUTHENTICATORS, METHODS_SUPPORTED
from appward.auth.throttle import ClientAuthThrottle
from appward.clients import policy
from appward.clients.auth_methods import uses_secret
from appward.clients.models import Client
from appward.clients.snapshot import ClientSnapshot
from appward.clock import Clock
from appward.errors import AuthFailure, InvalidClient
from appward.hashing import SecretVerifier

__all__ = [
    "METHODS_SUPPORTED",
    "AuthTools",
    "ClientAuthThrottle",
    "ClientSnapshot",
    "CredentialCache",
    "PresentedCredentials",
    "authenticate_client",
]


async def authenticate_client(
    session: AsyncSession,
    presented: PresentedCredentials,
    *,
    verifier: SecretVerifier,
    clock: Clock,
    cache: CredentialCache | None = None,
    tools: AuthTools = NO_TOOLS,
    endpoint_url: str = "",
    throttle: ClientAuthThrottle | None = None,
    address: str | None = None,
) -> ClientSnapshot:
    """Returns the authenticated, active client; ``endpoint_url`` is the URL the request
    was sent to (an assertion may name it as its audience), ``address`` the caller's, for
    ``throttle`` (auth/throttle.py: its lockout policy).

    Raises InvalidClient when the client is unknown, deleted or disabled, presented a
    method other than the one it registered, or its proof does not hold;
    TooManyAttempts when ``throttle`` refuses to check the proof now;
    TemporarilyUnavailable when too many secret verifications are already waiting.
    """
    now = clock.now()
    client_id = presented.client_id
    if not _plausible_client_id(client_id):
        if throttle is not None:
            await throttle.check(None, address, now)
            await throttle.failed(None, address, now)
        raise InvalidClient(
            detail="client_id is not of a shape this server issues",
            reason=AuthFailure.UNKNOWN_CLIENT,
        )
    context = AuthContext(session, verifier, clock, tools, endpoint_url, cache)
    cacheable = cache is not None and _cacheable(presented)
    secret = presented.secret or ""
    if cache is not None and cacheable:
        # Before the throttle: a proof known to be right is never refused, and costs no
        # round trip to a shared limiter.
        hit = cache.lookup(client_id, secret, now)
        if hit is not None and hit.client.token_endpoint_auth_method == presented.method:
            if hit.note_use:
                await note_secret_use(session, hit.secret_id, now)
            return hit.client
    if throttle is not None:
        await throttle.check(client_id, address, now)
    try:
        if cache is None or not cacheable:
            return await _authenticate(presented, context)
        if cache.failed_recently(client_id, secret, now):
            raise InvalidClient(
                detail="the same credentials failed moments ago",
                reason=AuthFailure.INVALID_SECRET,
            )
        epoch = cache.epoch()
        try:
            return await cache.once(
                client_id,
                f"{presented.method}\x00{secret}",
                lambda: _authenticate(presented, context),
            )
        except InvalidClient:
            cache.remember_failure(client_id, secret, now, epoch=epoch)
            raise
    except InvalidClient:
        if throttle is not None:
            await throttle.failed(client_id, address, now)
        raise


# What a failed proof of each method is, unless the check said more (a replay, keys).
METHOD_FAILURE = {
    "client_secret_basic": AuthFailure.INVALID_SECRET,
    "client_secret_post": AuthFailure.INVALID_SECRET,
    "client_secret_jwt": AuthFailure.INVALID_ASSERTION,
    "private_key_jwt": AuthFailure.INVALID_ASSERTION,
    "tls_client_auth": AuthFailure.INVALID_CERTIFICATE,
    "self_signed_tls_client_auth": AuthFailure.INVALID_CERTIFICATE,
}


def _cacheable(presented: PresentedCredentials) -> bool:
    # Only a reusable secret sent as itself: an assertion is single-use.
    return uses_secret(presented.method) and presented.assertion is None


async def _authenticate(presented: PresentedCredentials, context: AuthContext) -> ClientSnapshot:
    session, verifier, clock, cache = (
        context.session,
        context.verifier,
        context.clock,
        context.cache,
    )
    epoch = cache.epoch() if cache is not None else (0, 0)
    client = await _client_record(presented, context, epoch)
    if not presented.could_be(client.token_endpoint_auth_method):
        # The same answer as any other failure: the registered method is not told to
        # someone who has not proven to be the client.
        raise InvalidClient(
            detail=f"presented {presented.method}, registered {client.token_endpoint_auth_method}",
            reason=AuthFailure.WRONG_METHOD,
        )
    method = client.token_endpoint_auth_method
    authenticate = AUTHENTICATORS.get(method)
    if authenticate is None:
        # A method stored before this server stopped offering it: no proof can hold.
        raise InvalidClient(
            detail=f"{method} is not supported by this server", reason=AuthFailure.WRONG_METHOD
        )
    try:
        record = await authenticate(client, presented, context)
    except InvalidClient as exc:
        exc.reason = exc.reason or METHOD_FAILURE.get(method, AuthFailure.OTHER)
        raise
    # Checked after the proof so a disabled client's status is told only to itself.
    policy.check_client_active(client)
    now = clock.now()
    if record is not None and use_is_due(record, now, verifier.policy.last_used_resolution):
        await note_secret_use(session, record.id, now)
    if cache is not None and record is not None and _cacheable(presented):
        # Never for an assertion: it is single-use, and its secret is not what was sent.
        cache.remember(
            client,
            presented.secret or "",
            secret_id=record.id,
            secret_expires_at=record.expires_at,
            epoch=epoch,
            now=now,
        )
    return client


async def _client_record(
    presented: PresentedCredentials, context: AuthContext, epoch: tuple[int, int]
) -> ClientSnapshot:
    """Returns the record of the client ``presented`` names: remembered by the cache for
    a proof checked anew on every request (an assertion, a certificate, no proof), read
    from the database otherwise. Raises InvalidClient for an unknown or deleted client."""
    cache, now = context.cache, context.clock.now()
    remembers = cache is not None and not _cacheable(presented)
    if remembers and cache is not None:
        remembered = cache.client(presented.client_id, now)
        if remembered is not None:
            return remembered
    record = await context.session.scalar(
        select(Client).where(Client.client_id == presented.client_id, Client.deleted_at.is_(None))
    )
    if record is None:
        raise InvalidClient(
            detail=f"unknown client {presented.client_id!r}", reason=AuthFailure.UNKNOWN_CLIENT
        )
    client = ClientSnapshot.of(record)
    if remembers and cache is not None:
        cache.remember_client(client, epoch=epoch, now=now)
    return client


def _plausible_client_id(client_id: str) -> bool:
    # Ids this server issues are short printable ASCII; anything else cannot match, and
    # is refused before it reaches a query.
    return 0 < len(client_id) <= 64 and client_id.isascii() and client_id.isprintable()
