"""Grants: creating one per authorization, and revoking one with everything it issued."""

from __future__ import annotations

import secrets

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from appward.clock import Clock
from appward.tokens.models import AuthorizationCode, Grant, RefreshToken
from appward.users.models import User


async def create_grant(
    session: AsyncSession, clock: Clock, *, client_pk: int, user_id: int, scopes: list[str]
) -> Grant:
    grant = Grant(
        id=secrets.token_hex(16),
        client_pk=client_pk,
        user_id=user_id,
        scopes=scopes,
        created_at=clock.now(),
    )
    session.add(grant)
    await session.flush()
    return grant


async def revoke_grant(session: AsyncSession, clock: Clock, grant_id: str, reason: str) -> None:
    """Revokes a grant and every refresh token of it; its access tokens then introspect as
    inactive."""
    now = clock.now()
    await session.execute(
        update(Grant)
        .where(Grant.id == grant_id, Grant.revoked_at.is_(None))
        .values(revoked_at=now, revoked_reason=reason)
    )
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.grant_id == grant_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    # Codes not yet redeemed die with their grant too.
    await session.execute(
        update(AuthorizationCode)
        .where(AuthorizationCode.grant_id == grant_id, AuthorizationCode.used_at.is_(None))
        .values(used_at=now)
    )


async def revoke_grants_of(
    session: AsyncSession, clock: Clock, *, client_pk: int, user_id: int
) -> int:
    """Revokes every grant a user gave a client (consent withdrawn); returns how many."""
    grant_ids = await session.scalars(
        select(Grant.id).where(
            Grant.client_pk == client_pk, Grant.user_id == user_id, Grant.revoked_at.is_(None)
        )
    )
    revoked = list(grant_ids)
    for grant_id in revoked:
        await revoke_grant(session, clock, grant_id, "consent_revoked")
    return len(revoked)


async def active_user(session: AsyncSession, user_id: int) -> User | None:
    """Returns the account behind a grant if it is active (not disabled), or None."""
    user = await session.get(User, user_id)
    return user if user is not None and user.disabled_at is None else None


async def subject_of(session: AsyncSession, user_id: int) -> str | None:
    """Returns the ``sub`` of the account behind a grant: its public id (never the
    internal integer id), or None once the account is gone."""
    user = await session.get(User, user_id)
    return user.public_id if user is not None else None


async def grant_is_active(session: AsyncSession, grant_id: str) -> bool:
    grant = await session.get(Grant, grant_id)
    return grant is not None and grant.revoked_at is None


async def grant_and_user_are_active(session: AsyncSession, grant_id: str) -> bool:
    """Returns whether the grant is unrevoked and its account active: a token issued on a
    user's behalf dies with either. The account is found through the grant, so tokens
    whose sub is the old integer id (before public ids) are judged alike."""
    grant = await session.get(Grant, grant_id)
    if grant is None or grant.revoked_at is not None:
        return False
    return await active_user(session, grant.user_id) is not None
