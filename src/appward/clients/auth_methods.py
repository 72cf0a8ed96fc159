"""The client-authentication methods a client may register, keyed by their IANA names
(OAuth Token Endpoint Authentication Methods registry, RFC 7591 §2).

This is what a method means for a client's registration; ``auth/registry.py`` binds each
one to the module that checks its proof, and refuses to load if one is missing. The
metadata validator, DCR's policy, discovery and the token endpoint all read this mapping,
so what is advertised is exactly what is enforced: a method that is not here cannot be
registered, offered or used.
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

# Registered by IANA but not (yet) served here: refused with a message that says so.
IANA_METHOD_NAMES = frozenset(
    {
        *AUTH_METHODS,
        "client_secret_jwt",
        "private_key_jwt",
        "tls_client_auth",
        "self_signed_tls_client_auth",
    }
)


def uses_secret(method: str) -> bool:
    """Returns whether ``method``'s proof is a server-generated client secret."""
    known = AUTH_METHODS.get(method)
    return known is not None and known.uses_secret


def is_public_method(method: str) -> bool:
    """Returns whether a client registered with ``method`` is public (no credentials)."""
    known = AUTH_METHODS.get(method)
    return known is not None and known.public
