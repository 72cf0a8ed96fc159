"""Consent: remembered per user, client and scope set; revoking it revokes the tokens.
Giving and withdrawing consent are audit events, with the user as the actor."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from appward.audit import AuditLog, EventTag
from appward.clients.models import Client
from appward.clock import Clock
from appward.tokens.grants import revoke_grants_of
from appward.tokens.models import Grant
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
    audit: AuditLog | None = None  # needed by grant and revoke: the user is the actor

    async def covers(self, user_id: int, client: Client, scopes: list[str]) -> bool:
        """Returns whether the user already allowed this client every one of ``scopes``."""
        consent = await self._find(user_id, client.pk)
        return consent is not None and set(scopes) <= set(consent.scopes)

    async def grant(self, user_id: int, client: Client, scopes: list[str]) -> None:
        """Remembers that the user allowed ``scopes`` (added to what they allowed before),
        audited as "account:consent:given"."""
        await self._audit().record(
            EventTag.ACCOUNT_CONSENT_GIVEN,
            client_id=client.client_id,
            changes={"scopes": sorted(scopes)},
        )
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
        """Returns every application with access to the user's account: those they allowed,
        and first-party (skip_consent) ones holding a live grant, newest first."""
        given: dict[int, GivenConsent] = {}
        rows = await self.session.execute(
            select(Consent, Client)
            .join(Client, Client.pk == Consent.client_pk)
            .where(Consent.user_id == user_id, Client.deleted_at.is_(None))
        )
        for consent, client in rows:
            given[client.pk] = GivenConsent(client, consent.scopes, consent.granted_at)
        grants = await self.session.execute(
            select(Grant, Client)
            .join(Client, Client.pk == Grant.client_pk)
            .where(
                Grant.user_id == user_id,
                Grant.revoked_at.is_(None),
                Client.deleted_at.is_(None),
            )
        )
        for grant, client in grants:
            if client.pk not in given:
                given[client.pk] = GivenConsent(client, grant.scopes, grant.created_at)
        return sorted(given.values(), key=lambda g: g.granted_at, reverse=True)

    async def revoke(self, user_id: int, client_id: str) -> bool:
        """Forgets the consent and revokes every grant (and so every token) issued under it.

        Returns whether there was anything to revoke.
        """
        client = await self.session.scalar(select(Client).where(Client.client_id == client_id))
        if client is None:
            return False
        consent = await self._find(user_id, client.pk)
        audit = self._audit()
        if consent is not None:
            await self.session.delete(consent)
        # Grants go too, with or without a consent row (skip_consent clients have none).
        revoked = await revoke_grants_of(
            self.session, self.clock, client_pk=client.pk, user_id=user_id
        )
        await self.session.flush()
        if consent is not None or revoked > 0:
            await audit.record(EventTag.ACCOUNT_CONSENT_REVOKED, client_id=client_id)
            return True
        return False

    def _audit(self) -> AuditLog:
        if self.audit is None:
            raise RuntimeError("consent is audited: give ConsentService an AuditLog")
        return self.audit

    async def _find(self, user_id: int, client_pk: int) -> Consent | None:
        consent: Consent | None = await self.session.scalar(
            select(Consent).where(Consent.user_id == user_id, Consent.client_pk == client_pk)
        )
        return consent
