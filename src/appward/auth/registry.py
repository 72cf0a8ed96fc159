"""The client-authentication methods this server supports, keyed by their IANA names
(OAuth Token Endpoint Authentication Methods registry, RFC 7591 §2).

The metadata validator, DCR's policy, discovery (RFC 8414
``token_endpoint_auth_methods_supported``) and the token endpoint all read this one
mapping, so what is advertised is exactly what is enforced. A method that is not here
cannot be registered, offered or used.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True, slots=True)
class ClientAuthMethod:
    """One way a client proves its identity at the token endpoint."""

    name: str
    uses_secret: bool  # the proof is a secret this server generated (kept only as a hash)
    public: bool = False  # no proof at all: the client is public (RFC 6749 §2.1)


AUTH_METHODS: Mapping[str, ClientAuthMethod] = MappingProxyType(
    {
        method.name: method
        for method in (
            ClientAuthMethod("client_secret_basic", uses_secret=True),
            ClientAuthMethod("client_secret_post", uses_secret=True),
            ClientAuthMethod("none", uses_secret=False, public=True),
        )
    }
)
