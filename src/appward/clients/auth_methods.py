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

# What a client may sign an assertion with (RFC 7523 §2.2). Never "none"; never an HMAC
# for a public key (the alg-confusion class of attacks); RSA-PKCS1 last, still common.
ASYMMETRIC_SIGNING_ALGS = ("PS256", "ES256", "EdDSA", "RS256")
# client_secret_jwt: an HMAC keyed with the client's secret.
HMAC_SIGNING_ALGS = ("HS256", "HS384", "HS512")

# RFC 7521 §4.2: the one client_assertion_type a JWT assertion travels with.
JWT_BEARER_ASSERTION = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@dataclass(frozen=True, slots=True)
class ClientAuthMethod:
    """One way a client proves its identity at the token endpoint."""

    name: str
    uses_secret: bool  # the proof involves a secret this server generated
    public: bool = False  # no proof at all: the client is public (RFC 6749 §2.1)
    # The secret must be readable (an HMAC key), so it is kept encrypted, not hashed.
    secret_encrypted: bool = False
    uses_keys: bool = False  # proven with a key of the client's registered jwks/jwks_uri
    uses_certificate: bool = False  # proven by the TLS client certificate (RFC 8705)
    signing_algs: tuple[str, ...] = ()  # what its assertions may be signed with


AUTH_METHODS: Mapping[str, ClientAuthMethod] = MappingProxyType(
    {
        method.name: method
        for method in (
            ClientAuthMethod("client_secret_basic", uses_secret=True),
            ClientAuthMethod("client_secret_post", uses_secret=True),
            ClientAuthMethod("none", uses_secret=False, public=True),
            ClientAuthMethod(
                "private_key_jwt",
                uses_secret=False,
                uses_keys=True,
                signing_algs=ASYMMETRIC_SIGNING_ALGS,
            ),
            ClientAuthMethod(
                "client_secret_jwt",
                uses_secret=True,
                secret_encrypted=True,
                signing_algs=HMAC_SIGNING_ALGS,
            ),
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


def secret_is_encrypted(method: str) -> bool:
    """Returns whether ``method`` needs the plaintext secret (an HMAC key), so its clients'
    secrets are stored encrypted instead of hashed."""
    known = AUTH_METHODS.get(method)
    return known is not None and known.secret_encrypted


def uses_keys(method: str) -> bool:
    """Returns whether ``method`` is proven with a key of the client's jwks or jwks_uri."""
    known = AUTH_METHODS.get(method)
    return known is not None and known.uses_keys


def uses_certificate(method: str) -> bool:
    """Returns whether ``method`` is proven by the TLS client certificate."""
    known = AUTH_METHODS.get(method)
    return known is not None and known.uses_certificate


def signing_algs(method: str) -> tuple[str, ...]:
    """Returns the algorithms an assertion of ``method`` may be signed with (none: the
    method takes no assertion)."""
    known = AUTH_METHODS.get(method)
    return known.signing_algs if known is not None else ()


def signing_algs_supported() -> list[str]:
    """Returns every assertion signing algorithm of a registered method, for discovery's
    token_endpoint_auth_signing_alg_values_supported (RFC 8414 §2)."""
    return list(dict.fromkeys(alg for m in AUTH_METHODS.values() for alg in m.signing_algs))


def is_public_method(method: str) -> bool:
    """Returns whether a client registered with ``method`` is public (no credentials)."""
    known = AUTH_METHODS.get(method)
    return known is not None and known.public
