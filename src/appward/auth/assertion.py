"""A client assertion's checks (RFC 7523 §3, RFC 7521 §4.2), the same whatever key signs
it: the algorithm it may use with that key, who issued it, for whom, when, and that it is
used once. private_key_jwt and client_secret_jwt differ only in the keys they pass in.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from appward.auth.credentials import AssertionRules, AuthContext
from appward.clients.auth_methods import signing_algs
from appward.clients.snapshot import ClientSnapshot
from appward.errors import AuthFailure, InvalidClient

# The key type (and curves) each allowed algorithm takes (RFC 7518 §3.1, RFC 8037 §3.1):
# a header naming one algorithm never gets a key of another type (algorithm confusion).
KEY_TYPES: dict[str, tuple[str, frozenset[str] | None]] = {
    "RS256": ("RSA", None),
    "PS256": ("RSA", None),
    "ES256": ("EC", frozenset({"P-256"})),
    "EdDSA": ("OKP", frozenset({"Ed25519", "Ed448"})),
    "HS256": ("oct", None),
    "HS384": ("oct", None),
    "HS512": ("oct", None),
}
MAX_JTI = 200
LATEST_NUMERIC_DATE = 32503680000  # 3000-01-01: anything later is not a real instant


def allowed_algorithms(client: ClientSnapshot) -> tuple[str, ...]:
    """Returns what this client's assertions may be signed with: its registered
    token_endpoint_auth_signing_alg alone, or any its method allows."""
    allowed = signing_algs(client.token_endpoint_auth_method)
    chosen = client.token_endpoint_auth_signing_alg
    if chosen is not None:
        return (chosen,) if chosen in allowed else ()
    return allowed


def assertion_header(assertion: str, client: ClientSnapshot) -> dict[str, Any]:
    """Returns the assertion's JOSE header once its alg is one this client may use.

    Raises InvalidClient for any other alg (none, an HMAC for a key-signed method, one the
    client did not register).
    """
    try:
        header = jwt.get_unverified_header(assertion)
    except jwt.PyJWTError:
        raise InvalidClient("the client assertion is not a signed JWT") from None
    alg = header.get("alg")
    allowed = allowed_algorithms(client)
    if not isinstance(alg, str) or alg not in allowed:
        # Before the proof holds the answer is the generic one: which algorithms (and so
        # which method) a client registered is not told to whoever names it.
        raise InvalidClient(detail=f"assertion alg {alg!r}, allowed {', '.join(allowed)}")
    return header


def key_fits(jwk: dict[str, Any], alg: str) -> bool:
    """Returns whether ``jwk`` may verify a signature made with ``alg``: its type (and
    curve) is the algorithm's, its own alg (when present) is the same, and it is a
    signing key."""
    kty, curves = KEY_TYPES.get(alg, ("", None))
    if jwk.get("kty") != kty:
        return False
    if curves is not None and jwk.get("crv") not in curves:
        return False
    if "alg" in jwk and jwk["alg"] != alg:
        return False  # the JWK's alg binds (RFC 7517 §4.4)
    if "use" in jwk and jwk["use"] != "sig":
        return False
    ops = jwk.get("key_ops")
    return ops is None or "verify" in ops


def verify_signature(assertion: str, jwks: Sequence[dict[str, Any]], alg: str) -> dict[str, Any]:
    """Returns the assertion's claims, once one key of ``jwks`` that fits ``alg``
    verifies its signature. Time and audience are checked by :func:`check_claims`.

    Raises InvalidClient when no key verifies it.
    """
    return verify_signature_with_key(assertion, jwks, alg)[0]


def verify_signature_with_key(
    assertion: str, jwks: Sequence[dict[str, Any]], alg: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Returns the assertion's claims and the JWK of ``jwks`` that verified its signature
    (the first that fits ``alg`` and does).

    Raises InvalidClient when no key verifies it.
    """
    for jwk in jwks:
        if not key_fits(jwk, alg):
            continue
        try:
            key = jwt.PyJWK.from_dict(jwk, algorithm=alg)
            claims: dict[str, Any] = jwt.decode(
                assertion,
                key.key,
                algorithms=[alg],
                options={
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                    "verify_aud": False,
                    "verify_iss": False,
                },
            )
        except (jwt.PyJWTError, ValueError, TypeError):
            continue
        return claims, jwk
    raise InvalidClient(detail=f"no key verifies the assertion: alg {alg}, {len(jwks)} keys")


def accepted_audiences(
    rules: AssertionRules, client: ClientSnapshot, endpoint_url: str
) -> set[str]:
    """Returns the aud values this client's assertion may name. The issuer always; the
    token endpoint URL and the URL called only in 'compat' mode (CVE-2025-27370/27371:
    an assertion naming an endpoint URL can be replayed by a server that pretends to
    live there)."""
    audiences = {rules.issuer}
    if (client.assertion_audience or rules.audience) == "compat":
        audiences.add(rules.token_endpoint)
        if endpoint_url:
            audiences.add(endpoint_url)
    return audiences


def check_audience(
    aud: object, rules: AssertionRules, client: ClientSnapshot, endpoint_url: str
) -> None:
    """Raises InvalidClient unless ``aud`` names this server as the mode allows: in
    'strict' mode exactly the issuer, as a single string (draft-ietf-oauth-rfc7523bis)."""
    strict = (client.assertion_audience or rules.audience) == "strict"
    accepted = accepted_audiences(rules, client, endpoint_url)
    if isinstance(aud, str):
        if aud in accepted:
            return
    elif (
        not strict
        and isinstance(aud, list)
        and any(isinstance(item, str) and item in accepted for item in aud)
    ):
        return
    if strict:
        raise InvalidClient(
            f"the client assertion's aud must be the issuer identifier {rules.issuer!r}, "
            "as a single string"
        )
    raise InvalidClient(
        "the client assertion's aud must name this server: its issuer identifier or its "
        "token endpoint URL"
    )


def check_claims(
    claims: dict[str, Any], client: ClientSnapshot, context: AuthContext, rules: AssertionRules
) -> datetime:
    """Checks who issued the assertion, for whom and when (RFC 7523 §3); returns until
    when its jti must be remembered.

    Raises InvalidClient naming the first claim that does not hold.
    """
    client_id = client.client_id
    if claims.get("iss") != client_id or claims.get("sub") != client_id:
        raise InvalidClient("the client assertion's iss and sub must both be the client_id")
    check_audience(claims.get("aud"), rules, client, context.endpoint_url)
    now = context.clock.now()
    skew = timedelta(seconds=rules.clock_skew)
    longest = timedelta(seconds=rules.max_lifetime)
    exp = _instant(claims, "exp", required=True)
    assert exp is not None
    if exp + skew <= now:
        raise InvalidClient("the client assertion has expired")
    nbf = _instant(claims, "nbf", required=False)
    if nbf is not None and nbf - skew > now:
        raise InvalidClient("the client assertion is not valid yet (nbf)")
    iat = _instant(claims, "iat", required=False)
    if iat is not None and iat - skew > now:
        raise InvalidClient("the client assertion was issued in the future (iat)")
    if exp - (iat if iat is not None else now) > longest:
        raise InvalidClient(
            f"the client assertion lives too long: exp at most {rules.max_lifetime} "
            "seconds after iat"
        )
    jti = claims.get("jti")
    if not isinstance(jti, str) or not 0 < len(jti) <= MAX_JTI or not _is_utf8(jti):
        raise InvalidClient(f"the client assertion needs a jti of 1-{MAX_JTI} characters")
    # Remembered exactly as long as it could be accepted: until exp with the skew (the
    # lifetime check above bounds exp). Any shorter, and a client whose clock runs ahead
    # could have its assertion replayed after its jti was forgotten.
    return exp + skew


def _is_utf8(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:  # a lone surrogate from a JSON escape
        return False
    return True


def _instant(claims: dict[str, Any], name: str, *, required: bool) -> datetime | None:
    value = claims.get(name)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidClient(f"the client assertion needs {name} as a NumericDate")
    if not 0 <= value <= LATEST_NUMERIC_DATE:
        # Also keeps the skew arithmetic away from datetime's limits (no OverflowError).
        raise InvalidClient(f"the client assertion's {name} is out of range")
    try:
        return datetime.fromtimestamp(value, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise InvalidClient(f"the client assertion's {name} is out of range") from None


async def verify_assertion(
    assertion: str,
    client: ClientSnapshot,
    jwks: Sequence[dict[str, Any]],
    context: AuthContext,
) -> dict[str, Any]:
    """Returns the claims of ``assertion`` once it is signed by a key of ``jwks`` with an
    algorithm the client may use, names this client and this server, is within its time
    and has not been used before (its jti is recorded here).

    Raises InvalidClient for anything else, the replay included.
    """
    return (await verify_assertion_with_key(assertion, client, jwks, context))[0]


async def verify_assertion_with_key(
    assertion: str,
    client: ClientSnapshot,
    jwks: Sequence[dict[str, Any]],
    context: AuthContext,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Returns what :func:`verify_assertion` does, and the JWK that verified the
    signature (whose use the Keys tab shows).

    Raises InvalidClient as :func:`verify_assertion` does.
    """
    rules = context.tools.assertion_rules
    replay = context.tools.replay
    if rules is None or replay is None:
        raise InvalidClient(detail="client assertions are not configured in this app")
    alg = assertion_header(assertion, client)["alg"]
    # The signature first: an unsigned or forged assertion never reaches the replay store.
    claims, jwk = verify_signature_with_key(assertion, jwks, alg)
    remember_until = check_claims(claims, client, context, rules)
    if not await replay.use_once(context.session, client.client_id, claims["jti"], remember_until):
        raise InvalidClient(
            "the client assertion was used already (jti replay)",
            reason=AuthFailure.REPLAYED_ASSERTION,
        )
    return claims, jwk
