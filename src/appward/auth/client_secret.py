"""client_secret_basic and client_secret_post (RFC 6749 §2.3.1) against argon2id hashes."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from appward.auth.credentials import AuthContext, PresentedCredentials
from appward.clients.models import ClientSecret
from appward.clients.secrets import secret_id_of
from appward.clients.snapshot import ClientSnapshot
from appward.clock import Clock
from appward.errors import InvalidClient
from appward.hashing import SecretVerifier


async def verify_client_secret(
    session: AsyncSession,
    client_pk: int,
    presented: str,
    verifier: SecretVerifier,
    clock: Clock,
) -> ClientSecret:
    """Returns the secret record of client ``client_pk`` that ``presented`` matches.

    Raises InvalidClient when it matches no usable (unexpired, unrevoked) secret.
    """
    secret_id = secret_id_of(presented)
    if secret_id is None:
        raise InvalidClient(detail="presented secret is not of this server's shape")
    record = await session.scalar(
        select(ClientSecret).where(
            ClientSecret.id == secret_id, ClientSecret.client_pk == client_pk
        )
    )
    now = clock.now()
    if record is None or not record.is_usable(now):
        raise InvalidClient(detail=f"secret {secret_id} unknown, revoked or expired")
    if record.secret_hash is None:
        # An encrypted secret is an HMAC key for client_secret_jwt, never sent as itself.
        raise InvalidClient(detail=f"secret {secret_id} is not a hashed secret")
    if not await verifier.verify(record.secret_hash, presented):
        raise InvalidClient(detail=f"secret {secret_id} mismatch")
    return record


async def authenticate_with_secret(
    client: ClientSnapshot, presented: PresentedCredentials, context: AuthContext
) -> ClientSecret | None:
    """client_secret_basic and client_secret_post differ only in where the secret travels
    (the adapter reads it); here both are one argon2id check. Raises InvalidClient."""
    return await verify_client_secret(
        context.session, client.pk, presented.secret or "", context.verifier, context.clock
    )


def use_is_due(record: ClientSecret, now: datetime, resolution: int) -> bool:
    """Returns whether the secret's last_used_at is older than ``resolution`` seconds."""
    last = record.last_used_at
    return last is None or now - last >= timedelta(seconds=resolution)


async def note_secret_use(session: AsyncSession, secret_id: str, now: datetime) -> None:
    """Records a secret's last use, so an admin sees whether a rotated-out secret is still
    in use before revoking it. Callers write it at most once a minute per secret."""
    await session.execute(
        update(ClientSecret).where(ClientSecret.id == secret_id).values(last_used_at=now)
    )
