"""Issuing, introspecting and revoking tokens: the token response every grant handler
(tokens/grant_types/) returns, RFC 7662 and RFC 7009, each asking the client policy first
(who may introspect and revoke what: policy.may_introspect, policy.check_may_revoke)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from appward.clients import policy
from appward.clients.models import Client
from appward.clients.snapshot import ClientSnapshot
from appward.clock import Clock
from appward.errors import InvalidToken
from appward.tokens.access import AccessTokenRequest, decode_access_token, issue_access_token
from appward.tokens.grants import grant_and_user_are_active, revoke_grant, subject_of
from appward.tokens.keys import KeyRing
from appward.tokens.models import RefreshToken, RevokedAccessToken
from appward.tokens.refresh import REFRESH_PREFIX, find_refresh_token

INACTIVE: dict[str, Any] = {"active": False}


def access_token_request(
    client: ClientSnapshot,
    *,
    subject: str,
    scopes: list[str],
    grant_id: str | None,
    audience: str,
    certificate_thumbprint: str | None = None,
) -> AccessTokenRequest:
    """Returns what the policy says the client's next access token carries: the one
    recipe for issuing (``bearer_response``) and previewing (tokens/preview.py)."""
    return AccessTokenRequest(
        client_id=client.client_id,
        subject=subject,
        scopes=scopes,
        lifetime=policy.access_token_lifetime(client),
        audience=audience,
        grant_id=grant_id,
        certificate_thumbprint=certificate_thumbprint,
    )


@dataclass(frozen=True, slots=True)
class TokenService:
    session: AsyncSession
    ring: KeyRing
    issuer: str
    clock: Clock

    # --- the token response (RFC 6749 §5.1), for every grant handler ---

    def bearer_response(
        self,
        client: ClientSnapshot,
        *,
        subject: str,
        scopes: list[str],
        grant_id: str | None,
        certificate_thumbprint: str | None = None,
    ) -> dict[str, Any]:
        """Returns the token response body with a new access token for ``subject``,
        bound to the certificate of ``certificate_thumbprint`` when given (RFC 8705 §3)."""
        request = access_token_request(
            client,
            subject=subject,
            scopes=scopes,
            grant_id=grant_id,
            audience=self.issuer,
            certificate_thumbprint=certificate_thumbprint,
        )
        lifetime = request.lifetime
        token = issue_access_token(self.ring, request, issuer=self.issuer, now=self.clock.now())
        body: dict[str, Any] = {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": lifetime,
        }
        if scopes:
            body["scope"] = " ".join(scopes)
        return body

    # --- introspection (RFC 7662) ---

    async def introspect(self, requester: ClientSnapshot, token: str) -> dict[str, Any]:
        """Returns the RFC 7662 §2.2 response; ``{"active": false}`` for anything not
        currently valid, and for a token of another client unless the policy lets the
        requester see it (policy.may_introspect)."""
        if token.startswith(REFRESH_PREFIX):
            return await self._introspect_refresh(requester, token)
        active = await self.active_access_token(token)
        if active is None:
            return INACTIVE
        claims, issued_to = active
        if not policy.may_introspect(requester, issued_to):
            return INACTIVE
        body = {
            "active": True,
            "token_type": "Bearer",
            **{k: claims[k] for k in ("client_id", "sub", "exp", "iat", "iss", "aud", "jti")},
        }
        if "scope" in claims:
            body["scope"] = claims["scope"]
        if "cnf" in claims:
            # RFC 8705 §3.2: the resource server learns which certificate must present it.
            body["cnf"] = claims["cnf"]
        return body

    async def active_access_token_claims(self, token: str) -> dict[str, Any] | None:
        """Returns the claims of an access token that is valid, unrevoked, of an active
        client and, when issued on a user's behalf, of an unrevoked grant and an active
        user; None otherwise."""
        active = await self.active_access_token(token)
        return active[0] if active is not None else None

    async def active_access_token(self, token: str) -> tuple[dict[str, Any], ClientSnapshot] | None:
        """Returns the claims and the client of a currently valid access token, or None."""
        try:
            claims = decode_access_token(self.ring, token, issuer=self.issuer, now=self.clock.now())
        except InvalidToken:
            return None
        if await self.session.get(RevokedAccessToken, claims["jti"]) is not None:
            return None
        record = await self._client(claims["client_id"])
        if record is None:
            return None
        client = ClientSnapshot.of(record)
        if (
            not policy.client_is_active(client)
            or not policy.client_is_approved(client)
            or policy.token_is_revoked_by_client(client, claims["iat"])
        ):
            return None
        grant_id = claims.get("gid")
        if grant_id is not None and not await grant_and_user_are_active(
            self.session, str(grant_id)
        ):
            # A token issued on a user's behalf dies with the user's account, as the
            # user's refresh tokens and codes do (tokens/refresh.py, tokens/codes.py).
            return None
        return claims, client

    async def _introspect_refresh(self, requester: ClientSnapshot, token: str) -> dict[str, Any]:
        record = await find_refresh_token(self.session, token)
        if record is None:
            return INACTIVE
        issued_to = (
            requester if record.client_pk == requester.pk else await self._client_by_pk(record)
        )
        now = self.clock.now()
        if (
            issued_to is None
            or not policy.may_introspect(requester, issued_to)
            or not policy.client_is_active(issued_to)
            or not policy.client_is_approved(issued_to)
            or record.rotated_at is not None
            or record.revoked_at is not None
            or policy.token_is_revoked_by_client(issued_to, record.issued_at)
            or now >= record.expires_at
            or not await grant_and_user_are_active(self.session, record.grant_id)
        ):
            return INACTIVE
        subject = await subject_of(self.session, record.user_id)
        if subject is None:
            return INACTIVE
        body: dict[str, Any] = {
            "active": True,
            "client_id": issued_to.client_id,
            "sub": subject,
            "scope": " ".join(record.scopes),
            "exp": int(record.expires_at.timestamp()),
            "iat": int(record.issued_at.timestamp()),
            "iss": self.issuer,
        }
        if record.certificate_thumbprint is not None:
            body["cnf"] = {"x5t#S256": record.certificate_thumbprint}
        return body

    async def _client_by_pk(self, record: RefreshToken) -> ClientSnapshot | None:
        client = await self.session.get(Client, record.client_pk)
        if client is None or client.deleted_at is not None:
            return None
        return ClientSnapshot.of(client)

    # --- revocation (RFC 7009) ---

    async def revoke(self, requester: ClientSnapshot, token: str) -> None:
        """Revokes the requester's own access or refresh token; an unknown, expired or
        malformed token is ignored (RFC 7009 §2.2).

        Raises UnauthorizedClient, revoking nothing, for a token issued to another client
        (RFC 7009 §2.1, policy.check_may_revoke).
        """
        if token.startswith(REFRESH_PREFIX):
            record = await find_refresh_token(self.session, token)
            if record is not None:
                policy.check_may_revoke(requester, record.client_pk)
                # RFC 7009 §2.1: revoking a refresh token revokes its grant's tokens too.
                await revoke_grant(self.session, self.clock, record.grant_id, "revoked")
            return
        try:
            claims = decode_access_token(self.ring, token, issuer=self.issuer, now=self.clock.now())
        except InvalidToken:
            return
        policy.check_may_revoke(requester, claims["client_id"])
        await self._forget_expired_revocations()
        if await self.session.get(RevokedAccessToken, claims["jti"]) is None:
            self.session.add(
                RevokedAccessToken(
                    jti=claims["jti"], expires_at=datetime.fromtimestamp(claims["exp"], UTC)
                )
            )
            await self.session.flush()

    async def _forget_expired_revocations(self) -> None:
        await self.session.execute(
            delete(RevokedAccessToken).where(RevokedAccessToken.expires_at <= self.clock.now())
        )

    async def _client(self, client_id: str) -> Client | None:
        client: Client | None = await self.session.scalar(
            select(Client).where(Client.client_id == client_id, Client.deleted_at.is_(None))
        )
        return client
