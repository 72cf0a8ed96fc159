"""A client's public keys: its registered jwks, or the JWK Set at its jwks_uri, and when
each last proved the client's identity (the Keys tab shows it)."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from appward.auth.credentials import AuthContext
from appward.auth.models import ClientKeyUse
from appward.clients.snapshot import ClientSnapshot
from appward.errors import AuthFailure, InvalidClient

# A key's use is written at most this often, as a secret's is.
KEY_USE_RESOLUTION = timedelta(seconds=60)
# RFC 7638 §3.2: the members a thumbprint covers, per key type.
THUMBPRINT_MEMBERS = {
    "RSA": ("e", "kty", "n"),
    "EC": ("crv", "kty", "x", "y"),
    "OKP": ("crv", "kty", "x"),
}


async def client_keys(
    client: ClientSnapshot, context: AuthContext, kid: str | None = None
) -> list[dict[str, Any]]:
    """Returns the client's public JWKs that may match ``kid`` (all of them when the
    header names none): from its registered jwks, or its jwks_uri, fetched again once
    when ``kid`` is not among the cached keys.

    Raises InvalidClient when the client registered no keys, or its jwks_uri cannot be
    fetched.
    """
    if client.jwks is not None:
        keys: list[dict[str, Any]] = list(client.jwks.get("keys", []))
    elif client.jwks_uri is not None:
        remote = context.tools.remote_keys
        if remote is None:
            raise InvalidClient(detail="this app fetches no jwks_uri")
        try:
            keys = await remote.key_set(client.client_id, client.jwks_uri, unknown_kid=kid)
        except InvalidClient as exc:
            exc.reason = AuthFailure.KEYS_UNAVAILABLE
            raise
    else:
        raise InvalidClient(detail="the client registered no keys")
    if kid is None:
        return keys
    return [key for key in keys if key.get("kid") == kid]


def key_label(jwk: dict[str, Any]) -> str:
    """Returns the name a key goes by: its kid, or else its RFC 7638 thumbprint."""
    kid = jwk.get("kid")
    if isinstance(kid, str) and kid:
        return kid[:200]
    members = THUMBPRINT_MEMBERS.get(str(jwk.get("kty")), ("kty",))
    canonical = json.dumps(
        {name: jwk.get(name) for name in members}, separators=(",", ":"), sort_keys=True
    )
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()[:32]


async def note_key_use(context: AuthContext, client_pk: int, kid: str) -> None:
    """Records that key ``kid`` authenticated the client now, at most once a minute per
    key: not even a read when this process wrote it within the minute, else a read
    first, so a busy client's requests stay reads (an UPDATE on each one made every
    assertion a write transaction, and SQLite queues those)."""
    now = context.clock.now()
    if context.cache is not None and not context.cache.use_is_due(("key", client_pk, kid), now):
        return
    await record_key_use(context.session, client_pk, kid, now)


async def record_key_use(session: AsyncSession, client_pk: int, kid: str, now: datetime) -> None:
    """Writes ``now`` as key ``kid``'s last use unless a use within the minute is stored."""
    last = await session.scalar(
        select(ClientKeyUse.last_used_at).where(
            ClientKeyUse.client_pk == client_pk, ClientKeyUse.kid == kid
        )
    )
    if last is not None:
        if now - last >= KEY_USE_RESOLUTION:
            await session.execute(
                update(ClientKeyUse)
                .where(ClientKeyUse.client_pk == client_pk, ClientKeyUse.kid == kid)
                .values(last_used_at=now)
            )
        return
    try:
        async with session.begin_nested():
            session.add(ClientKeyUse(client_pk=client_pk, kid=kid, last_used_at=now))
    except IntegrityError:
        pass  # another request recorded its first use at the same moment


async def key_uses(session: AsyncSession, client_pk: int) -> dict[str, datetime]:
    """Returns when each of the client's keys (by label) last authenticated it."""
    rows = await session.execute(
        select(ClientKeyUse.kid, ClientKeyUse.last_used_at).where(
            ClientKeyUse.client_pk == client_pk
        )
    )
    return dict(rows.tuples().all())
