"""JWT access tokens (RFC 9068): issued signed with the key ring, verified against it."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import jwt
import orjson
from jwt.api_jws import PyJWS

from appward.errors import InvalidToken
from appward.tokens.keys import SIGNING_ALG, KeyRing

TOKEN_TYPE = "at+jwt"
_JWS = PyJWS()


@dataclass(frozen=True, slots=True)
class AccessTokenRequest:
    client_id: str
    subject: str
    scopes: list[str]
    lifetime: int
    audience: str
    grant_id: str | None = None  # the grant a user-delegated token follows from
    # RFC 8705 §3.1: x5t#S256 of the TLS client certificate the token is bound to.
    certificate_thumbprint: str | None = None


def access_token_claims(
    request: AccessTokenRequest, *, issuer: str, now: datetime, jti: str
) -> dict[str, Any]:
    """Returns the claims of the access token ``request`` describes, issued at ``now``:
    the one definition that issuing and the token preview (tokens/preview.py) share."""
    issued_at = int(now.timestamp())
    claims: dict[str, Any] = {
        "iss": issuer,
        "sub": request.subject,
        "aud": request.audience,
        "client_id": request.client_id,
        "iat": issued_at,
        "exp": issued_at + request.lifetime,
        "jti": jti,
    }
    if request.scopes:
        claims["scope"] = " ".join(request.scopes)
    if request.grant_id is not None:
        claims["gid"] = request.grant_id
    if request.certificate_thumbprint is not None:
        # A resource server accepts the token only over TLS with this certificate.
        claims["cnf"] = {"x5t#S256": request.certificate_thumbprint}
    return claims


def issue_access_token(
    ring: KeyRing, request: AccessTokenRequest, *, issuer: str, now: datetime
) -> str:
    """Returns a signed RFC 9068 access token."""
    claims = access_token_claims(request, issuer=issuer, now=now, jti=secrets.token_urlsafe(16))
    # The claims are serialised here (orjson is several times faster than json, and this
    # is the hot path); signing and the JWS framing stay PyJWT's.
    return _JWS.encode(
        orjson.dumps(claims),
        ring.signing_key,
        algorithm=SIGNING_ALG,
        headers={"typ": TOKEN_TYPE, "kid": ring.signing_kid},
    )


def verify_access_token(
    ring: KeyRing, token: str, *, issuer: str, audience: str, now: datetime
) -> dict[str, Any]:
    """Returns the claims of a token this server issued for ``audience``, valid at ``now``.

    Raises InvalidToken for anything else (the detail says why; the description never).
    """
    claims = decode_access_token(ring, token, issuer=issuer, now=now)
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if audience not in audiences:
        raise InvalidToken("the access token is not meant for this API", detail="wrong aud")
    return claims


def decode_access_token(ring: KeyRing, token: str, *, issuer: str, now: datetime) -> dict[str, Any]:
    """Returns the claims of an unexpired access token signed by this server, for any
    audience. Raises InvalidToken."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise InvalidToken("the access token is malformed") from None
    # RFC 9068 §4: reject tokens whose typ is not at+jwt, so no other JWT passes as one.
    if header.get("typ") != TOKEN_TYPE or header.get("alg") != SIGNING_ALG:
        raise InvalidToken("the access token is invalid", detail="wrong typ or alg")
    public = ring.public_keys.get(str(header.get("kid")))
    if public is None:
        raise InvalidToken("the access token is invalid", detail="unknown kid")
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            public,
            algorithms=[SIGNING_ALG],
            issuer=issuer,
            # Time comes from the injected clock, checked below; audience by the caller.
            options={
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
                "verify_aud": False,
                "require": ["exp", "iat", "iss", "aud", "sub", "client_id", "jti"],
            },
        )
    except jwt.PyJWTError as exc:
        raise InvalidToken("the access token is invalid", detail=type(exc).__name__) from None
    if not isinstance(claims["exp"], int) or claims["exp"] <= now.timestamp():
        raise InvalidToken("the access token has expired")
    return claims
