"""Authorization codes: single use, short-lived, bound to client, redirect URI, user,
scopes and PKCE challenge, stored only as a hash (RFC 6749 §4.1.2, RFC 7636, RFC 9700)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from appward.clients import policy
from appward.clients.models import Client
from appward.clients.snapshot import ClientSnapshot
from appward.clock import Clock
from appward.errors import InvalidGrant
from appward.hashing import token_hash
from appward.tokens.grants import (
    active_user,
    create_grant,
    grant_is_active,
    revoke_grant,
)
from appward.tokens.models import AuthorizationCode

CODE_PREFIX = "apwac_"


@dataclass(frozen=True, slots=True)
class CodeRequest:
    """What an approved authorization request binds its code to."""

    client: Client
    user_id: int
    redirect_uri: str
    redirect_uri_given: bool
    scopes: list[str]
    code_challenge: str | None


@dataclass(frozen=True, slots=True)
class RedeemedCode:
    grant_id: str
    user_id: int
    subject: str  # the account's public id: the tokens' sub
    scopes: list[str]


async def issue_code(
    session: AsyncSession, clock: Clock, request: CodeRequest, *, lifetime: int
) -> str:
    """Returns a new code for an approved request, starting a new grant."""
    grant = await create_grant(
        session,
        clock,
        client_pk=request.client.pk,
        user_id=request.user_id,
        scopes=request.scopes,
    )
    code = CODE_PREFIX + secrets.token_urlsafe(32)
    now = clock.now()
    session.add(
        AuthorizationCode(
            code_hash=token_hash(code),
            grant_id=grant.id,
            client_pk=request.client.pk,
            user_id=request.user_id,
            redirect_uri=request.redirect_uri,
            redirect_uri_given=request.redirect_uri_given,
            scopes=request.scopes,
            code_challenge=request.code_challenge,
            created_at=now,
            expires_at=now + timedelta(seconds=lifetime),
        )
    )
    await session.flush()
    return code


async def redeem_code(
    session: AsyncSession,
    clock: Clock,
    client: ClientSnapshot,
    *,
    code: str,
    redirect_uri: str | None,
    code_verifier: str | None,
) -> RedeemedCode:
    """Returns what the code grants, marking it used.

    Raises InvalidGrant for an unknown, expired, foreign or mismatched code, or a wrong
    PKCE verifier; a second use also revokes every token issued from the first
    (RFC 6749 §4.1.2). Raises InvalidRequest for a malformed code_verifier.
    """
    record = await session.scalar(
        select(AuthorizationCode).where(AuthorizationCode.code_hash == token_hash(code))
    )
    if record is None or not policy.may_redeem(client, record.client_pk):
        raise InvalidGrant("the authorization code is invalid")
    now = clock.now()
    # Claim the code atomically: of two concurrent redemptions only one sets used_at.
    claimed = await session.execute(
        update(AuthorizationCode)
        .where(
            AuthorizationCode.code_hash == record.code_hash,
            AuthorizationCode.used_at.is_(None),
        )
        .values(used_at=now)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        await revoke_grant(session, clock, record.grant_id, "code_reused")
        raise InvalidGrant(
            "the authorization code was already used; tokens issued from it are revoked"
        )
    if now >= record.expires_at:
        raise InvalidGrant("the authorization code has expired")
    if policy.token_is_revoked_by_client(client, record.created_at):
        raise InvalidGrant("the authorization code was revoked with all the client's tokens")
    if not await grant_is_active(session, record.grant_id):
        raise InvalidGrant("the authorization behind this code was revoked")
    user = await active_user(session, record.user_id)
    if user is None:
        raise InvalidGrant("the user behind this code is disabled")
    if record.redirect_uri_given and redirect_uri != record.redirect_uri:
        raise InvalidGrant("redirect_uri differs from the authorization request's")
    if not record.redirect_uri_given and redirect_uri not in (None, record.redirect_uri):
        raise InvalidGrant("redirect_uri differs from the authorization request's")
    policy.check_pkce_verifier(record.code_challenge, code_verifier)
    return RedeemedCode(record.grant_id, record.user_id, user.public_id, list(record.scopes))
