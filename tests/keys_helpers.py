"""Public keys and client metadata for the Keys tab's tests: a client for each
registered method, built from its descriptor (clients/auth_methods.py), so a method added
to AUTH_METHODS is covered without naming it here."""

from __future__ import annotations

import itertools
import json
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from appward.clients.auth_methods import AUTH_METHODS, ClientAuthMethod
from tests.factories import NATIVE_APP, SERVICE, metadata

# RSA keys cost about 75 ms of CPU each to generate: rsa_jwk takes them in turn from a pool
# per key size, filled on first use: RSA_POOL_SIZE calls in a row give different keys (a
# test that needs more distinct keys than that generates its own).
RSA_POOL_SIZE = 16
_rsa_pools: dict[int, list[rsa.RSAPrivateKey]] = {}
_rsa_turn = itertools.count()


def _rsa_private_key(size: int) -> rsa.RSAPrivateKey:
    pool = _rsa_pools.setdefault(size, [])
    if len(pool) < RSA_POOL_SIZE:
        pool.append(rsa.generate_private_key(public_exponent=65537, key_size=size))
        return pool[-1]
    return pool[next(_rsa_turn) % RSA_POOL_SIZE]


def rsa_jwk(kid: str | None = "rsa-1", size: int = 2048, **members: str) -> dict[str, Any]:
    """Returns an RSA public JWK different from the previous RSA_POOL_SIZE - 1 of its size
    (the private key is never used)."""
    private = _rsa_private_key(size)
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
    if method.names_subject:
        fields["tls_client_auth_san_dns"] = "client.example.com"
    return metadata(base, **{**fields, **changes})


METHODS = list(AUTH_METHODS.values())
METHOD_IDS = [method.name for method in METHODS]
