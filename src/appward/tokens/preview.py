"""The token preview: the exact access-token claims and lifetime the policy would give a
client now, for the client's own token or on a user's behalf, issuing and storing nothing.

Built by the very functions issuing uses (``access_token_request``, ``access_token_claims``)
and checked by the same policy calls as the token endpoint, so it cannot drift from a real
token and refuses what the token endpoint would refuse, with the same error.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from appward.clients import policy
from appward.clients.models import Client
from appward.clients.snapshot import ClientSnapshot
from appward.clock import Clock
from appward.errors import FieldError, InvalidInput, NotFound
from appward.tokens.access import access_token_claims
from appward.tokens.service import access_token_request
from appward.users.models import User

# A real token's own values, which no preview can know: its id, and the grant it follows.
PER_TOKEN_JTI = "<a new random id per token>"
PER_TOKEN_GID = "<the grant the user's consent creates>"


def previews_own_token(grant_types: Sequence[str]) -> bool:
    """Returns whether a client with ``grant_types`` gets tokens of its own
    (client_credentials): a preview without a user shows one."""
    return "client_credentials" in grant_types


def previews_for_a_user(grant_types: Sequence[str]) -> bool:
    """Returns whether a client with ``grant_types`` gets tokens on a user's behalf
    (authorization_code): a preview names the user."""
    return "authorization_code" in grant_types


@dataclass(frozen=True, slots=True)
class TokenPreview:
    claims: dict[str, Any]
    lifetime: int
    grant_type: str


@dataclass(frozen=True, slots=True)
class TokenPreviewService:
    session: AsyncSession
    clock: Clock
    issuer: str

    async def preview(
        self, client_id: str, *, scope: str | None, user: str | None = None
    ) -> TokenPreview:
        """Returns the claims and lifetime of the access token ``client_id`` would get now:
        through client_credentials without ``user``, through an authorization code for
        ``user`` (a username or an account id) with one.

        Raises NotFound for an unknown client or user; InvalidScope and UnauthorizedClient
        exactly as the token endpoint (or /authorize) would.
        """
        record = await self.session.scalar(
            select(Client).where(Client.client_id == client_id, Client.deleted_at.is_(None))
        )
        if record is None:
            raise NotFound(f"no client with client_id {client_id!r}")
        client = ClientSnapshot.of(record)
        if user is None:
            grant_type, subject, grant_id = "client_credentials", client.client_id, None
            policy.check_grant_type(client, grant_type)
            scopes = policy.resolve_scopes(client, scope)
        else:
            grant_type = "authorization_code"
            policy.check_grant_type(client, grant_type)
            scopes = policy.resolve_delegated_scopes(client, scope)
            account = await self._user(user)
            subject, grant_id = account.public_id, PER_TOKEN_GID
        request = access_token_request(
            client, subject=subject, scopes=scopes, grant_id=grant_id, audience=self.issuer
        )
        claims = access_token_claims(
            request, issuer=self.issuer, now=self.clock.now(), jti=PER_TOKEN_JTI
        )
        return TokenPreview(claims, request.lifetime, grant_type)

    async def _user(self, user: str) -> User:
        if not 0 < len(user) <= 100:
            raise InvalidInput(
                "user must be a username or an account id",
                fields=[FieldError("user", "a username or an account id")],
            )
        # An account's public id (its sub) or its username; never the internal integer id.
        found: User | None = await self.session.scalar(select(User).where(User.public_id == user))
        if found is None:
            found = await self.session.scalar(
                select(User).where(func.lower(User.username) == user.lower())
            )
        if found is None:
            raise NotFound(f"no user {user!r}")
        return found
