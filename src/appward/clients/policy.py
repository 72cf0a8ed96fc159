"""The one place that answers "may this client do this now?" for every endpoint.

/authorize, /token, introspection and revocation call these; none re-implements a check.
Each takes the client as a :class:`ClientSnapshot`, the one shape per-request rules read.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping
from datetime import datetime, timedelta

from appward.clients.scopes import ADMIN_SCOPE
from appward.clients.snapshot import ClientSnapshot
from appward.errors import (
    AuthFailure,
    InsufficientScope,
    InvalidClient,
    InvalidGrant,
    InvalidRequest,
    InvalidScope,
    InvalidToken,
    UnauthorizedClient,
)

# RFC 7636 §4.2: an S256 challenge is the base64url SHA-256 digest, 43 characters.
S256_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")
# A loopback redirect URI's port, which RFC 8252 §7.3 lets the native app choose at run time.
LOOPBACK_PORT = re.compile(r"^(http://(?:127\.0\.0\.1|\[::1\]))(?::[0-9]{1,5})?(?=[/?]|$)")


def client_is_active(client: ClientSnapshot) -> bool:
    """Returns whether the client may take part in any exchange now: neither disabled
    nor deleted."""
    return client.status == "active" and client.deleted_at is None


def check_client_active(client: ClientSnapshot) -> None:
    """Raises InvalidClient when the client is disabled or deleted."""
    if not client_is_active(client):
        raise InvalidClient(
            "this client is disabled",
            detail=f"client status {client.status}",
            reason=AuthFailure.CLIENT_DISABLED,
        )


def client_is_approved(client: ClientSnapshot) -> bool:
    """Returns whether the client passed review (clients/approval.py): a pending or
    rejected client gets no token and no authorization."""
    return client.approval == "approved"


def check_client_approved(client: ClientSnapshot) -> None:
    """Raises UnauthorizedClient while the client is pending review or was rejected."""
    if not client_is_approved(client):
        raise UnauthorizedClient(
            "this client has not been approved by an administrator",
            detail=f"client approval {client.approval}",
        )


def token_is_revoked_by_client(client: ClientSnapshot, issued_at: int | datetime) -> bool:
    """Returns whether a token (access, refresh or code) issued at ``issued_at`` died with
    a revocation of all the client's tokens (revoke-all, or a disable): issued in or before
    the second of ``tokens_not_before``. Seconds, because an access token's ``iat`` is
    whole seconds; a token issued within the very second of the revocation is refused too,
    never one from before it let through."""
    if client.tokens_not_before is None:
        return False
    seconds = issued_at if isinstance(issued_at, int) else int(issued_at.timestamp())
    return seconds <= int(client.tokens_not_before.timestamp())


def check_grant_type(client: ClientSnapshot, grant_type: str) -> None:
    """Raises UnauthorizedClient unless the client registered ``grant_type``."""
    if grant_type not in client.grant_types:
        raise UnauthorizedClient(f"this client may not use the {grant_type} grant")


def resolve_scopes(client: ClientSnapshot, requested: str | None) -> list[str]:
    """Returns the scopes to grant the client's own token (client_credentials): the
    request's, or all the client's when it names none.

    Raises InvalidScope when the request is malformed or asks for a scope the client
    was not given (RFC 6749 §3.3).
    """
    return _granted(list(client.scopes), requested)


def resolve_delegated_scopes(client: ClientSnapshot, requested: str | None) -> list[str]:
    """Returns the scopes a user may be asked to delegate to the client at /authorize:
    the request's, or all the client's but the admin scope when it names none.

    Raises InvalidScope for a malformed request, a scope the client was not given, and
    the admin scope, which is only ever granted to a client's own client_credentials
    token: a user cannot hand an application administrative power.
    """
    scopes = _granted(list(client.scopes), requested)
    if requested is None or requested.strip() == "":
        return [s for s in scopes if s != ADMIN_SCOPE]
    if ADMIN_SCOPE in scopes:
        raise InvalidScope(f"{ADMIN_SCOPE} is never granted on a user's behalf")
    return scopes


def narrow_refresh_scopes(
    client: ClientSnapshot, granted: list[str], requested: str | None
) -> list[str]:
    """Returns the scopes of the access token a refresh issues: those granted before
    (or the requested subset of them, RFC 6749 §6) that the client still holds, never
    the admin scope.

    Raises InvalidScope when ``requested`` is malformed or asks for more than was granted.
    """
    # Scopes the client has lost since the grant are dropped, never re-issued; the admin
    # scope too, should a grant from before it was refused on a user's behalf carry it.
    available = [s for s in granted if s in client.scopes and s != ADMIN_SCOPE]
    if requested is None or requested.strip() == "":
        return available
    wanted = requested.split(" ")
    if "" in wanted or any(w not in granted for w in wanted):
        raise InvalidScope("a refresh may only ask for scopes granted before (RFC 6749 §6)")
    if ADMIN_SCOPE in wanted:
        raise InvalidScope(f"{ADMIN_SCOPE} is never granted on a user's behalf")
    return [w for w in dict.fromkeys(wanted) if w in available]


def _granted(allowed: list[str], requested: str | None) -> list[str]:
    if requested is None or requested.strip() == "":
        return allowed
    wanted = requested.split(" ")
    if any(w == "" for w in wanted):
        raise InvalidScope("scopes are separated by single spaces (RFC 6749 §3.3)")
    not_allowed = [w for w in wanted if w not in allowed]
    if not_allowed:
        raise InvalidScope(f"scope not allowed for this client: {' '.join(not_allowed)}")
    return list(dict.fromkeys(wanted))


def match_redirect_uri(client: ClientSnapshot, requested: str | None) -> tuple[str, bool]:
    """Returns the redirect URI to use and whether the request named it.

    Registered URIs match character for character, with no normalisation (RFC 9700
    §4.1.3); only a loopback IP literal's port may differ (RFC 8252 §7.3). Without one
    in the request, a client with exactly one registered URI uses it (RFC 6749 §3.1.2.3).
    Raises InvalidRequest otherwise: the caller must show an error page, never redirect.
    """
    if requested is None:
        if len(client.redirect_uris) == 1:
            return client.redirect_uris[0], False
        raise InvalidRequest("redirect_uri is required: the client registered several")
    if requested in client.redirect_uris:
        return requested, True
    without_port = LOOPBACK_PORT.sub(r"\1", requested)
    if LOOPBACK_PORT.match(requested) and any(
        LOOPBACK_PORT.sub(r"\1", registered) == without_port
        for registered in client.redirect_uris
        if LOOPBACK_PORT.match(registered)
    ):
        return requested, True
    raise InvalidRequest("redirect_uri is not registered for this client")


def check_pkce_request(
    client: ClientSnapshot, challenge: str | None, method: str | None
) -> str | None:
    """Returns the code challenge to bind to the code (None when PKCE is not used).

    Raises InvalidRequest when PKCE is required and missing (every public client, and
    confidential ones with require_pkce), or uses anything but S256 (RFC 9700 §2.1.1).
    """
    if challenge is None:
        if method is not None:
            raise InvalidRequest("code_challenge_method given without code_challenge")
        if client.is_public or client.require_pkce:
            raise InvalidRequest("code_challenge is required (PKCE with S256, RFC 7636)")
        return None
    if method != "S256":
        raise InvalidRequest("code_challenge_method must be S256; plain is not accepted")
    if not S256_CHALLENGE.fullmatch(challenge):
        raise InvalidRequest("code_challenge must be 43 base64url characters (RFC 7636 §4.2)")
    return challenge


def check_admin(claims: Mapping[str, object], client: ClientSnapshot) -> None:
    """Raises InsufficientScope unless the token is a confidential client's own token
    (client_credentials: no user behind it) that carries the admin scope, and its client
    still holds that scope: taking the scope from a client cuts off its live tokens at once.

    A token issued on a user's behalf never passes, whatever its scope says.
    """
    if "gid" in claims or claims.get("sub") != client.client_id:
        raise InsufficientScope("a token issued on a user's behalf cannot administer Appward")
    if client.is_public:
        raise InsufficientScope(f"a public client cannot hold {ADMIN_SCOPE}")
    if ADMIN_SCOPE not in str(claims.get("scope", "")).split(" "):
        raise InsufficientScope(f"the token lacks the {ADMIN_SCOPE} scope")
    if ADMIN_SCOPE not in client.scopes:
        raise InsufficientScope(f"the token's client no longer holds {ADMIN_SCOPE}")


# RFC 7636 §4.1: code_verifier = 43*128unreserved
PKCE_VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")


def s256(verifier: str) -> str:
    """Returns the S256 code challenge of ``verifier`` (RFC 7636 §4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def check_pkce_verifier(challenge: str | None, verifier: str | None) -> None:
    """Checks a code's PKCE binding at /token (RFC 7636 §4.6), comparing in constant time.

    Raises InvalidGrant when a verifier is missing, unexpected or wrong; InvalidRequest
    when it is malformed.
    """
    if challenge is None:
        if verifier is not None:
            raise InvalidGrant("code_verifier given, but the authorization had no code_challenge")
        return
    if verifier is None:
        raise InvalidGrant("code_verifier is required (RFC 7636 §4.5)")
    if not PKCE_VERIFIER.fullmatch(verifier):
        raise InvalidRequest("code_verifier must be 43-128 unreserved characters (RFC 7636 §4.1)")
    if not hmac.compare_digest(s256(verifier), challenge):
        raise InvalidGrant("code_verifier does not match the code_challenge")


def check_may_introspect(client: ClientSnapshot) -> None:
    """Raises InvalidClient for a public client: introspection tells about tokens, so only
    a client that proved who it is may ask (RFC 7662 §2.1)."""
    if client.is_public:
        raise InvalidClient(
            "public clients cannot introspect tokens", reason=AuthFailure.NOT_ALLOWED
        )


def may_redeem(client: ClientSnapshot, issued_to_pk: int) -> bool:
    """Returns whether the client may redeem a code or refresh token issued to the client
    ``issued_to_pk``: only its own (RFC 6749 §4.1.3, §6)."""
    return client.pk == issued_to_pk


def may_introspect(requester: ClientSnapshot, issued_to: ClientSnapshot) -> bool:
    """Returns whether introspection may describe a token (access or refresh) issued to
    ``issued_to``: the requester's own; another client's only when an administrator
    granted the requester the introspection permission (a resource server) or it holds
    the admin scope (which may grant itself that permission anyway). RFC 7662 §2.1
    leaves the rule to the server; anything else is answered ``{"active": false}``.
    """
    if requester.pk == issued_to.pk:
        return True
    return requester.may_introspect_others or ADMIN_SCOPE in requester.scopes


def check_may_revoke(requester: ClientSnapshot, issued_to: int | str) -> None:
    """Raises UnauthorizedClient unless the token was issued to the requester itself
    (``issued_to``: a client's pk, or the client_id an access token names). RFC 7009 §2.1:
    the server "verifies whether the token was issued to the client making the
    revocation request. If this validation fails, the request is refused and the client
    is informed of the error"; the token stays active. No permission, not even the admin
    scope, lets a client revoke another's token here (the admin API revokes a client's
    tokens as a whole).
    """
    # RFC 7009 §2.2.1 takes its errors from RFC 6749 §5.2, which has no code for this case.
    # unauthorized_client ("the authenticated client is not authorized to ..."; ORY
    # fosite/Hydra answer it) says what happened: the client authenticated and the
    # request is well-formed, but this client may not act on this token. invalid_request
    # (Keycloak's "Unmatching clients", node-oidc-provider's "this token does not belong
    # to you") is for a malformed request, which this is not; invalid_grant's "issued to
    # another client" is about the grant presented at the token endpoint and would tell
    # the client its own grant is dead.
    if isinstance(issued_to, int):
        own = requester.pk == issued_to
    else:
        own = requester.client_id == issued_to
    if not own:
        raise UnauthorizedClient(
            "the token was not issued to this client, so it may not revoke it",
            detail=f"token issued to {issued_to}",
        )


def access_token_lifetime(client: ClientSnapshot) -> int:
    """Returns the lifetime in seconds of the access tokens the client gets."""
    return client.access_token_ttl


def token_binding(client: ClientSnapshot, presented_thumbprint: str | None) -> str | None:
    """Returns the x5t#S256 thumbprint the client's new tokens are bound to (RFC 8705
    §3): that of the certificate presented, for a client registered with
    tls_client_certificate_bound_access_tokens; None for any other client (a certificate
    it presents binds nothing).

    Raises InvalidRequest when such a client presented no certificate: its request lacks
    what the tokens it asked for need (client authentication itself may have held, as
    for a private_key_jwt client).
    """
    if not client.certificate_bound_tokens:
        return None
    if presented_thumbprint is None:
        raise InvalidRequest(
            "this client's tokens are bound to its TLS client certificate (RFC 8705 §3), "
            "and none was presented"
        )
    return presented_thumbprint


def check_token_binding(claims: Mapping[str, object], presented_thumbprint: str | None) -> None:
    """Checks that a bound access token (one with cnf x5t#S256) comes with the
    certificate it is bound to, as a resource server must (RFC 8705 §3.1).

    Raises InvalidToken when it is bound and the request presented no certificate, or
    another one.
    """
    cnf = claims.get("cnf")
    if not isinstance(cnf, Mapping):
        return
    bound = cnf.get("x5t#S256")
    if not isinstance(bound, str):
        return
    if presented_thumbprint is None or not hmac.compare_digest(
        bound.encode(), presented_thumbprint.encode()
    ):
        raise InvalidToken(
            "the access token is bound to a TLS client certificate this request did not "
            "present (RFC 8705 §3)"
        )


def may_receive_refresh_token(client: ClientSnapshot) -> bool:
    """Returns whether an authorization code exchange also issues a refresh token."""
    return client.issue_refresh_tokens


def rotates_refresh_tokens(client: ClientSnapshot) -> bool:
    """Returns whether each use of a refresh token replaces it. Always for a public client
    (RFC 9700 §4.14.2: its tokens cannot be sender-constrained), else as registered."""
    return client.rotate_refresh_tokens or client.is_public


def refresh_family_expiry(client: ClientSnapshot, now: datetime) -> datetime:
    """Returns when a new grant's refresh tokens stop working, however often they are used."""
    return now + timedelta(seconds=client.refresh_token_absolute_ttl)


def refresh_token_expiry(
    client: ClientSnapshot, now: datetime, family_expiry: datetime
) -> datetime:
    """Returns when a refresh token issued or used ``now`` expires if left unused: the
    client's sliding lifetime, never past the family's absolute expiry."""
    return min(now + timedelta(seconds=client.refresh_token_ttl), family_expiry)
