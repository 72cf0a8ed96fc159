"""client_secret_jwt (RFC 7523 §2.2 with an HMAC, OpenID Connect Core §9): the client
signs an assertion with its secret as the HMAC key, so the server needs the secret itself:
its client's secrets are stored encrypted (clients/secret_encryption.py), decrypted here
only to verify, and never logged, cached or put in an exception.
"""

from __future__ import annotations

import base64
import logging
from typing import Any

import jwt
from sqlalchemy import select

from appward.auth.assertion import verify_assertion
from appward.auth.credentials import AuthContext, PresentedCredentials
from appward.clients.models import ClientSecret
from appward.clients.secret_encryption import SecretDecryptionError
from appward.clients.snapshot import ClientSnapshot
from appward.errors import InvalidClient

log = logging.getLogger("appward.auth")


def secret_jwk(secret_id: str, plaintext: str) -> dict[str, Any]:
    """Returns the secret as the symmetric JWK (RFC 7518 §6.4) an HMAC assertion is
    verified with: the octets of the whole secret string, as the client signs with it."""
    k = base64.urlsafe_b64encode(plaintext.encode()).rstrip(b"=").decode()
    return {"kty": "oct", "k": k, "kid": secret_id}


async def authenticate_with_secret_jwt(
    client: ClientSnapshot, presented: PresentedCredentials, context: AuthContext
) -> ClientSecret | None:
    """Returns the secret record whose key verified the client's HMAC assertion, once the
    assertion holds (auth/assertion.verify_assertion: alg, signature, claims, jti).

    Raises InvalidClient when no assertion was presented, the app has no secret cipher,
    the client has no usable (unrevoked, unexpired) secret, or the assertion fails.
    """
    cipher = context.tools.secret_cipher
    if presented.assertion is None:
        raise InvalidClient(detail="client_secret_jwt without a client assertion")
    if cipher is None:
        raise InvalidClient(detail="client_secret_jwt is not configured in this app")
    now = context.clock.now()
    records = [
        record
        for record in await context.session.scalars(
            select(ClientSecret)
            .where(
                ClientSecret.client_pk == client.pk,
                ClientSecret.revoked_at.is_(None),
                ClientSecret.secret_encrypted.is_not(None),
            )
            .order_by(ClientSecret.created_at.desc(), ClientSecret.id)
        )
        if record.is_usable(now)
    ]
    kid = _header_kid(presented.assertion)
    named = [r for r in records if r.id == kid]
    # A kid naming one of its secrets narrows the search to it; any other kid is the
    # client's own label, and every usable secret is tried.
    candidates = named or records
    keys: list[tuple[ClientSecret, dict[str, Any]]] = []
    for record in candidates:
        assert record.secret_encrypted is not None
        try:
            plaintext = cipher.decrypt(
                record.secret_encrypted, client_id=client.client_id, secret_id=record.id
            )
        except SecretDecryptionError as exc:
            # An operator's problem (a key-encryption key missing from the previous
            # keys), not the client's: logged, and the secret cannot authenticate.
            log.warning("client %s: %s", client.client_id, exc)
            continue
        keys.append((record, secret_jwk(record.id, plaintext)))
    if not keys:
        raise InvalidClient(detail=f"client {client.client_id} has no usable encrypted secret")
    await verify_assertion(presented.assertion, client, [jwk for _, jwk in keys], context)
    return _signing_secret(presented.assertion, keys)


def _header_kid(assertion: str) -> str | None:
    try:
        kid = jwt.get_unverified_header(assertion).get("kid")
    except jwt.PyJWTError:
        return None
    return kid if isinstance(kid, str) else None


def _signing_secret(
    assertion: str, keys: list[tuple[ClientSecret, dict[str, Any]]]
) -> ClientSecret:
    """Returns the record of the secret that signed the (already verified) assertion, for
    its last-used time: the one key, or the first whose HMAC checks."""
    if len(keys) == 1:
        return keys[0][0]
    alg = jwt.get_unverified_header(assertion)["alg"]
    for record, jwk in keys:
        try:
            jwt.api_jws.decode_complete(
                assertion, jwt.PyJWK.from_dict(jwk, algorithm=alg).key, algorithms=[alg]
            )
        except jwt.PyJWTError:
            continue
        return record
    raise InvalidClient(detail="the verified assertion matches no secret")  # pragma: no cover
