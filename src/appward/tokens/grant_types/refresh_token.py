"""The refresh token grant (RFC 6749 §6), rotating per the client's policy (RFC 9700 §4.14)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from appward.clients import policy
from appward.clients.snapshot import ClientSnapshot
from appward.errors import InvalidRequest
from appward.tokens.refresh import use_refresh_token
from appward.tokens.service import TokenService

GRANT_TYPE = "refresh_token"


async def exchange(
    tokens: TokenService,
    client: ClientSnapshot,
    form: Mapping[str, str],
    certificate_thumbprint: str | None,
) -> dict[str, Any]:
    """Uses a refresh token; one bound to a certificate only with that certificate
    presented (RFC 8705 §3). Raises InvalidRequest, InvalidGrant, InvalidScope,
    UnauthorizedClient, InvalidClient."""
    policy.check_client_active(client)
    policy.check_client_approved(client)
    policy.check_grant_type(client, GRANT_TYPE)
    binding = policy.token_binding(client, certificate_thumbprint)
    token = form.get("refresh_token")
    if token is None:
        raise InvalidRequest("refresh_token is required")
    result = await use_refresh_token(
        tokens.session,
        tokens.clock,
        client,
        token=token,
        scope=form.get("scope"),
        certificate_thumbprint=certificate_thumbprint,
    )
    body = tokens.bearer_response(
        client,
        subject=result.subject,
        scopes=result.scopes,
        grant_id=result.grant_id,
        certificate_thumbprint=binding,
    )
    if result.new_token is not None:
        body["refresh_token"] = result.new_token
    return body
