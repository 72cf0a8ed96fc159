"""The one place that answers "may this client do this now?" for every endpoint.

/authorize, /token, introspection and revocation call these; none re-implements a check.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Protocol

from appward.clients.models import Client
from appward.clients.scopes import ADMIN_SCOPE
from appward.errors import (
    InsufficientScope,
    InvalidClient,
    InvalidRequest,
    InvalidScope,
    UnauthorizedClient,
)

# RFC 7636 §4.2: an S256 challenge is the base64url SHA-256 digest, 43 characters.
S256_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")
# A loopback redirect URI's port, which RFC 8252 §7.3 lets the native app choose at run time.
LOOPBACK_PORT = re.compile(r"^(http://(?:127\.0\.0\.1|\[::1\]))(?::[0-9]{1,5})?(?=[/?]|$)")


class AuthenticatedClient(Protocol):
    """What the token-side rules read of a client: the ORM record, or the frozen snapshot
    the credential cache keeps."""

    @property
    def pk(self) -> int: ...
    @property
    def client_id(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def deleted_at(self) -> datetime | None: ...
    @property
    def token_endpoint_auth_method(self) -> str: ...
    @property
    def grant_types(self) -> list[str]: ...
    @property
    def scopes(self) -> list[str]: ...
    @property
    def access_token_ttl(self) -> int: ...
    @property
    def refresh_token_ttl(self) -> int: ...
    @property
    def refresh_token_absolute_ttl(self) -> int: ...
    @property
    def issue_refresh_tokens(self) -> bool: ...
    @property
    def rotate_refresh_tokens(self) -> bool: ...
    @property
    def is_public(self) -> bool: ...


def check_client_active(client: AuthenticatedClient) -> None:
    """Raises InvalidClient when the client is disabled or deleted."""
    if client.status != "active" or client.deleted_at is not None:
        raise InvalidClient("this client is disabled")


def check_grant_type(client: AuthenticatedClient, grant_type: str) -> None:
    """Raises UnauthorizedClient unless the client registered ``grant_type``."""
    if grant_type not in client.grant_types:
        raise UnauthorizedClient(f"this client may not use the {grant_type} grant")


def resolve_scopes(client: AuthenticatedClient, requested: str | None) -> list[str]:
    """Returns the scopes to grant the client's own token (client_credentials): the
    request's, or all the client's when it names none.

    Raises InvalidScope when the request is malformed or asks for a scope the client
    was not given (RFC 6749 §3.3).
    """
    return _granted(client.scopes, requested)


def resolve_delegated_scopes(client: AuthenticatedClient, requested: str | None) -> list[str]:
    """Returns the scopes a user may be asked to delegate to the client at /authorize:
    the request's, or all the client's but the admin scope when it names none.

    Raises InvalidScope for a malformed request, a scope the client was not given, and
    the admin scope, which is only ever granted to a client's own client_credentials
    token: a user cannot hand an application administrative power.
    """
    scopes = _granted(client.scopes, requested)
    if requested is None or requested.strip() == "":
        return [s for s in scopes if s != ADMIN_SCOPE]
    if ADMIN_SCOPE in scopes:
        raise InvalidScope(f"{ADMIN_SCOPE} is never granted on a user's behalf")
    return scopes


def narrow_refresh_scopes(
    client: AuthenticatedClient, granted: list[str], requested: str | None
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


def match_redirect_uri(client: Client, requested: str | None) -> tuple[str, bool]:
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


def check_pkce_request(client: Client, challenge: str | None, method: str | None) -> str | None:
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


def check_admin(claims: Mapping[str, object], client: AuthenticatedClient) -> None:
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


def access_token_lifetime(client: AuthenticatedClient) -> int:
    return client.access_token_ttl
