"""Developer sign-up on the portal, and verifying a developer's e-mail address.

The mode comes from configuration (APPWARD_PORTAL_SIGNUP): ``open`` (anyone), ``invite``
(only with an invitation link, users/invitations.py, whose address the account gets,
verified by the link itself) or ``closed``. An open sign-up's address is unverified
until the developer opens the verification link mailed to it; until then the portal
lets them create nothing.

No account enumeration: an open sign-up with an address an account already has creates
nothing and gives the same answer as any other ("check your mail"); the mail that goes
to that address says someone tried, and how to sign in instead.

The caller sends the mails: this module says what they say (it never sees a URL's
host); the links' tokens go only into the mail's body.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from appward.audit import AuditLog, EventTag
from appward.clock import Clock
from appward.errors import AccessDenied, Conflict, FieldError, InvalidInput
from appward.users.models import OneTimeLink, Role, User
from appward.users.one_time_links import (
    LINK_EXPIRED,
    IssuedLink,
    LinkPurpose,
    OneTimeLinkService,
)
from appward.users.service import (
    MAX_PASSWORD,
    MIN_PASSWORD,
    USERNAME,
    UserService,
    check_email,
)


class SignupMode(StrEnum):
    OPEN = "open"
    INVITE = "invite"
    CLOSED = "closed"


SIGNUP_CLOSED = "sign-up is closed on this server; ask an administrator for an account"
INVITATION_NEEDED = "sign-up is by invitation only; ask an administrator for an invitation"
VERIFY_SUBJECT = "Verify your e-mail address"
ALREADY_REGISTERED_SUBJECT = "Someone tried to sign up with your address"


def verification_text(site_name: str, url: str) -> str:
    return (
        f"Someone (we hope you) signed up as a developer on {site_name} with this address.\n\n"
        f"Open this link to verify it:\n\n{url}\n\n"
        "The link works once, for 24 hours. If it was not you, ignore this message.\n"
    )


def already_registered_text(site_name: str, sign_in_url: str) -> str:
    return (
        f"Someone tried to sign up as a developer on {site_name} with this address, which "
        "an account has already. Nothing was changed.\n\n"
        f"If it was you, sign in instead:\n\n{sign_in_url}\n\n"
        "If it was not you, ignore this message.\n"
    )


@dataclass(frozen=True, slots=True)
class SignupOutcome:
    """What a sign-up did: a new account (with the verification link to mail, unless an
    invitation verified the address already), or nothing because ``email`` has an
    account (mail that address the already-registered message)."""

    email: str
    user: User | None
    verification: IssuedLink | None

    @property
    def address_taken(self) -> bool:
        return self.user is None


@dataclass(frozen=True, slots=True)
class DeveloperSignup:
    session: AsyncSession
    clock: Clock
    users: UserService
    links: OneTimeLinkService
    audit: AuditLog

    async def invitation(self, mode: SignupMode, token: str) -> OneTimeLink:
        """Returns the usable invitation ``token`` stands for, without using it up.
        Raises AccessDenied unless sign-up is by invitation, InvalidInput for a bad
        link."""
        if mode is not SignupMode.INVITE:
            raise AccessDenied(_refusal(mode))
        link = await self.links.peek(LinkPurpose.INVITATION, token)
        if link is None:
            raise InvalidInput(LINK_EXPIRED)
        return link

    async def sign_up(
        self,
        mode: SignupMode,
        *,
        username: str,
        password: str,
        email: str | None = None,
        invitation: str | None = None,
    ) -> SignupOutcome:
        """Registers a developer (see the module docstring). ``email`` is the form's in
        open mode; with an ``invitation`` it is the invitation's.

        Raises AccessDenied when the mode refuses, InvalidInput for a bad field (each
        named), or a used or expired invitation; Conflict for a taken username.
        """
        if mode is SignupMode.CLOSED or (mode is SignupMode.INVITE) != (invitation is not None):
            raise AccessDenied(_refusal(mode))
        check_fields(username, password, (email or "") if invitation is None else None)
        if invitation is not None:
            # A savepoint: a refusal below (a taken username) leaves the invitation
            # usable, though the page that says so is committed.
            async with self.session.begin_nested():
                link = await self.links.redeem(LinkPurpose.INVITATION, invitation)
                address = check_email(link.email or "")
                user = await self._create(username, password, address)
                if user is None:
                    raise Conflict(
                        "an account has this e-mail address already",
                        fields=[FieldError("email", "an account has this address already")],
                    )
        else:
            address = check_email((email or "").strip())
            if await self._address_taken(address):
                # The same answer as for a free address: a taken username is named
                # either way, else "check your mail" (no account enumeration).
                if await self.users.username_taken(username):
                    raise _username_taken()
                await self.users.hash_and_forget(password)  # as long as a new account
                return SignupOutcome(address, None, None)
            user = await self._create(username, password, address)
            if user is None:  # the address, taken by a sign-up that committed just now
                return SignupOutcome(address, None, None)
        await self.audit.record(
            EventTag.ACCOUNT_SIGNED_UP,
            target=user.username,
            changes={"sub": user.public_id, "invited": invitation is not None},
        )
        if invitation is not None:
            await self.users.update(user, email_verified=True)
            return SignupOutcome(address, user, None)
        return SignupOutcome(address, user, await self.verification_link(user))

    async def verification_link(self, user: User) -> IssuedLink:
        """Returns a new verification link for the account's address (earlier ones stop
        working). Raises InvalidInput when it has no address or it is verified."""
        if user.email is None or user.email_verified_at is not None:
            raise InvalidInput("this account has no address waiting to be verified")
        return await self.links.issue(
            LinkPurpose.VERIFY_EMAIL, user_id=user.id, audit_target=user.username
        )

    async def pending_verification(self, token: str) -> User | None:
        """Returns the account a usable verification link is for, without using it up."""
        link = await self.links.peek(LinkPurpose.VERIFY_EMAIL, token)
        if link is None or link.user_id is None:
            return None
        return await self.users.get(link.user_id)

    async def verify_email(self, token: str) -> User:
        """Uses the verification link up and marks the account's address verified.
        Raises InvalidInput for an unknown, used or expired link."""
        link = await self.links.redeem(LinkPurpose.VERIFY_EMAIL, token)
        user = await self.users.get(link.user_id) if link.user_id is not None else None
        if user is None or user.email is None:
            raise InvalidInput(LINK_EXPIRED)
        # Audited by the account service as "account:updated" (email_verified).
        return await self.users.update(user, email_verified=True)

    async def _create(self, username: str, password: str, address: str) -> User | None:
        """Returns the new developer account; None when the address is taken. Raises
        Conflict (field ``username``) for a taken username."""
        try:
            return await self.users.create(username, password, role=Role.DEVELOPER, email=address)
        except Conflict as exc:
            if exc.fields:  # the address
                return None
            raise _username_taken() from None

    async def _address_taken(self, address: str) -> bool:
        holder = await self.session.scalar(
            select(User.id).where(func.lower(User.email) == address.lower())
        )
        return holder is not None


def check_fields(username: str, password: str, email: str | None) -> None:
    """Raises InvalidInput naming every bad field of a sign-up form at once (the account
    service checks them again, one at a time, when it creates the account)."""
    problems = []
    if not USERNAME.fullmatch(username):
        problems.append(FieldError("username", "1-100 letters, digits and . _ @ + -"))
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        problems.append(FieldError("password", f"{MIN_PASSWORD}-{MAX_PASSWORD} characters"))
    if email is not None:
        try:
            check_email(email.strip())
        except InvalidInput as exc:
            problems.extend(exc.fields)
    if problems:
        raise InvalidInput("check the fields marked", fields=problems)


def _username_taken() -> Conflict:
    return Conflict(
        "this username is taken; choose another",
        fields=[FieldError("username", "taken; choose another")],
    )


def _refusal(mode: SignupMode) -> str:
    return SIGNUP_CLOSED if mode is SignupMode.CLOSED else INVITATION_NEEDED
