"""Single-use, expiring links that the server mails or hands out: verifying an e-mail
address, resetting a password, inviting a developer. The link carries a random token;
only the token's hash is stored, and redeeming it uses it up in the same statement, so a
link works once even when two requests race with it."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import ColumnElement, and_, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from appward.audit import AuditLog, EventTag
from appward.clock import Clock
from appward.errors import InvalidInput
from appward.hashing import token_hash
from appward.users.models import OneTimeLink

TOKEN_BYTES = 32


class LinkPurpose(StrEnum):
    """What a link is for; a token issued for one purpose is no good for another."""

    VERIFY_EMAIL = "verify_email"
    RESET_PASSWORD = "reset_password"
    INVITATION = "invitation"


# How long each kind of link works unless the caller says otherwise: a reset link is
# short-lived because it is as good as the password (OWASP's forgot-password advice).
DEFAULT_LIFETIMES = {
    LinkPurpose.VERIFY_EMAIL: timedelta(hours=24),
    LinkPurpose.RESET_PASSWORD: timedelta(minutes=30),
    LinkPurpose.INVITATION: timedelta(days=7),
}


@dataclass(frozen=True, slots=True)
class IssuedLink:
    """A link just made: ``token`` goes into the URL, once; ``record`` is what is kept."""

    token: str
    record: OneTimeLink


LINK_EXPIRED = "this link has expired or was already used; ask for a new one"

AUDIT_TAGS = {
    LinkPurpose.VERIFY_EMAIL: EventTag.ACCOUNT_EMAIL_VERIFICATION_SENT,
    LinkPurpose.RESET_PASSWORD: EventTag.ACCOUNT_PASSWORD_RESET_LINK_ISSUED,
    LinkPurpose.INVITATION: EventTag.ACCOUNT_INVITATION_ISSUED,
}


@dataclass(frozen=True, slots=True)
class OneTimeLinkService:
    session: AsyncSession
    clock: Clock
    audit: AuditLog

    async def issue(
        self,
        purpose: LinkPurpose,
        *,
        user_id: int | None = None,
        email: str | None = None,
        lifetime: timedelta | None = None,
        audit_target: str | None = None,
    ) -> IssuedLink:
        """Returns a new link for ``purpose``. A new link for an account replaces the
        account's earlier unused links of that purpose, so only the latest mail works.
        Raises InvalidInput when it names neither an account nor an address."""
        if user_id is None and not email:
            raise InvalidInput("a link is for an account or an e-mail address")
        if user_id is not None:
            await self.session.execute(
                delete(OneTimeLink).where(
                    OneTimeLink.purpose == purpose,
                    OneTimeLink.user_id == user_id,
                    OneTimeLink.used_at.is_(None),
                )
            )
        token = secrets.token_urlsafe(TOKEN_BYTES)
        now = self.clock.now()
        record = OneTimeLink(
            purpose=str(purpose),
            token_hash=token_hash(token),
            user_id=user_id,
            email=email,
            created_by=self.audit.actor.name,
            created_at=now,
            expires_at=now + (lifetime or DEFAULT_LIFETIMES[purpose]),
        )
        self.session.add(record)
        await self.session.flush()
        await self.audit.record(
            AUDIT_TAGS[purpose], target=audit_target or email, changes={"link_id": record.id}
        )
        return IssuedLink(token, record)

    async def peek(self, purpose: LinkPurpose, token: str) -> OneTimeLink | None:
        """Returns the usable link ``token`` stands for without using it up (to show the
        page a link leads to), or None."""
        link: OneTimeLink | None = await self.session.scalar(
            select(OneTimeLink).where(self._usable(purpose, token, self.clock.now()))
        )
        return link

    async def redeem(self, purpose: LinkPurpose, token: str) -> OneTimeLink:
        """Uses the link up and returns it. Raises InvalidInput when the token is unknown,
        for another purpose, expired or already used (one message for all: a guesser
        learns nothing)."""
        now = self.clock.now()
        used = await self.session.execute(
            update(OneTimeLink)
            .where(self._usable(purpose, token, now))
            .values(used_at=now)
            .returning(OneTimeLink.id)
        )
        link_id = used.scalar_one_or_none()
        if link_id is None:
            raise InvalidInput(LINK_EXPIRED)
        link = await self.session.get(OneTimeLink, link_id, populate_existing=True)
        assert link is not None  # just updated in this transaction
        return link

    async def revoke_for(self, user_id: int, purpose: LinkPurpose) -> None:
        """Makes the account's unused links of ``purpose`` stop working (the password was
        changed another way, the account was disabled)."""
        await self.session.execute(
            delete(OneTimeLink).where(
                OneTimeLink.purpose == purpose,
                OneTimeLink.user_id == user_id,
                OneTimeLink.used_at.is_(None),
            )
        )

    @staticmethod
    def _usable(purpose: LinkPurpose, token: str, now: datetime) -> ColumnElement[bool]:
        return and_(
            OneTimeLink.token_hash == token_hash(token),
            OneTimeLink.purpose == purpose,
            OneTimeLink.used_at.is_(None),
            OneTimeLink.expires_at > now,
        )
