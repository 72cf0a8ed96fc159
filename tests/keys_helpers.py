"""Public keys and client metadata for the Keys tab's tests: a client for each
registered method, built from its descriptor (clients/auth_methods.py), so a method added
to AUTH_METHODS is covered without naming it here."""

from __future__ import annotations

import json
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from appward.clients.auth_methods import AUTH_METHODS, ClientAuthMethod
from tests.factories import NATIVE_APP, SERVICE, metadata


def rsa_jwk(kid: str | None = "rsa-1", size: int = 2048, **members: str) -> dict[str, Any]:
    """Returns a new RSA public JWK (and forgets the private key)."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=size)
    jwk: dict[str, Any] = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
    return {**jwk, **({"kid": kid} if kid else {}), **members}


def ec_jwk(kid: str | None = "ec-1", **members: str) -> dict[str, Any]:
    private = ec.generate_private_key(ec.SECP256R1())
    jwk: dict[str, Any] = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(private.public_key()))
    return {**jwk, **({"kid": kid} if kid else {}), **members}


def private_ec_jwk(kid: str = "leaked") -> dict[str, Any]:
    private = ec.generate_private_key(ec.SECP256R1())
    jwk: dict[str, Any] = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(private))
    return {**jwk, "kid": kid}


def client_for(method: ClientAuthMethod, **changes: Any) -> dict[str, Any]:
    """Returns valid metadata of a client registered with ``method``: keys for a key
    method, a TLS subject for a certificate method, a native app for a public one."""
    base = NATIVE_APP if method.public else SERVICE
    fields: dict[str, Any] = {"token_endpoint_auth_method": method.name}
    fields["jwks"] = {"keys": [rsa_jwk(), ec_jwk(alg="ES256", use="sig")]}
    if method.uses_certificate:
        fields["tls_client_auth_san_dns"] = "client.example.com"
    return metadata(base, **{**fields, **changes})


METHODS = list(AUTH_METHODS.values())
METHOD_IDS = [method.name for method in METHODS]
