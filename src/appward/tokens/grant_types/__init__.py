"""The grant types the token endpoint serves, one handler module each, keyed by
``grant_type``.

Discovery (RFC 8414 ``grant_types_supported``), DCR's policy and the token endpoint read
this one mapping; the metadata validator's ``GrantType`` names must be exactly its keys
(checked when this package loads). Adding a grant is one module plus one line here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from types import MappingProxyType
from typing import Any, get_args

from appward.clients.metadata import GrantType
from appward.clients.snapshot import ClientSnapshot
from appward.tokens.grant_types import authorization_code, client_credentials, refresh_token
from appward.tokens.service import TokenService

# (tokens, the authenticated client, the form, the x5t#S256 of the TLS client
# certificate presented or None) -> the token response.
GrantHandler = Callable[
    [TokenService, ClientSnapshot, Mapping[str, str], str | None], Awaitable[dict[str, Any]]
]

GRANT_TYPES: Mapping[str, GrantHandler] = MappingProxyType(
    {
        module.GRANT_TYPE: module.exchange
        for module in (authorization_code, client_credentials, refresh_token)
    }
)

if set(GRANT_TYPES) != set(get_args(GrantType)):  # pragma: no cover (a wiring mistake)
    raise RuntimeError("clients.metadata.GrantType and GRANT_TYPES must name the same grants")
