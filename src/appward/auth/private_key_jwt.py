"""private_key_jwt (RFC 7523 §2.2, RFC 7521 §4.2): the client proves its identity with a
JWT assertion signed by a private key whose public half it registered (jwks or jwks_uri).
No secret is involved, so nothing here is cached: every assertion is single-use."""

from __future__ import annotations

import jwt

from appward.auth.assertion import verify_assertion_with_key
from appward.auth.client_keys import client_keys, key_label, note_key_use
from appward.auth.credentials import AuthContext, PresentedCredentials
from appward.clients.models import ClientSecret
from appward.clients.snapshot import ClientSnapshot
from appward.errors import InvalidClient


async def authenticate_with_private_key_jwt(
    client: ClientSnapshot, presented: PresentedCredentials, context: AuthContext
) -> ClientSecret | None:
    """Checks the presented assertion against the client's public keys (those the
    header's kid names, or all of them without one) and records which key proved it.

    Returns None (the proof is no stored secret). Raises InvalidClient when there is no
    assertion or it does not hold (auth/assertion.py says what is checked).
    """
    assertion = presented.assertion
    if assertion is None:
        raise InvalidClient(detail="private_key_jwt needs a client assertion")
    try:
        kid = jwt.get_unverified_header(assertion).get("kid")
    except jwt.PyJWTError:
        raise InvalidClient("the client assertion is not a signed JWT") from None
    if kid is not None and not isinstance(kid, str):
        raise InvalidClient("the client assertion's kid must be a string")
    keys = await client_keys(client, context, kid)
    if not keys:
        # The generic answer, as for a client of another method: nothing about its keys.
        raise InvalidClient(detail=f"no registered key has kid {kid!r}")
    _, jwk = await verify_assertion_with_key(assertion, client, keys, context)
    await note_key_use(context, client.pk, key_label(jwk))
    return None
