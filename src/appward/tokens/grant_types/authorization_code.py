"""The authorization code grant's token request (RFC 6749 §4.1.3, PKCE per RFC 7636)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from appward.clients import policy
from appward.clients.snapshot import ClientSnapshot
from appward.errors import InvalidRequest
from appward.tokens.codes import redeem_code
from appward.tokens.refresh import issue_refresh_token
from appward.tokens.service import TokenService

GRANT_TYPE = "authorization_code"


async def exchange(
    tokens: TokenService,
    client: ClientSnapshot,
    form: Mapping[str, str],
    certificate_thumbprint: str | None,
) -> dict[str, Any]:
    """Exchanges a code for an access token (and a refresh token when the client's policy
    says), both bound to the presented certificate for a certificate-bound client.
    Raises InvalidRequest, InvalidGrant, UnauthorizedClient, InvalidClient."""
    policy.check_client_active(client)
    policy.check_client_approved(client)
    policy.check_grant_type(client, GRANT_TYPE)
    # Before the code is redeemed: a refused request leaves it unspent.
    binding = policy.token_binding(client, certificate_thumbprint)
    code = form.get("code")
    if code is None:
        raise InvalidRequest("code is required")
    redeemed = await redeem_code(
        tokens.session,
        tokens.clock,
        client,
        code=code,
        redirect_uri=form.get("redirect_uri"),
        code_verifier=form.get("code_verifier"),
    )
    body = tokens.bearer_response(
        client,
        subject=redeemed.subject,
        scopes=redeemed.scopes,
        grant_id=redeemed.grant_id,
        certificate_thumbprint=binding,
    )
    if policy.may_receive_refresh_token(client):
        body["refresh_token"] = await issue_refresh_token(
            tokens.session,
            tokens.clock,
            client,
            grant_id=redeemed.grant_id,
            user_id=redeemed.user_id,
            scopes=redeemed.scopes,
            certificate_thumbprint=binding,
        )
    return body
