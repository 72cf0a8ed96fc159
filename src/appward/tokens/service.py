"""Issuing, introspecting and revoking tokens: the token endpoint's grants and RFC 7662 /
RFC 7009, each asking the client policy before it acts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from appward.clients import policy
from appward.clients.models import Client
from appward.clients.policy import AuthenticatedClient
from appward.clock import Clock
from appward.errors import InvalidRequest, InvalidToken
from appward.tokens.access import AccessTokenRequest, decode_access_token, issue_access_token
from appward.tokens.codes import redeem_code
from appward.tokens.grants import grant_is_active, revoke_grant
from appward.tokens.keys import KeyRing
from appward.tokens.models import RevokedAccessToken
from appward.tokens.refresh import (
    REFRESH_PREFIX,
    find_refresh_token,
    issue_refresh_token,
    use_refresh_token,
)

INACTIVE: dict[str, Any] = {"active": False}


@dataclass(frozen=True, slots=True)
class TokenService:
    session: AsyncSession
    ring: KeyRing
    issuer: str
    clock: Clock

    # --- grants (RFC 6749 §4.1.3, §4.4, §6) ---

    def client_credentials(self, client: AuthenticatedClient, scope: str | None) -> dict[str, Any]:
        """Returns the RFC 6749 §4.4.3 token response for an authenticated client.

        Raises UnauthorizedClient, InvalidClient or InvalidScope from the client policy.
        """
        policy.check_client_active(client)
        policy.check_grant_type(client, "client_credentials")
        scopes = policy.resolve_scopes(client, scope)
        return self._response(client, subject=client.client_id, scopes=scopes, grant_id=None)

    async def authorization_code(
        self, client: AuthenticatedClient, form: dict[str, str]
    ) -> dict[str, Any]:
        """Exchanges a code (RFC 6749 §4.1.3). Raises InvalidRequest, InvalidGrant,
        UnauthorizedClient."""
        policy.check_client_active(client)
        policy.check_grant_type(client, "authorization_code")
        code = form.get("code")
        if code is None:
            raise InvalidRequest("code is required")
        redeemed = await redeem_code(
            self.session,
            self.clock,
            client,
            code=code,
            redirect_uri=form.get("redirect_uri"),
            code_verifier=form.get("code_verifier"),
        )
        body = self._response(
            client,
            subject=str(redeemed.user_id),
            scopes=redeemed.scopes,
            grant_id=redeemed.grant_id,
        )
        if client.issue_refresh_tokens:
            body["refresh_token"] = await issue_refresh_token(
                self.session,
                self.clock,
                client,
                grant_id=redeemed.grant_id,
                user_id=redeemed.user_id,
                scopes=redeemed.scopes,
            )
        return body

    async def refresh(self, client: AuthenticatedClient, form: dict[str, str]) -> dict[str, Any]:
        """Uses a refresh token (RFC 6749 §6), rotating it when the client's policy says.
        Raises InvalidRequest, InvalidGrant, InvalidScope, UnauthorizedClient."""
        policy.check_client_active(client)
        policy.check_grant_type(client, "refresh_token")
        token = form.get("refresh_token")
        if token is None:
            raise InvalidRequest("refresh_token is required")
        result = await use_refresh_token(
            self.session, self.clock, client, token=token, scope=form.get("scope")
        )
        body = self._response(
            client, subject=str(result.user_id), scopes=result.scopes, grant_id=result.grant_id
        )
        if result.new_token is not None:
            body["refresh_token"] = result.new_token
        return body

    def _response(
        self, client: AuthenticatedClient, *, subject: str, scopes: list[str], grant_id: str | None
    ) -> dict[str, Any]:
        lifetime = policy.access_token_lifetime(client)
        token = issue_access_token(
            self.ring,
            AccessTokenRequest(
                client_id=client.client_id,
                subject=subject,
                scopes=scopes,
                lifetime=lifetime,
                audience=self.issuer,
                grant_id=grant_id,
            ),
            issuer=self.issuer,
            now=self.clock.now(),
        )
        body: dict[str, Any] = {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": lifetime,
        }
        if scopes:
            body["scope"] = " ".join(scopes)
        return body

    # --- introspection (RFC 7662) ---

    async def introspect(self, requester: AuthenticatedClient, token: str) -> dict[str, Any]:
        """Returns the RFC 7662 §2.2 response; ``{"active": false}`` for anything not
        currently valid, and for a refresh token of another client."""
        if token.startswith(REFRESH_PREFIX):
            return await self._introspect_refresh(requester, token)
        claims = await self.active_access_token_claims(token)
        if claims is None:
            return INACTIVE
        body = {
            "active": True,
            "token_type": "Bearer",
            **{k: claims[k] for k in ("client_id", "sub", "exp", "iat", "iss", "aud", "jti")},
        }
        if "scope" in claims:
            body["scope"] = claims["scope"]
        return body

    async def active_access_token_claims(self, token: str) -> dict[str, Any] | None:
        """Returns the claims of an access token that is valid, unrevoked, of an active
        client and an unrevoked grant; None otherwise."""
        active = await self.active_access_token(token)
        return active[0] if active is not None else None

    async def active_access_token(self, token: str) -> tuple[dict[str, Any], Client] | None:
        """Returns the claims and the client of a currently valid access token, or None."""
        try:
            claims = decode_access_token(self.ring, token, issuer=self.issuer, now=self.clock.now())
        except InvalidToken:
            return None
        if await self.session.get(RevokedAccessToken, claims["jti"]) is not None:
            return None
        client = await self._client(claims["client_id"])
        if client is None or client.status != "active":
            return None
        grant_id = claims.get("gid")
        if grant_id is not None and not await grant_is_active(self.session, str(grant_id)):
            return None
        return claims, client

    async def _introspect_refresh(
        self, requester: AuthenticatedClient, token: str
    ) -> dict[str, Any]:
        record = await find_refresh_token(self.session, token)
        now = self.clock.now()
        if (
            record is None
            or record.client_pk != requester.pk
            or record.rotated_at is not None
            or record.revoked_at is not None
            or now >= record.expires_at
            or requester.status != "active"
            or not await grant_is_active(self.session, record.grant_id)
        ):
            return INACTIVE
        return {
            "active": True,
            "client_id": requester.client_id,
            "sub": str(record.user_id),
            "scope": " ".join(record.scopes),
            "exp": int(record.expires_at.timestamp()),
            "iat": int(record.issued_at.timestamp()),
            "iss": self.issuer,
        }

    # --- revocation (RFC 7009) ---

    async def revoke(self, requester: AuthenticatedClient, token: str) -> None:
        """Revokes the requester's own access or refresh token; anything else, including
        another client's token or garbage, is silently ignored (RFC 7009 §2.2)."""
        if token.startswith(REFRESH_PREFIX):
            record = await find_refresh_token(self.session, token)
            if record is not None and record.client_pk == requester.pk:
                # RFC 7009 §2.1: revoking a refresh token revokes its grant's tokens too.
                await revoke_grant(self.session, self.clock, record.grant_id, "revoked")
            return
        try:
            claims = decode_access_token(self.ring, token, issuer=self.issuer, now=self.clock.now())
        except InvalidToken:
            return
        if claims["client_id"] != requester.client_id:
            return
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
