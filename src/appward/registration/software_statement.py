"""Software statements (RFC 7591 §2.3): signed JWTs in which a trusted publisher vouches
for a client's metadata. Verified against the publisher's configured keys only; nothing
is ever fetched."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import jwt

from appward.errors import InvalidSoftwareStatement, UnapprovedSoftwareStatement

# Asymmetric algorithms only: a publisher's key set is public, so a MAC over it proves
# nothing, and 'none' is never a signature.
ALGORITHMS = ["ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "EdDSA"]
MAX_STATEMENT = 8 * 1024
# JWT bookkeeping claims: they describe the statement, not the client.
CLOCK_SKEW = 30  # seconds
STATEMENT_CLAIMS = frozenset({"iss", "sub", "aud", "iat", "exp", "nbf", "jti"})


def verify_software_statement(
    statement: object, publishers: Mapping[str, Mapping[str, Any]], *, now: datetime
) -> dict[str, Any]:
    """Returns the client metadata the statement vouches for.

    Raises InvalidSoftwareStatement when it is not a well-formed JWT signed with an
    asymmetric algorithm by a key of its issuer, or has expired;
    UnapprovedSoftwareStatement when its issuer is not a trusted publisher here.
    """
    if (
        not isinstance(statement, str)
        or not statement
        or len(statement) > MAX_STATEMENT
        or not statement.isascii()
    ):
        raise InvalidSoftwareStatement(
            f"software_statement must be a JWT of at most {MAX_STATEMENT} bytes"
        )
    try:
        header = jwt.get_unverified_header(statement)
        unverified = jwt.decode(statement, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise InvalidSoftwareStatement("software_statement is not a well-formed JWT") from None
    if header.get("alg") not in ALGORITHMS:
        raise InvalidSoftwareStatement(
            "software_statement must be signed with an asymmetric algorithm "
            f"({', '.join(ALGORITHMS)})"
        )
    issuer = unverified.get("iss")
    if not isinstance(issuer, str) or issuer not in publishers:
        raise UnapprovedSoftwareStatement(
            "the software statement's issuer is not a trusted publisher here"
        )
    key = _signing_key(publishers[issuer], header.get("kid"))
    try:
        claims: dict[str, Any] = jwt.decode(
            statement,
            key,
            algorithms=[header["alg"]],
            issuer=issuer,
            # Times are checked below against the server's clock.
            options={"verify_aud": False, "verify_exp": False, "verify_nbf": False},
        )
    except jwt.PyJWTError as exc:
        raise InvalidSoftwareStatement(
            "the software statement's signature does not verify", detail=type(exc).__name__
        ) from None
    _check_times(claims, now)
    return {k: v for k, v in claims.items() if k not in STATEMENT_CLAIMS}


def stored_statement_claims(statement: str) -> dict[str, Any]:
    """Returns the client metadata of a statement this server verified when it stored it
    (the signature is not checked again: the publisher's key may have rotated since)."""
    claims: dict[str, Any] = jwt.decode(statement, options={"verify_signature": False})
    return {k: v for k, v in claims.items() if k not in STATEMENT_CLAIMS}


def statement_issuer(statement: object) -> str | None:
    """Returns the publisher a verified statement names, for the audit log."""
    try:
        issuer = jwt.decode(str(statement), options={"verify_signature": False}).get("iss")
    except jwt.PyJWTError:
        return None
    return issuer if isinstance(issuer, str) else None


def _check_times(claims: Mapping[str, Any], now: datetime) -> None:
    current = now.timestamp()
    for name in ("exp", "nbf"):
        value = claims.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise InvalidSoftwareStatement(f"the software statement's {name} is not a number")
    expires, not_before = claims.get("exp"), claims.get("nbf")
    if expires is not None and current >= expires + CLOCK_SKEW:
        raise InvalidSoftwareStatement("the software statement has expired")
    if not_before is not None and current < not_before - CLOCK_SKEW:
        raise InvalidSoftwareStatement("the software statement is not valid yet")


def _signing_key(jwks: Mapping[str, Any], kid: object) -> jwt.PyJWK:
    try:
        keys = jwt.PyJWKSet.from_dict(dict(jwks)).keys
    except jwt.PyJWTError:
        raise UnapprovedSoftwareStatement("the publisher's configured keys are unusable") from None
    matching = [k for k in keys if kid is None or k.key_id == kid]
    if len(matching) != 1:
        raise InvalidSoftwareStatement(
            "the software statement's kid names no single key of its publisher"
        )
    return matching[0]
