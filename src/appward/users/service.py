"""Accounts: argon2id passwords, roles, e-mail addresses, disabling and deleting, and the
audit trail of each (sign-ins included)."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from enum import Enum
from typing import Any, Final

import anyio
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from appward.audit import Actor, AuditLog, EventTag
from appward.clock import Clock
from appward.errors import Conflict, FieldError, InvalidInput, NotFound
from appward.hashing import SecretVerifier
from appward.pagination import Page, check_limit, decode_cursor, encode_cursor
from appward.text import unsafe_character
from appward.users.models import OneTimeLink, Role, User
from appward.users.sessions import SessionService

USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,99}")
MIN_PASSWORD = 10
MAX_PASSWORD = 512
MAX_EMAIL = 254
# A public id is 16 random bytes in URL-safe base64: 22 characters.
PUBLIC_ID = re.compile(r"[A-Za-z0-9_-]{22}")
# What the CLI and the admin API take for "no role".
NO_ROLE = "none"
ACCOUNT_STATUSES = ("active", "disabled")
MAX_SEARCH = 254
LAST_ADMIN = "this is the last active admin account: give another account the admin role first"


class _Keep(Enum):
    KEEP = "keep"


KEEP: Final = _Keep.KEEP
"""An update's "leave this field as it is"."""


def new_public_id() -> str:
    """Returns a random public identifier for a new account (128 bits, 22 characters)."""
    return secrets.token_urlsafe(16)


def parse_role(value: str | None) -> Role | None:
    """Returns the role named ``value``; None (or "none") is no role. Raises InvalidInput
    naming the roles there are."""
    if value is None or value == NO_ROLE:
        return None
    try:
        return Role(value)
    except ValueError:
        choices = ", ".join([*Role, NO_ROLE])
        raise InvalidInput(
            f"unknown role {value!r}: one of {choices}",
            fields=[FieldError("role", f"one of {choices}")],
        ) from None


def check_new_password(password: str, field: str = "password") -> None:
    """Raises InvalidInput (naming ``field``) unless ``password`` may be an account's
    password: MIN_PASSWORD to MAX_PASSWORD characters."""
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise InvalidInput(
            f"passwords are {MIN_PASSWORD} to {MAX_PASSWORD} characters",
            fields=[FieldError(field, f"{MIN_PASSWORD}-{MAX_PASSWORD} characters")],
        )


def check_email(value: str) -> str:
    """Returns the address as it will be stored (its domain in lower case). Raises
    InvalidInput for anything that is not a deliverable-looking address (RFC 5321
    syntax; no DNS lookup)."""
    if len(value) > MAX_EMAIL:
        raise _bad_email(f"at most {MAX_EMAIL} characters")
    try:
        # ASCII only: lower() folds it alike in Python, SQLite and PostgreSQL, so the
        # unique index on lower(email) means the same everywhere.
        checked = validate_email(value, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        raise _bad_email(str(exc)) from None
    return str(checked.normalized)


def check_deletion_confirmed(user: User, typed: str) -> None:
    """Raises InvalidInput unless ``typed`` is the account's username (in any case): a
    person deleting an account from a page types its name, so a slip of the mouse on the
    wrong row deletes nothing."""
    if typed.strip().lower() != user.username.lower():
        raise InvalidInput(
            "type the account's username to delete it",
            fields=[FieldError("confirm_username", "does not match the account's username")],
        )


def _bad_email(reason: str) -> InvalidInput:
    return InvalidInput(
        f"not a usable e-mail address: {reason}", fields=[FieldError("email", reason)]
    )


@dataclass(frozen=True, slots=True)
class AccountFilter:
    """Which accounts a search returns: ``text`` in the username or e-mail address (any
    case), ``role`` admin, developer or none, ``status`` active or disabled."""

    text: str | None = None
    role: str | None = None
    status: str | None = None


@dataclass(frozen=True, slots=True)
class UserService:
    session: AsyncSession
    clock: Clock
    verifier: SecretVerifier
    sessions: SessionService
    audit: AuditLog | None = None  # needed by the methods that change something

    # --- creating and finding ---

    async def create(
        self,
        username: str,
        password: str,
        *,
        role: Role | None = None,
        email: str | None = None,
    ) -> User:
        """Returns the new account. Raises InvalidInput, or Conflict if the name or the
        e-mail address is taken (either regardless of case)."""
        audit = self._audit()
        if not USERNAME.fullmatch(username):
            raise InvalidInput(
                "usernames are 1-100 letters, digits and . _ @ + -",
                fields=[FieldError("username", "1-100 letters, digits and . _ @ + -")],
            )
        check_new_password(password)
        address = check_email(email) if email is not None else None
        taken = await self._find(username)
        if taken is not None:
            raise Conflict(f"user {taken.username!r} exists already (usernames ignore case)")
        if address is not None:
            await self._check_email_free(address, None)
        hashed = await anyio.to_thread.run_sync(self.verifier.hasher.hash, password)
        user = User(
            public_id=new_public_id(),
            username=username,
            password_hash=hashed,
            role=role.value if role else None,
            email=address,
            created_at=self.clock.now(),
        )
        try:
            # A savepoint: a concurrent create of the same name may commit first, and the
            # unique index on lower(username) then refuses this one.
            async with self.session.begin_nested():
                self.session.add(user)
        except IntegrityError:
            raise Conflict(
                f"user {username!r} or its e-mail address exists already (both ignore case)"
            ) from None
        changes: dict[str, Any] = {"sub": user.public_id}
        if role is not None:
            changes["role"] = role.value
        await audit.record(EventTag.USER_CREATED, target=username, changes=changes)
        return user

    async def all(self) -> list[User]:
        return list(await self.session.scalars(select(User).order_by(User.id)))

    async def search(
        self, filters: AccountFilter, *, cursor: str | None = None, limit: int = 50
    ) -> Page[User]:
        """Returns one page of accounts, oldest first, in one SQL statement whatever the
        filters. Raises InvalidInput on a bad filter or cursor."""
        check_limit(limit)
        stmt = select(User).order_by(User.id).limit(limit + 1)
        after = decode_cursor(cursor)
        if after is not None:
            stmt = stmt.where(User.id > after)
        if filters.text:
            if len(filters.text) > MAX_SEARCH or unsafe_character(filters.text) is not None:
                raise InvalidInput(
                    f"search text must be 1-{MAX_SEARCH} printable characters",
                    fields=[FieldError("q", f"at most {MAX_SEARCH} printable characters")],
                )
            escaped = filters.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            pattern = f"%{escaped.lower()}%"
            stmt = stmt.where(
                func.lower(User.username).like(pattern, escape="\\")
                | func.lower(User.email).like(pattern, escape="\\")
            )
        if filters.role:
            role = parse_role(filters.role)
            stmt = stmt.where(User.role.is_(None) if role is None else User.role == role.value)
        if filters.status:
            if filters.status not in ACCOUNT_STATUSES:
                raise InvalidInput(
                    f"status must be one of {', '.join(ACCOUNT_STATUSES)}",
                    fields=[FieldError("status", f"one of {', '.join(ACCOUNT_STATUSES)}")],
                )
            disabled = User.disabled_at.is_not(None)
            stmt = stmt.where(disabled if filters.status == "disabled" else ~disabled)
        users = list(await self.session.scalars(stmt))
        more = len(users) > limit
        users = users[:limit]
        return Page(users, encode_cursor(users[-1].id) if more else None)

    async def get(self, user_id: int) -> User | None:
        """Returns the active account with this (internal) id, or None."""
        user = await self.session.get(User, user_id)
        return user if user is not None and user.disabled_at is None else None

    async def active(self, public_id: str) -> User | None:
        """Returns the active account with this public id, or None."""
        user = await self._by_public_id(public_id)
        return user if user is not None and user.disabled_at is None else None

    async def by_public_id(self, public_id: str) -> User:
        """Returns the account, active or disabled. Raises NotFound."""
        user = await self._by_public_id(public_id)
        if user is None:
            raise NotFound("no such user", detail=f"public id {public_id!r}")
        return user

    async def by_username(self, username: str) -> User:
        """Returns the account of this name in any case, active or disabled. Raises NotFound."""
        user = await self._find(username) if USERNAME.fullmatch(username) else None
        if user is None:
            raise NotFound(f"no user named {username!r}")
        return user

    async def username_taken(self, username: str) -> bool:
        """Returns whether an account has this name, in any case."""
        return USERNAME.fullmatch(username) is not None and await self._find(username) is not None

    async def hash_and_forget(self, password: str) -> None:
        """Spends the time create() spends hashing ``password``: an answer that creates
        nothing must not be quicker than one that creates an account."""
        await anyio.to_thread.run_sync(self.verifier.hasher.hash, password)

    # --- signing in ---

    async def authenticate(self, username: str, password: str) -> User | None:
        """Returns the active account whose password this is, or None.

        An unknown username costs one argon2 verification too, so response time does not
        tell which usernames exist.
        """
        user, matches = await self._check_password(username, password)
        if user is None or not matches or user.disabled_at is not None:
            return None
        return user

    async def sign_in(self, username: str, password: str, *, source_ip: str | None) -> User | None:
        """Returns the account if the password is right and the account active, or None;
        audits either outcome ("account:signed_in", "account:sign_in_failed"). The
        password is never recorded, nor is a username no account has (it may be a
        password typed in the wrong field)."""
        user = await self.check_sign_in(username, password, source_ip=source_ip)
        if user is not None:
            await self.record_sign_in(user, source_ip=source_ip)
        return user

    async def check_sign_in(
        self, username: str, password: str, *, source_ip: str | None
    ) -> User | None:
        """The password step of a sign-in: returns the account if the password is right
        and the account active, or None, auditing a failure ("account:sign_in_failed")
        only. The sign-in itself is recorded by ``record_sign_in`` once every step passed
        (an account with a second factor has one more)."""
        user, matches = await self._check_password(username, password)
        if user is not None and matches and user.disabled_at is None:
            return user
        if user is None:
            reason, target, changes = "unknown_user", None, {}
        else:
            reason = "wrong_password" if not matches else "disabled"
            target, changes = user.username, {"sub": user.public_id}
        log = AuditLog(self.session, self.clock, Actor("anonymous", source_ip))
        await log.record(
            EventTag.ACCOUNT_SIGN_IN_FAILED, target=target, changes={**changes, "reason": reason}
        )
        return None

    async def record_sign_in(
        self, user: User, *, source_ip: str | None, second_factor: str | None = None
    ) -> None:
        """Audits a completed sign-in ("account:signed_in"), with the second factor that
        was used ("totp", "recovery_code"), if any."""
        changes: dict[str, Any] = {"sub": user.public_id}
        if second_factor is not None:
            changes["second_factor"] = second_factor
        log = AuditLog(self.session, self.clock, account_actor(user, source_ip))
        await log.record(EventTag.ACCOUNT_SIGNED_IN, target=user.username, changes=changes)

    async def record_failed_second_factor(self, user: User, *, source_ip: str | None) -> None:
        """Audits a wrong, old or reused second-factor code at sign-in (never the code)."""
        log = AuditLog(self.session, self.clock, Actor("anonymous", source_ip))
        await log.record(
            EventTag.ACCOUNT_SIGN_IN_FAILED,
            target=user.username,
            changes={"sub": user.public_id, "reason": "wrong_second_factor"},
        )

    async def verify_password(self, user: User, password: str) -> bool:
        """Returns whether ``password`` is the account's password."""
        if len(password) > MAX_PASSWORD:
            return False
        return await self.verifier.verify(user.password_hash, password)

    async def set_password(self, user: User, password: str, *, temporary: bool = False) -> int:
        """Gives the account a new password (checked by the password rules; the field is
        "new_password") and ends every session of the account; returns how many ended. A
        ``temporary`` password must be changed at the next sign-in. Not audited here: the
        caller records why (a change, a reset, an admin's temporary password). Raises
        InvalidInput."""
        check_new_password(password, "new_password")
        user.password_hash = await anyio.to_thread.run_sync(self.verifier.hasher.hash, password)
        user.password_change_required = temporary
        await self.session.flush()
        return await self.sessions.end_all(user.public_id)

    # --- changing ---

    async def update(
        self,
        user: User,
        *,
        role: Role | _Keep | None = KEEP,
        email: str | _Keep | None = KEEP,
        email_verified: bool | _Keep = KEEP,
    ) -> User:
        """Changes what is given (everything checked before anything changes). A new
        e-mail address is unverified unless ``email_verified`` says otherwise; an account
        without an address cannot be verified. Raises InvalidInput, Conflict."""
        audit = self._audit()
        address = check_email(email) if isinstance(email, str) else email
        if isinstance(address, str):
            await self._check_email_free(address, user)
        new_email = user.email if address is KEEP else address
        email_changed = (
            address is not KEEP and (address or "").lower() != (user.email or "").lower()
        )
        if email_verified is True and new_email is None:
            raise InvalidInput(
                "an account without an e-mail address cannot have it verified",
                fields=[FieldError("email_verified", "the account has no e-mail address")],
            )
        if role is not KEEP:
            await self.set_role(user, role)
        changes: dict[str, Any] = {}
        if email_changed:
            changes["email"] = [user.email, new_email]
            user.email = new_email
            # The links mailed to the old address stop working: they would verify the
            # new one, or reset the password from a mailbox the account left.
            await self.session.execute(
                delete(OneTimeLink).where(
                    OneTimeLink.user_id == user.id,
                    OneTimeLink.purpose.in_(("verify_email", "reset_password")),
                    OneTimeLink.used_at.is_(None),
                )
            )
            if user.email_verified_at is not None and email_verified is KEEP:
                user.email_verified_at = None
                changes["email_verified"] = [True, False]
        if email_verified is not KEEP and email_verified != (user.email_verified_at is not None):
            changes["email_verified"] = [not email_verified, email_verified]
            user.email_verified_at = self.clock.now() if email_verified else None
        if changes:
            await self.session.flush()
            await audit.record(
                EventTag.ACCOUNT_UPDATED,
                target=user.username,
                changes={"sub": user.public_id, **changes},
            )
        return user

    async def set_role(self, user: User, role: Role | None) -> User:
        """Gives the account ``role`` (None: a plain end user), audited as
        "account:role:changed" when it changes. Raises Conflict when it would leave no
        active admin account."""
        audit = self._audit()
        new = role.value if role is not None else None
        if user.role != new:
            await self._check_leaves_an_admin(user, field="role")
            old, user.role = user.role, new
            await self.session.flush()
            await audit.record(
                EventTag.ACCOUNT_ROLE_CHANGED,
                target=user.username,
                changes={"sub": user.public_id, "role": [old, new]},
            )
        return user

    async def disable(self, user: User) -> User:
        """Disables the account: it cannot sign in, its sessions end now, and its codes
        and refresh tokens stop working (they check the account). Its clients, if it owns
        any, are left as they are. Raises Conflict when it would leave no active admin
        account."""
        audit = self._audit()
        await self._check_leaves_an_admin(user)
        ended = await self.sessions.end_all(user.public_id)
        if user.disabled_at is None:
            user.disabled_at = self.clock.now()
            await self.session.flush()
            await audit.record(
                EventTag.ACCOUNT_DISABLED,
                target=user.username,
                changes={"sub": user.public_id, "sessions_ended": ended},
            )
        return user

    async def enable(self, user: User) -> User:
        """Lets a disabled account sign in again."""
        audit = self._audit()
        if user.disabled_at is not None:
            user.disabled_at = None
            await self.session.flush()
            await audit.record(
                EventTag.ACCOUNT_ENABLED, target=user.username, changes={"sub": user.public_id}
            )
        return user

    async def end_sessions(self, user: User) -> int:
        """Ends every session of the account (every browser it is signed in on); returns
        how many there were."""
        audit = self._audit()
        ended = await self.sessions.end_all(user.public_id)
        await audit.record(
            EventTag.ACCOUNT_SESSIONS_ENDED,
            target=user.username,
            changes={"sub": user.public_id, "sessions_ended": ended},
        )
        return ended

    async def delete(self, user: User) -> None:
        """Deletes the account with its sessions, consents and grants (so every code,
        refresh token and access token issued to it stops working). The audit trail
        stays: its events name the account by username and public id, not by a key.
        Raises Conflict when it would leave no active admin account."""
        audit = self._audit()
        await self._check_leaves_an_admin(user)
        ended = await self.sessions.end_all(user.public_id)
        # The grants, codes, refresh tokens, consents and session rows go with it (their
        # foreign keys cascade); access tokens name their grant, so they die too.
        await self.session.execute(delete(User).where(User.id == user.id))
        self.session.expunge(user)
        await audit.record(
            EventTag.ACCOUNT_DELETED,
            target=user.username,
            changes={"sub": user.public_id, "sessions_ended": ended},
        )

    # --- internals ---

    def _audit(self) -> AuditLog:
        if self.audit is None:
            raise RuntimeError("changing an account is audited: give UserService an AuditLog")
        return self.audit

    async def _check_leaves_an_admin(self, user: User, field: str | None = None) -> None:
        """Raises Conflict when ``user`` is the only active admin account: removing its
        role, disabling or deleting it would leave nobody to run the console (an admin
        locking themselves out). The other admins' rows are locked, so two admins
        demoting each other at once cannot both succeed (PostgreSQL; SQLite has one
        writer at a time)."""
        if user.role != Role.ADMIN.value or user.disabled_at is not None:
            return
        others = await self.session.scalars(
            select(User.id)
            .where(User.role == Role.ADMIN.value, User.disabled_at.is_(None), User.id != user.id)
            .with_for_update()
        )
        if others.first() is None:
            fields = [FieldError(field, LAST_ADMIN)] if field else None
            raise Conflict(LAST_ADMIN, fields=fields)

    async def _check_password(self, username: str, password: str) -> tuple[User | None, bool]:
        # A name no account can have is not looked up (nor is a 16 kB one sent to the
        # database), and the lookup stays within the ASCII that lower() folds alike in
        # Python, SQLite and PostgreSQL.
        user = await self._find(username) if USERNAME.fullmatch(username) else None
        if len(password) > MAX_PASSWORD:
            return user, False
        hashed = user.password_hash if user is not None else await self._decoy_hash()
        return user, await self.verifier.verify(hashed, password)

    async def _check_email_free(self, address: str, owner: User | None) -> None:
        holder: User | None = await self.session.scalar(
            select(User).where(func.lower(User.email) == address.lower())
        )
        if holder is not None and (owner is None or holder.id != owner.id):
            raise Conflict(
                "another account has this e-mail address (addresses ignore case)",
                fields=[FieldError("email", "taken by another account")],
            )

    async def _by_public_id(self, public_id: str) -> User | None:
        if not PUBLIC_ID.fullmatch(public_id):
            return None
        user: User | None = await self.session.scalar(
            select(User).where(User.public_id == public_id)
        )
        return user

    async def _find(self, username: str) -> User | None:
        """Returns the user of this name in any case (``Alice`` is ``alice``), or None."""
        user: User | None = await self.session.scalar(
            select(User).where(func.lower(User.username) == username.lower())
        )
        return user

    async def _decoy_hash(self) -> str:
        return await self.verifier.decoy_hash()


def account_actor(user: User, source_ip: str | None = None) -> Actor:
    """Returns who an account acting on its own behalf is in the audit log:
    ``user:<public id>``."""
    return Actor(f"user:{user.public_id}", source_ip)
