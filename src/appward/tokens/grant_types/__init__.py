"""The grant types the token endpoint serves, one handler each, keyed by ``grant_type``.

Discovery (RFC 8414 ``grant_types_supported``), the metadata validator, DCR's policy and
the token endpoint all read this one mapping.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from types import MappingProxyType
from typing import Any

from appward.clients.policy import AuthenticatedClient
from appward.tokens.service import TokenService

GrantHandler = Callable[
    [TokenService, AuthenticatedClient, dict[str, str]], Awaitable[dict[str, Any]]
]


async def _client_credentials(
    tokens: TokenService, client: AuthenticatedClient, form: dict[str, str]
) -> dict[str, Any]:
    return tokens.client_credentials(client, form.get("scope"))


async def _authorization_code(
    tokens: TokenService, client: AuthenticatedClient, form: dict[str, str]
) -> dict[str, Any]:
    return await tokens.authorization_code(client, form)


async def _refresh_token(
    tokens: TokenService, client: AuthenticatedClient, form: dict[str, str]
) -> dict[str, Any]:
    return await tokens.refresh(client, form)


GRANT_TYPES: Mapping[str, GrantHandler] = MappingProxyType(
    {
        "authorization_code": _authorization_code,
        "client_credentials": _client_credentials,
        "refresh_token": _refresh_token,
    }
)
