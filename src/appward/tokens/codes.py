"""Authorization codes: single use, short-lived, bound to client, redirect URI, user,
scopes and PKCE challenge, stored only as a hash (RFC 6749 §4.1.2, RFC 7636, RFC 9700)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from appward.clients.models import Client
from appward.clients.policy import AuthenticatedClient
from appward.clock import Clock
from appward.errors import InvalidGrant, InvalidRequest
from appward.hashing import token_hash
from appward.tokens.grants import (
    create_grant,
    grant_is_active,
    revoke_grant,
    user_is_active,
)
from appward.tokens.models import AuthorizationCode

CODE_PREFIX = "apwac_"
# RFC 7636 §4.1: code_verifier = 43*128unreserved
VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")


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
    scopes: list[str]


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


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
    client: AuthenticatedClient,
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
    if record is None or record.client_pk != client.pk:
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
    if not await grant_is_active(session, record.grant_id):
        raise InvalidGrant("the authorization behind this code was revoked")
    if not await user_is_active(session, record.user_id):
        raise InvalidGrant("the user behind this code is disabled")
    if record.redirect_uri_given and redirect_uri != record.redirect_uri:
        raise InvalidGrant("redirect_uri differs from the authorization request's")
    if not record.redirect_uri_given and redirect_uri not in (None, record.redirect_uri):
        raise InvalidGrant("redirect_uri differs from the authorization request's")
    _check_pkce(record.code_challenge, code_verifier)
    return RedeemedCode(record.grant_id, record.user_id, list(record.scopes))


def _check_pkce(challenge: str | None, verifier: str | None) -> None:
    if challenge is None:
        if verifier is not None:
            raise InvalidGrant("code_verifier given, but the authorization had no code_challenge")
        return
    if verifier is None:
        raise InvalidGrant("code_verifier is required (RFC 7636 §4.5)")
    if not VERIFIER.fullmatch(verifier):
        raise InvalidRequest("code_verifier must be 43-128 unreserved characters (RFC 7636 §4.1)")
    if not hmac.compare_digest(s256(verifier), challenge):
        raise InvalidGrant("code_verifier does not match the code_challenge")
