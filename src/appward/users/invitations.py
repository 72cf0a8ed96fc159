"""Invitations to sign up as a developer: an administrator names an e-mail address, the
invitation link (a one-time link, users/one_time_links.py) is mailed there, and it opens
the portal's sign-up form with that address fixed. A link works once and expires; a new
invitation for an address replaces its earlier open ones; an administrator may revoke
one. The list of open invitations never holds a link's token (only its hash is kept)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from appward.audit import AuditLog, EventTag
from appward.clock import Clock
from appward.errors import Conflict, FieldError, NotFound
from appward.mail import Message
from appward.users.models import OneTimeLink, User
from appward.users.one_time_links import IssuedLink, LinkPurpose, OneTimeLinkService
from appward.users.service import check_email

INVITATION_SUBJECT = "You are invited to register as a developer"
# Where an invitation's link leads on the server: the portal's sign-up form.
INVITATION_PATH = "/portal/signup/"


def invitation_text(site_name: str, url: str, expires: str) -> str:
    """Returns the body of an invitation mail (the link in it is the secret)."""
    return (
        f"You are invited to register as a developer on {site_name}.\n\n"
        f"Open this link to choose a username and password:\n\n{url}\n\n"
        f"The link works once, until {expires}. If you did not expect this, ignore it.\n"
    )


def invitation_message(issued: IssuedLink, base_url: str, site_name: str) -> tuple[Message, str]:
    """Returns the mail that carries an invitation, and its link (``base_url``: the
    server's public URL, the issuer)."""
    url = f"{base_url.rstrip('/')}{INVITATION_PATH}{issued.token}"
    expires = issued.record.expires_at.strftime("%Y-%m-%d %H:%M UTC")
    to = issued.record.email or ""
    return Message(to, INVITATION_SUBJECT, invitation_text(site_name, url, expires)), url


@dataclass(frozen=True, slots=True)
class InvitationService:
    session: AsyncSession
    clock: Clock
    links: OneTimeLinkService
    audit: AuditLog

    async def invite(self, email: str) -> IssuedLink:
        """Returns a new invitation for ``email`` (it replaces the address's open ones).
        Raises InvalidInput for a bad address, Conflict when an account has it already."""
        address = check_email(email.strip())
        holder = await self.session.scalar(
            select(User.id).where(func.lower(User.email) == address.lower())
        )
        if holder is not None:
            raise Conflict(
                "an account has this e-mail address already",
                fields=[FieldError("email", "an account has this address already")],
            )
        await self.session.execute(
            delete(OneTimeLink).where(
                OneTimeLink.purpose == LinkPurpose.INVITATION,
                func.lower(OneTimeLink.email) == address.lower(),
                OneTimeLink.used_at.is_(None),
            )
        )
        return await self.links.issue(LinkPurpose.INVITATION, email=address)

    async def open(self) -> list[OneTimeLink]:
        """Returns the invitations not yet used nor expired, newest first."""
        rows = await self.session.scalars(
            select(OneTimeLink)
            .where(
                OneTimeLink.purpose == LinkPurpose.INVITATION,
                OneTimeLink.used_at.is_(None),
                OneTimeLink.expires_at > self.clock.now(),
            )
            .order_by(OneTimeLink.created_at.desc(), OneTimeLink.id.desc())
        )
        return list(rows)

    async def revoke(self, invitation_id: int) -> OneTimeLink:
        """Makes an open invitation stop working. Raises NotFound for an unknown, used or
        expired one."""
        link = next((i for i in await self.open() if i.id == invitation_id), None)
        if link is None:
            raise NotFound("no open invitation with this id", detail=f"id {invitation_id}")
        await self.session.execute(delete(OneTimeLink).where(OneTimeLink.id == link.id))
        await self.audit.record(
            EventTag.ACCOUNT_INVITATION_REVOKED, target=link.email, changes={"link_id": link.id}
        )
        return link
