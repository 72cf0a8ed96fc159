"""The one place that answers "may this client do this now?" for every endpoint."""

from __future__ import annotations

from appward.clients.models import Client
from appward.errors import InvalidClient, InvalidScope, UnauthorizedClient

SUPPORTED_GRANT_TYPES = ("client_credentials",)


def check_client_active(client: Client) -> None:
    """Raises InvalidClient when the client is disabled or deleted."""
    if client.status != "active" or client.deleted_at is not None:
        raise InvalidClient("this client is disabled")


def check_grant_type(client: Client, grant_type: str) -> None:
    """Raises UnauthorizedClient unless the client registered ``grant_type``."""
    if grant_type not in client.grant_types:
        raise UnauthorizedClient(f"this client may not use the {grant_type} grant")


def resolve_scopes(client: Client, requested: str | None) -> list[str]:
    """Returns the scopes to grant: the request's, or all the client's when it names none.

    Raises InvalidScope when the request is malformed or asks for a scope the client
    was not given (RFC 6749 §3.3).
    """
    allowed = client.scopes
    if requested is None or requested.strip() == "":
        return allowed
    wanted = requested.split(" ")
    if any(w == "" for w in wanted):
        raise InvalidScope("scopes are separated by single spaces (RFC 6749 §3.3)")
    not_allowed = [w for w in wanted if w not in allowed]
    if not_allowed:
        raise InvalidScope(f"scope not allowed for this client: {' '.join(not_allowed)}")
    return list(dict.fromkeys(wanted))


def access_token_lifetime(client: Client) -> int:
    return client.access_token_ttl
