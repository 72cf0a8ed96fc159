"""The client credentials grant (RFC 6749 §4.4): a confidential client's own token."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from appward.clients import policy
from appward.clients.snapshot import ClientSnapshot
from appward.tokens.service import TokenService

GRANT_TYPE = "client_credentials"


async def exchange(
    tokens: TokenService,
    client: ClientSnapshot,
    form: Mapping[str, str],
    certificate_thumbprint: str | None,
) -> dict[str, Any]:
    """Returns the RFC 6749 §4.4.3 token response for an authenticated client;
    ``certificate_thumbprint`` is that of its TLS client certificate, if it presented one.

    Raises UnauthorizedClient, InvalidClient, InvalidScope or InvalidRequest (a
    certificate-bound client without its certificate) from the client policy.
    """
    policy.check_client_active(client)
    policy.check_client_approved(client)
    policy.check_grant_type(client, GRANT_TYPE)
    scopes = policy.resolve_scopes(client, form.get("scope"))
    binding = policy.token_binding(client, certificate_thumbprint)
    return tokens.bearer_response(
        client,
        subject=client.client_id,
        scopes=scopes,
        grant_id=None,
        certificate_thumbprint=binding,
    )
