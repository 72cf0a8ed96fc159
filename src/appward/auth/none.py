"""``none``: a public client, which has no credentials to present (RFC 6749 §2.1)."""

from __future__ import annotations

from appward.auth.credentials import AuthContext, PresentedCredentials
from appward.clients.models import ClientSecret
from appward.clients.snapshot import ClientSnapshot


async def authenticate_public(
    client: ClientSnapshot, presented: PresentedCredentials, context: AuthContext
) -> ClientSecret | None:
    """Returns None: the client_id alone identifies a public client, which therefore may
    only do what its policy lets a public client do (PKCE, no introspection, no admin)."""
    return None
