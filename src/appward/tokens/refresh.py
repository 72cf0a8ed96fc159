"""Refresh tokens: hashed at rest, rotated on use, reuse revokes the family (RFC 9700 §4.14)."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from appward.clients import policy
from appward.clients.snapshot import ClientSnapshot
from appward.clock import Clock
from appward.errors import InvalidGrant
from appward.hashing import token_hash
from appward.tokens.grants import active_user, grant_is_active, revoke_grant
from appward.tokens.models import RefreshToken

REFRESH_PREFIX = "apwrt_"


@dataclass(frozen=True, slots=True)
class RefreshResult:
    grant_id: str
    user_id: int
    subject: str  # the account's public id: the tokens' sub
    scopes: list[str]
    new_token: str | None  # None when the client keeps its token (no rotation)


async def issue_refresh_token(
    session: AsyncSession,
    clock: Clock,
    client: ClientSnapshot,
    *,
    grant_id: str,
    user_id: int,
    scopes: list[str],
    absolute_expires_at: datetime | None = None,
    certificate_thumbprint: str | None = None,
) -> str:
    """Returns a new refresh token of the grant, stored as its hash; bound to the TLS
    client certificate of ``certificate_thumbprint`` when given (RFC 8705 §3)."""
    now = clock.now()
    absolute = absolute_expires_at or policy.refresh_family_expiry(client, now)
    token = REFRESH_PREFIX + secrets.token_urlsafe(32)
    session.add(
        RefreshToken(
            token_hash=token_hash(token),
            grant_id=grant_id,
            client_pk=client.pk,
            user_id=user_id,
            scopes=scopes,
            issued_at=now,
            expires_at=policy.refresh_token_expiry(client, now, absolute),
            absolute_expires_at=absolute,
            certificate_thumbprint=certificate_thumbprint,
        )
    )
    await session.flush()
    return token


async def find_refresh_token(session: AsyncSession, token: str) -> RefreshToken | None:
    record: RefreshToken | None = await session.scalar(
        select(RefreshToken).where(RefreshToken.token_hash == token_hash(token))
    )
    return record


async def use_refresh_token(
    session: AsyncSession,
    clock: Clock,
    client: ClientSnapshot,
    *,
    token: str,
    scope: str | None,
    certificate_thumbprint: str | None = None,
) -> RefreshResult:
    """Returns what the refresh token grants now, rotating it when the client's policy
    says; ``certificate_thumbprint`` is that of the TLS client certificate presented.

    Raises InvalidGrant for an unknown, foreign, expired or revoked token, and for a
    token bound to a certificate other than the one presented (RFC 8705 §3); a token
    that was already rotated is a replay, and revokes its whole family. Raises
    InvalidScope when ``scope`` asks for more than was granted (RFC 6749 §6).
    """
    record = await find_refresh_token(session, token)
    if record is None or not policy.may_redeem(client, record.client_pk):
        raise InvalidGrant("the refresh token is invalid")
    bound = record.certificate_thumbprint
    if bound is not None and not (
        certificate_thumbprint is not None and hmac.compare_digest(bound, certificate_thumbprint)
    ):
        # Checked before the replay rule: without the certificate, a stolen token can
        # neither be used nor revoke its family by being replayed.
        raise InvalidGrant(
            "the refresh token is bound to another TLS client certificate",
            detail="certificate thumbprint mismatch" if certificate_thumbprint else "none",
        )
    now = clock.now()
    if record.rotated_at is not None:
        await revoke_grant(session, clock, record.grant_id, "refresh_token_reused")
        raise InvalidGrant("the refresh token was already used; its family is revoked")
    if (
        record.revoked_at is not None
        or policy.token_is_revoked_by_client(client, record.issued_at)
        or not await grant_is_active(session, record.grant_id)
    ):
        raise InvalidGrant("the refresh token is revoked")
    if now >= record.expires_at:
        raise InvalidGrant("the refresh token has expired")
    user = await active_user(session, record.user_id)
    if user is None:
        raise InvalidGrant("the user behind this refresh token is disabled")
    scopes = policy.narrow_refresh_scopes(client, record.scopes, scope)
    if not policy.rotates_refresh_tokens(client):
        record.expires_at = policy.refresh_token_expiry(client, now, record.absolute_expires_at)
        await session.flush()
        return RefreshResult(record.grant_id, record.user_id, user.public_id, scopes, None)
    claimed = await session.execute(
        update(RefreshToken)
        .where(RefreshToken.id == record.id, RefreshToken.rotated_at.is_(None))
        .values(rotated_at=now)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        await revoke_grant(session, clock, record.grant_id, "refresh_token_reused")
        raise InvalidGrant("the refresh token was already used; its family is revoked")
    new_token = await issue_refresh_token(
        session,
        clock,
        client,
        grant_id=record.grant_id,
        user_id=record.user_id,
        # The family keeps the scopes first granted; narrowing applies to this access token.
        scopes=list(record.scopes),
        absolute_expires_at=record.absolute_expires_at,
        # The successor is bound to the same certificate.
        certificate_thumbprint=bound,
    )
    return RefreshResult(record.grant_id, record.user_id, user.public_id, scopes, new_token)
