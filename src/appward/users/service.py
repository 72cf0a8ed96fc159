"""Local user accounts with argon2id passwords."""

from __future__ import annotations

import re
from dataclasses import dataclass

import anyio
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from appward.audit import AuditLog, EventTag
from appward.clock import Clock
from appward.errors import Conflict, FieldError, InvalidInput
from appward.hashing import SecretVerifier
from appward.users.models import User

USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,99}")
MIN_PASSWORD = 10
MAX_PASSWORD = 512


@dataclass(frozen=True, slots=True)
class UserService:
    session: AsyncSession
    clock: Clock
    verifier: SecretVerifier
    audit: AuditLog | None = None  # needed by the methods that change something

    async def create(self, username: str, password: str) -> User:
        """Returns the new user. Raises InvalidInput, or Conflict if the name is taken."""
        if self.audit is None:
            raise RuntimeError("creating a user is audited: give UserService an AuditLog")
        if not USERNAME.fullmatch(username):
            raise InvalidInput(
                "usernames are 1-100 letters, digits and . _ @ + -",
                fields=[FieldError("username", "1-100 letters, digits and . _ @ + -")],
            )
        if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
            raise InvalidInput(
                f"passwords are {MIN_PASSWORD} to {MAX_PASSWORD} characters",
                fields=[FieldError("password", f"{MIN_PASSWORD}-{MAX_PASSWORD} characters")],
            )
        taken = await self._find(username)
        if taken is not None:
            raise Conflict(f"user {taken.username!r} exists already (usernames ignore case)")
        hashed = await anyio.to_thread.run_sync(self.verifier.hasher.hash, password)
        user = User(username=username, password_hash=hashed, created_at=self.clock.now())
        try:
            # A savepoint: a concurrent create of the same name may commit first, and the
            # unique index on lower(username) then refuses this one.
            async with self.session.begin_nested():
                self.session.add(user)
        except IntegrityError:
            raise Conflict(f"user {username!r} exists already (usernames ignore case)") from None
        await self.audit.record(EventTag.USER_CREATED, target=username)
        return user

    async def all(self) -> list[User]:
        return list(await self.session.scalars(select(User).order_by(User.id)))

    async def get(self, user_id: int) -> User | None:
        """Returns the active user with this id, or None."""
        user = await self.session.get(User, user_id)
        return user if user is not None and user.disabled_at is None else None

    async def authenticate(self, username: str, password: str) -> User | None:
        """Returns the user whose password this is, or None.

        An unknown username costs one argon2 verification too, so response time does not
        tell which usernames exist.
        """
        # A name no account can have is not looked up (nor is a 16 kB one sent to the
        # database), and the lookup stays within the ASCII that lower() folds alike in
        # Python, SQLite and PostgreSQL.
        user = await self._find(username) if USERNAME.fullmatch(username) else None
        if len(password) > MAX_PASSWORD:
            return None
        hashed = user.password_hash if user is not None else await self._decoy_hash()
        matches = await self.verifier.verify(hashed, password)
        if user is None or not matches or user.disabled_at is not None:
            return None
        return user

    async def _find(self, username: str) -> User | None:
        """Returns the user of this name in any case (``Alice`` is ``alice``), or None."""
        user: User | None = await self.session.scalar(
            select(User).where(func.lower(User.username) == username.lower())
        )
        return user

    async def _decoy_hash(self) -> str:
        return await self.verifier.decoy_hash()
