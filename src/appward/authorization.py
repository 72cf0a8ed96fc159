"""The authorization request (RFC 6749 §4.1.1): validated once, by the client policy.

Errors come in two kinds. Until the client and its redirect URI are established, an
error is shown to the user and never redirected (RFC 6749 §4.1.2.1, RFC 9700 §4.11):
those are raised as they are. After that, errors go back to the client: they are raised
wrapped in :class:`RedirectError`, carrying where to send them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit, urlunsplit

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from appward.clients import policy
from appward.clients.models import Client
from appward.clients.scopes import Scope
from appward.clients.snapshot import ClientSnapshot
from appward.errors import (
    AppwardError,
    AuthFailure,
    InvalidClient,
    InvalidRequest,
    UnsupportedResponseType,
)

# The parameters this endpoint reads; any of them given twice is an error (RFC 6749 §3.1).
PARAMETERS = (
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
    "prompt",
)
MAX_STATE = 2000


@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    """A request that passed every check: what the user is asked to approve."""

    client: Client
    redirect_uri: str
    redirect_uri_given: bool
    scopes: list[str]
    state: str | None
    code_challenge: str | None
    prompt: str | None
    params: dict[str, str]


class RedirectError(Exception):
    """An authorization error to send back to the client's redirect URI."""

    def __init__(self, error: AppwardError, redirect_uri: str, state: str | None) -> None:
        super().__init__(error.description)
        self.error = error
        self.redirect_uri = redirect_uri
        self.state = state


def redirect_with(redirect_uri: str, params: Mapping[str, str | None]) -> str:
    """Returns ``redirect_uri`` with ``params`` added to its query, keeping its own."""
    parts = urlsplit(redirect_uri)
    extra = urlencode({k: v for k, v in params.items() if v is not None})
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


async def validate_authorization_request(
    session: AsyncSession, params: Mapping[str, str]
) -> AuthorizationRequest:
    """Returns the validated request.

    Raises InvalidRequest / InvalidClient / UnauthorizedClient (show a page) for a
    missing, unknown, disabled or unapproved client or an unregistered redirect URI;
    RedirectError for the rest.
    """
    client_id = params.get("client_id")
    if not client_id:
        raise InvalidRequest("client_id is missing")
    client = await session.scalar(
        select(Client).where(Client.client_id == client_id, Client.deleted_at.is_(None))
    )
    if client is None:
        raise InvalidClient("there is no such client", reason=AuthFailure.UNKNOWN_CLIENT)
    rules = ClientSnapshot.of(client)
    policy.check_client_active(rules)
    # Not trusted yet: an error page, never a redirect to the client.
    policy.check_client_approved(rules)
    redirect_uri, given = policy.match_redirect_uri(rules, params.get("redirect_uri"))
    state = params.get("state")
    try:
        if state is not None and len(state) > MAX_STATE:
            state = None
            raise InvalidRequest(f"state is longer than {MAX_STATE} characters")
        response_type = params.get("response_type")
        if response_type is None:
            raise InvalidRequest("response_type is missing")
        if response_type != "code":
            raise UnsupportedResponseType("only response_type=code is supported")
        policy.check_grant_type(rules, "authorization_code")
        scopes = policy.resolve_delegated_scopes(rules, params.get("scope"))
        challenge = policy.check_pkce_request(
            rules, params.get("code_challenge"), params.get("code_challenge_method")
        )
        prompt = params.get("prompt")
        if prompt not in (None, "none", "login", "consent"):
            raise InvalidRequest("prompt must be none, login or consent")
    except AppwardError as exc:
        raise RedirectError(exc, redirect_uri, state) from None
    return AuthorizationRequest(
        client=client,
        redirect_uri=redirect_uri,
        redirect_uri_given=given,
        scopes=scopes,
        state=state,
        code_challenge=challenge,
        prompt=prompt,
        params={k: v for k, v in params.items() if k in PARAMETERS},
    )


async def describe_scopes(session: AsyncSession, names: list[str]) -> list[Scope]:
    """Returns the registry entries of ``names``, for the consent page, in that order."""
    found = {s.name: s for s in await session.scalars(select(Scope).where(Scope.name.in_(names)))}
    return [found[n] for n in names if n in found]
