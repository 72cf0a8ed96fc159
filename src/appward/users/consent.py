"""Consent: remembered per user, client and scope set; revoking it revokes the tokens."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from appward.clients.models import Client
from appward.clock import Clock
from appward.tokens.grants import revoke_grants_of
from appward.users.models import Consent


@dataclass(frozen=True, slots=True)
class GivenConsent:
    client: Client
    scopes: list[str]
    granted_at: datetime


@dataclass(frozen=True, slots=True)
class ConsentService:
    session: AsyncSession
    clock: Clock

    async def covers(self, user_id: int, client: Client, scopes: list[str]) -> bool:
        """Returns whether the user already allowed this client every one of ``scopes``."""
        consent = await self._find(user_id, client.pk)
        return consent is not None and set(scopes) <= set(consent.scopes)

    async def grant(self, user_id: int, client: Client, scopes: list[str]) -> None:
        """Remembers that the user allowed ``scopes`` (added to what they allowed before)."""
        now = self.clock.now()
        consent = await self._find(user_id, client.pk)
        if consent is None:
            try:
                # A savepoint: a second tab's "Allow" may insert the same row first.
                async with self.session.begin_nested():
                    self.session.add(
                        Consent(
                            user_id=user_id,
                            client_pk=client.pk,
                            scopes=sorted(scopes),
                            granted_at=now,
                        )
                    )
                return
            except IntegrityError:
                consent = await self._find(user_id, client.pk)
                if consent is None:
                    raise
        consent.scopes = sorted(set(consent.scopes) | set(scopes))
        consent.granted_at = now
        await self.session.flush()

    async def given_by(self, user_id: int) -> list[GivenConsent]:
        """Returns every consent the user gave, to clients that still exist."""
        rows = await self.session.execute(
            select(Consent, Client)
            .join(Client, Client.pk == Consent.client_pk)
            .where(Consent.user_id == user_id, Client.deleted_at.is_(None))
            .order_by(Consent.granted_at.desc())
        )
        return [
            GivenConsent(client, consent.scopes, consent.granted_at) for consent, client in rows
        ]

    async def revoke(self, user_id: int, client_id: str) -> bool:
        """Forgets the consent and revokes every grant (and so every token) issued under it.

        Returns whether there was a consent to revoke.
        """
        client = await self.session.scalar(select(Client).where(Client.client_id == client_id))
        if client is None:
            return False
        consent = await self._find(user_id, client.pk)
        if consent is None:
            return False
        await self.session.delete(consent)
        await revoke_grants_of(self.session, self.clock, client_pk=client.pk, user_id=user_id)
        await self.session.flush()
        return True

    async def _find(self, user_id: int, client_pk: int) -> Consent | None:
        consent: Consent | None = await self.session.scalar(
            select(Consent).where(Consent.user_id == user_id, Consent.client_pk == client_pk)
        )
        return consent
