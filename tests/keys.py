"""Key pairs for tests of key-based client authentication, made with ``cryptography``
(never checked in), and their public JWKs as a client registers them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


@dataclass(frozen=True)
class TestKey:
    """A private key, the algorithm a test signs with, and its public JWK."""

    __test__ = False  # not a test class, whatever pytest thinks of the name

    private: PrivateKey
    alg: str
    kid: str

    def public_jwk(self, **members: Any) -> dict[str, Any]:
        """Returns the public JWK (with kid, and ``members`` such as alg or use)."""
        public = self.private.public_key()
        if isinstance(self.private, rsa.RSAPrivateKey):
            exported = RSAAlgorithm.to_jwk(public)
        elif isinstance(self.private, ec.EllipticCurvePrivateKey):
            exported = ECAlgorithm.to_jwk(public)
        else:
            exported = OKPAlgorithm.to_jwk(public)
        jwk: dict[str, Any] = json.loads(exported)
        jwk["kid"] = self.kid
        jwk.update(members)
        return {k: v for k, v in jwk.items() if v is not None}

    def jwks(self, **members: Any) -> dict[str, Any]:
        """Returns a JWK Set of the public key alone."""
        return {"keys": [self.public_jwk(**members)]}


@cache
def rsa_key(kid: str = "rsa-1") -> TestKey:
    """An RSA 2048 key (RS256 by default; it signs PS256 too)."""
    return TestKey(rsa.generate_private_key(public_exponent=65537, key_size=2048), "RS256", kid)


@cache
def ec_key(kid: str = "ec-1") -> TestKey:
    """A P-256 key for ES256."""
    return TestKey(ec.generate_private_key(ec.SECP256R1()), "ES256", kid)


@cache
def ed25519_key(kid: str = "ed-1") -> TestKey:
    """An Ed25519 key for EdDSA."""
    return TestKey(ed25519.Ed25519PrivateKey.generate(), "EdDSA", kid)
