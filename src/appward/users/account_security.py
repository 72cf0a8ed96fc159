"""An account's password and second factor beyond signing in: the user's own password
change and second-factor removal, an admin's resets (a single-use reset link, a
temporary password to be changed at the next sign-in, the second factor), and the
self-service reset through a mailed single-use link.

Every reset ends all of the account's sessions, and every change is audited; no password,
link token or code is ever in an event, a message or an exception."""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass

from sqlalchemy import func, select

from appward.audit import AuditLog, EventTag
from appward.errors import FieldError, InvalidInput
from appward.mail import Message
from appward.users.models import User
from appward.users.one_time_links import (
    DEFAULT_LIFETIMES,
    LINK_EXPIRED,
    IssuedLink,
    LinkPurpose,
    OneTimeLinkService,
)
from appward.users.service import MAX_EMAIL, USERNAME, UserService, check_new_password
from appward.users.totp import TotpService

# Where a reset link leads: the token is the path segment after it. web/pipeline.py
# redacts that segment from every log line (web/logging's access-log filter too).
RESET_PATH = "/password-reset/"
TEMPORARY_PASSWORD_BYTES = 12  # 16 characters, 96 bits


def reset_url(issuer: str, token: str) -> str:
    """Returns the link a reset token is redeemed at."""
    return f"{issuer.rstrip('/')}{RESET_PATH}{token}"


def reset_mail(user: User, url: str, site_name: str) -> Message:
    """Returns the message that carries a reset link to the account's address (the link
    only in the body: the subject and recipient are logged). Raises InvalidInput when
    the account has no address."""
    if user.email is None:
        raise InvalidInput(
            "the account has no e-mail address to send the link to",
            fields=[FieldError("email", "none on the account")],
        )
    minutes = math.ceil(DEFAULT_LIFETIMES[LinkPurpose.RESET_PASSWORD].total_seconds() / 60)
    text = (
        f"Hello {user.username},\n\n"
        f"Someone, hopefully you, asked to reset the password of your {site_name} account.\n"
        f"Open this link to choose a new password (it works once, for {minutes} minutes):\n\n"
        f"{url}\n\n"
        "If you did not ask for this, ignore this message: your password stays as it is.\n"
    )
    return Message(user.email, f"Reset your {site_name} password", text)


def new_temporary_password() -> str:
    """Returns a random password for an admin to pass on (16 URL-safe characters)."""
    return secrets.token_urlsafe(TEMPORARY_PASSWORD_BYTES)


@dataclass(frozen=True, slots=True)
class AccountSecurityService:
    users: UserService
    totp: TotpService
    links: OneTimeLinkService
    audit: AuditLog

    # --- the account's own changes ---

    async def change_password(self, user: User, current: str, new: str, repeat: str) -> int:
        """Replaces the password (the current one must be given, the new one twice) and
        ends every session of the account; returns how many ended. Clears "must change
        password". Raises InvalidInput naming each wrong field (nothing changes)."""
        problems: list[FieldError] = []
        if not current or not await self.users.verify_password(user, current):
            problems.append(FieldError("current_password", "is not your current password"))
        problems += _new_password_problems(new, repeat)
        if not problems and new == current:
            problems.append(FieldError("new_password", "must differ from the current one"))
        if problems:
            raise InvalidInput("the password was not changed", fields=problems)
        ended = await self.users.set_password(user, new)
        await self.links.revoke_for(user.id, LinkPurpose.RESET_PASSWORD)
        await self.audit.record(
            EventTag.ACCOUNT_PASSWORD_CHANGED,
            target=user.username,
            changes={"sub": user.public_id, "sessions_ended": ended},
        )
        return ended

    async def confirm_second_factor(
        self, user: User, code: str, password: str
    ) -> tuple[list[str], int]:
        """Turns the pending second factor on (totp.confirm_enrolment) once ``password``
        is the account's (a stolen session alone must not bind the thief's authenticator
        app and lock the owner out), and ends every session of the account, so no session
        started with the password alone outlives the factor (the console takes "enrolled"
        to mean this session passed it). Returns the recovery codes, shown once, and how
        many sessions ended: the caller starts the enrolling browser's new one. Raises
        InvalidInput for a wrong password, or as confirm_enrolment does."""
        if not password or not await self.users.verify_password(user, password):
            raise InvalidInput(
                "two-factor sign-in was not turned on",
                fields=[FieldError("password", "is not your password")],
            )
        codes = await self.totp.confirm_enrolment(user, code)
        ended = await self.users.sessions.end_all(user.public_id)
        return codes, ended

    async def remove_second_factor(self, user: User, proof: str) -> None:
        """Removes the account's second factor once ``proof`` is a current code (or a
        recovery code) or the account's password. Raises InvalidInput otherwise."""
        await self._check_proof(user, proof, "the second factor was not removed")
        await self.totp.remove(user)

    async def regenerate_recovery_codes(self, user: User, proof: str) -> list[str]:
        """Returns new recovery codes (the old ones stop working) once ``proof`` is a
        current code or the account's password: codes minted from a stolen session would
        be a way back in after the owner changed the password. Raises InvalidInput."""
        await self._check_proof(user, proof, "no new recovery codes were made")
        return await self.totp.regenerate_recovery_codes(user)

    async def _check_proof(self, user: User, proof: str, refusal: str) -> None:
        proven = bool(proof) and (
            await self.totp.verify(user, proof) or await self.users.verify_password(user, proof)
        )
        if not proven:
            raise InvalidInput(
                refusal,
                fields=[FieldError("proof", "is neither a current code nor your password")],
            )

    # --- an admin's resets ---

    async def issue_reset_link(self, user: User) -> IssuedLink:
        """Returns a new single-use reset link for the account (its token shown once);
        earlier unused ones stop working. Audited as the link's issue."""
        return await self.links.issue(
            LinkPurpose.RESET_PASSWORD, user_id=user.id, audit_target=user.username
        )

    async def set_temporary_password(self, user: User) -> str:
        """Returns a new random password for the account, which must change it at the next
        sign-in; every session of the account ends and earlier reset links stop working."""
        password = new_temporary_password()
        ended = await self.users.set_password(user, password, temporary=True)
        await self.links.revoke_for(user.id, LinkPurpose.RESET_PASSWORD)
        await self.audit.record(
            EventTag.ACCOUNT_TEMPORARY_PASSWORD_SET,
            target=user.username,
            changes={"sub": user.public_id, "sessions_ended": ended},
        )
        return password

    async def reset_second_factor(self, user: User) -> bool:
        """Removes the account's second factor and recovery codes (it may enrol again);
        returns whether there was one. Audited as its removal."""
        had = await self.totp.is_enrolled(user) or await self.totp.pending_enrolment(user)
        await self.totp.remove(user)
        return bool(had)

    # --- self-service reset ---

    async def request_reset(self, identifier: str) -> tuple[User, IssuedLink] | None:
        """Returns the active account with an e-mail address that ``identifier`` names (its
        username or its address, in any case) and a new reset link for it; None when there
        is none, which is audited without the identifier (it may be a mistyped password)."""
        user = await self._account_named(identifier.strip())
        if user is None or user.email is None:
            await self.audit.record(
                EventTag.ACCOUNT_PASSWORD_RESET_REQUESTED, changes={"found": False}
            )
            return None
        return user, await self.issue_reset_link(user)

    async def account_of_link(self, token: str) -> User | None:
        """Returns the active account a usable reset link is for (without using it up)."""
        link = await self.links.peek(LinkPurpose.RESET_PASSWORD, token)
        if link is None or link.user_id is None:
            return None
        return await self.users.get(link.user_id)

    async def redeem_reset(self, token: str, new: str, repeat: str) -> User:
        """Uses the link up and gives its account the new password; every session of the
        account ends, "must change password" is cleared. Raises InvalidInput: for the
        new password's fields (the link stays usable), or LINK_EXPIRED for a link that is
        unknown, expired or used."""
        if await self.account_of_link(token) is None:
            raise InvalidInput(LINK_EXPIRED)
        problems = _new_password_problems(new, repeat)
        if problems:
            raise InvalidInput("the password was not changed", fields=problems)
        link = await self.links.redeem(LinkPurpose.RESET_PASSWORD, token)
        user = await self.users.get(link.user_id) if link.user_id is not None else None
        if user is None:
            raise InvalidInput(LINK_EXPIRED)
        ended = await self.users.set_password(user, new)
        await self.links.revoke_for(user.id, LinkPurpose.RESET_PASSWORD)
        await self.audit.record(
            EventTag.ACCOUNT_PASSWORD_RESET,
            target=user.username,
            changes={"sub": user.public_id, "link_id": link.id, "sessions_ended": ended},
        )
        return user

    async def _account_named(self, identifier: str) -> User | None:
        if "@" in identifier and len(identifier) <= MAX_EMAIL:
            by_email: User | None = await self.users.session.scalar(
                select(User).where(func.lower(User.email) == identifier.lower())
            )
            if by_email is not None:
                return by_email if by_email.disabled_at is None else None
        if not USERNAME.fullmatch(identifier):
            return None
        by_name: User | None = await self.users.session.scalar(
            select(User).where(func.lower(User.username) == identifier.lower())
        )
        return by_name if by_name is not None and by_name.disabled_at is None else None


def _new_password_problems(new: str, repeat: str) -> list[FieldError]:
    problems: list[FieldError] = []
    try:
        check_new_password(new, "new_password")
    except InvalidInput as exc:
        problems += exc.fields
    if new != repeat:
        problems.append(FieldError("repeat_password", "does not match the new password"))
    return problems
