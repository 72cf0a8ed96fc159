"""Issuing tokens for the grants the token endpoint supports."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from appward.clients import policy
from appward.clients.models import Client
from appward.clock import Clock
from appward.tokens.access import AccessTokenRequest, issue_access_token
from appward.tokens.keys import KeyRing


@dataclass(frozen=True, slots=True)
class TokenService:
    ring: KeyRing
    issuer: str
    clock: Clock

    def client_credentials(self, client: Client, scope: str | None) -> dict[str, Any]:
        """Returns the RFC 6749 §4.4.3 token response for an authenticated client.

        Raises UnauthorizedClient, InvalidClient or InvalidScope from the client policy.
        """
        policy.check_client_active(client)
        policy.check_grant_type(client, "client_credentials")
        scopes = policy.resolve_scopes(client, scope)
        lifetime = policy.access_token_lifetime(client)
        token = issue_access_token(
            self.ring,
            AccessTokenRequest(
                client_id=client.client_id,
                subject=client.client_id,
                scopes=scopes,
                lifetime=lifetime,
                audience=self.issuer,
            ),
            issuer=self.issuer,
            now=self.clock.now(),
        )
        response: dict[str, Any] = {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": lifetime,
        }
        if scopes:
            response["scope"] = " ".join(scopes)
        return response
