"""The scope registry: every scope a client may be given, with the text consent shows."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Boolean, String, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from appward.audit import AuditLog, EventTag
from appward.clients.models import ClientScope
from appward.clock import Clock
from appward.db import Base, UTCDateTime
from appward.errors import Conflict, FieldError, InvalidInput, NotFound
from appward.text import unsafe_character

ADMIN_SCOPE = "appward:admin"

# RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")
MAX_SCOPE_NAME = 128
MAX_DESCRIPTION = 500


class Scope(Base):
    __tablename__ = "scopes"

    name: Mapped[str] = mapped_column(String(MAX_SCOPE_NAME), primary_key=True)
    description: Mapped[str] = mapped_column(String(MAX_DESCRIPTION))
    # Admin-only scopes are never handed to a client that registered itself.
    admin_only: Mapped[bool] = mapped_column(Boolean, default=False)
    # A sensitive scope puts a portal-registered client in review before it gets tokens.
    sensitive: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


def check_scope_name(name: str) -> None:
    """Raises InvalidInput unless ``name`` is an RFC 6749 §3.3 scope-token of sane length."""
    if not name or len(name) > MAX_SCOPE_NAME or not SCOPE_TOKEN.fullmatch(name):
        raise InvalidInput(
            "scope names are 1-128 printable ASCII characters without spaces, '\"' or '\\' "
            "(RFC 6749 §3.3)",
            fields=[FieldError("name", "not a valid scope-token (RFC 6749 §3.3)")],
        )


def _check_description(description: str) -> None:
    if (
        not description.strip()
        or len(description) > MAX_DESCRIPTION
        or unsafe_character(description) is not None
    ):
        raise InvalidInput(
            "description must be 1-500 printable characters",
            fields=[FieldError("description", "1-500 printable characters, not blank")],
        )


@dataclass(frozen=True, slots=True)
class ScopeService:
    session: AsyncSession
    clock: Clock
    audit: AuditLog

    async def create(
        self, name: str, description: str, *, admin_only: bool = False, sensitive: bool = False
    ) -> Scope:
        """Returns the new scope. Raises InvalidInput, or Conflict if the name is taken."""
        check_scope_name(name)
        _check_description(description)
        if await self.session.get(Scope, name) is not None:
            raise Conflict(
                f"scope {name!r} already exists",
                fields=[FieldError("name", "a scope of this name exists already")],
            )
        now = self.clock.now()
        scope = Scope(
            name=name,
            description=description,
            admin_only=admin_only,
            sensitive=sensitive,
            created_at=now,
            updated_at=now,
        )
        self.session.add(scope)
        await self.session.flush()
        await self.audit.record(
            EventTag.SCOPE_CREATED,
            target=name,
            changes={"description": description, "admin_only": admin_only, "sensitive": sensitive},
        )
        return scope

    async def all(self) -> list[Scope]:
        result = await self.session.scalars(select(Scope).order_by(Scope.name))
        return list(result)

    async def get(self, name: str) -> Scope:
        """Returns the scope. Raises NotFound."""
        scope = await self.session.get(Scope, name)
        if scope is None:
            raise NotFound(f"no scope named {name!r}")
        return scope

    async def update(
        self,
        name: str,
        *,
        description: str | None = None,
        admin_only: bool | None = None,
        sensitive: bool | None = None,
    ) -> Scope:
        """Returns the updated scope; the audit event records each changed field as
        [old, new]. Raises NotFound or InvalidInput (and then changes nothing)."""
        scope = await self.get(name)
        # Everything is checked before anything changes.
        if description is not None and description != scope.description:
            _check_description(description)
        if name == ADMIN_SCOPE and admin_only is False:
            raise InvalidInput(
                f"{ADMIN_SCOPE} is always admin-only",
                fields=[FieldError("admin_only", f"{ADMIN_SCOPE} is always admin-only")],
            )
        changes: dict[str, object] = {}
        for field, value in (
            ("description", description),
            ("admin_only", admin_only),
            ("sensitive", sensitive),
        ):
            if value is not None and value != getattr(scope, field):
                changes[field] = [getattr(scope, field), value]
                setattr(scope, field, value)
        if changes:
            scope.updated_at = self.clock.now()
            await self.session.flush()
            await self.audit.record(EventTag.SCOPE_UPDATED, target=name, changes=changes)
        return scope

    async def delete(self, name: str) -> None:
        """Deletes the scope. Raises NotFound, or Conflict while a client may use it."""
        scope = await self.get(name)
        if name == ADMIN_SCOPE:
            raise Conflict(f"{ADMIN_SCOPE} is built in and cannot be deleted")
        users = await self.session.scalar(
            select(func.count()).select_from(ClientScope).where(ClientScope.scope_name == name)
        )
        if users:
            raise Conflict(f"scope {name!r} is still allowed for {users} client(s)")
        await self.session.delete(scope)
        await self.session.flush()
        await self.audit.record(EventTag.SCOPE_DELETED, target=name)

    async def admin_only(self, names: list[str]) -> list[str]:
        """Returns those of ``names`` that only an administrator may give a client."""
        if not names:
            return []
        reserved = set(
            await self.session.scalars(
                select(Scope.name).where(Scope.name.in_(names), Scope.admin_only.is_(True))
            )
        )
        return [n for n in names if n in reserved]

    async def sensitive(self, names: list[str]) -> list[str]:
        """Returns those of ``names`` marked sensitive: a portal client asking for one waits
        for an administrator's approval (clients/approval.py)."""
        if not names:
            return []
        marked = set(
            await self.session.scalars(
                select(Scope.name).where(Scope.name.in_(names), Scope.sensitive.is_(True))
            )
        )
        return [n for n in names if n in marked]

    async def unknown(self, names: list[str]) -> list[str]:
        """Returns those of ``names`` that are not in the registry."""
        if not names:
            return []
        known = set(await self.session.scalars(select(Scope.name).where(Scope.name.in_(names))))
        return [n for n in names if n not in known]
