"""Who owns a client registered on the developer portal: its owners and viewers.

A portal app's creator is its first owner. An owner may add another developer (an
active account with the developer role and a verified e-mail address) as ``owner`` or
``viewer``, change a role, or remove one; a viewer sees the app but changes nothing and
never sees a secret. An app always keeps at least one owner: the last one can be neither
removed nor made a viewer. Every change is audited.

``Client.owner`` stays what it was: free text an administrator sets (the portal puts the
creator's username there for display). Who may act on the app is this table's business.

The portal reaches a client only through ``client_for``: an app the caller neither owns
nor co-owns raises the same NotFound as an unknown client_id, so its existence leaks
through no page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, String, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from appward.audit import AuditLog, EventTag
from appward.clients.models import Client
from appward.clock import Clock
from appward.db import Base, UTCDateTime
from appward.errors import AccessDenied, Conflict, FieldError, InvalidInput, NotFound
from appward.users.models import Role, User
from appward.users.service import check_email


class OwnerRole(StrEnum):
    """What a co-owner may do: an owner everything, a viewer only look (no secrets)."""

    OWNER = "owner"
    VIEWER = "viewer"


class ClientOwner(Base):
    """One account's role on one client."""

    __tablename__ = "client_owners"
    __table_args__ = (CheckConstraint("role IN ('owner', 'viewer')", name="role"),)

    client_pk: Mapped[int] = mapped_column(
        ForeignKey("clients.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    role: Mapped[str] = mapped_column(String(10))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime)
    added_by: Mapped[str] = mapped_column(String(200))


@dataclass(frozen=True, slots=True)
class CoOwner:
    """An account's place on a client, for a list of its owners."""

    user: User
    role: OwnerRole
    added_at: datetime


NOT_FOUND = "no such app"
NOT_A_DEVELOPER = "no verified developer account has this address"
LAST_OWNER = "an app keeps at least one owner: add another owner first"
OWNERS_ONLY = "only an owner of this app may change it; viewers may only look"


def parse_owner_role(value: object) -> OwnerRole:
    """Returns the role named by ``value``. Raises InvalidInput naming the roles."""
    try:
        return OwnerRole(str(value))
    except ValueError:
        raise InvalidInput(
            "role must be owner or viewer", fields=[FieldError("role", "owner or viewer")]
        ) from None


def check_can_own(user: User | None) -> User:
    """Returns ``user`` if it may co-own an app: an active developer whose e-mail address
    is verified. Raises InvalidInput (field ``email``) otherwise."""
    if (
        user is None
        or user.role != Role.DEVELOPER.value
        or user.disabled_at is not None
        or user.email_verified_at is None
    ):
        raise InvalidInput(NOT_A_DEVELOPER, fields=[FieldError("email", NOT_A_DEVELOPER)])
    return user


@dataclass(frozen=True, slots=True)
class OwnershipService:
    session: AsyncSession
    clock: Clock
    audit: AuditLog

    # --- reading ---

    async def client_for(self, user: User, client_id: str) -> tuple[Client, OwnerRole]:
        """Returns the client ``user`` owns or co-owns, with the user's role on it.
        Raises NotFound, the same for an unknown client as for someone else's."""
        row = (
            await self.session.execute(
                select(Client, ClientOwner.role)
                .join(ClientOwner, ClientOwner.client_pk == Client.pk)
                .where(
                    Client.client_id == client_id,
                    Client.deleted_at.is_(None),
                    ClientOwner.user_id == user.id,
                )
            )
        ).one_or_none()
        if row is None:
            raise NotFound(NOT_FOUND, detail=f"client_id {client_id!r} for user {user.public_id}")
        return row[0], OwnerRole(row[1])

    async def owned_client(self, user: User, client_id: str) -> Client:
        """Returns the client if ``user`` is one of its owners. Raises NotFound as
        client_for does, AccessDenied for a viewer."""
        client, role = await self.client_for(user, client_id)
        if role is not OwnerRole.OWNER:
            raise AccessDenied(OWNERS_ONLY)
        return client

    async def clients_of(self, user: User) -> list[tuple[Client, OwnerRole]]:
        """Returns the clients ``user`` owns or co-owns, newest first, with their role."""
        rows = await self.session.execute(
            select(Client, ClientOwner.role)
            .join(ClientOwner, ClientOwner.client_pk == Client.pk)
            .where(ClientOwner.user_id == user.id, Client.deleted_at.is_(None))
            .order_by(Client.created_at.desc(), Client.pk.desc())
        )
        return [(client, OwnerRole(role)) for client, role in rows.tuples()]

    async def client_ids_owned_by(self, user: User) -> list[str]:
        """Returns the client_ids of the live clients ``user`` is an owner of (not those
        they only view), oldest first."""
        rows = await self.session.scalars(
            select(Client.client_id)
            .join(ClientOwner, ClientOwner.client_pk == Client.pk)
            .where(
                ClientOwner.user_id == user.id,
                ClientOwner.role == OwnerRole.OWNER.value,
                Client.deleted_at.is_(None),
            )
            .order_by(Client.pk)
        )
        return list(rows)

    async def owners(self, client: Client) -> list[CoOwner]:
        """Returns the client's owners and viewers, in the order they were added."""
        rows = await self.session.execute(
            select(User, ClientOwner)
            .join(ClientOwner, ClientOwner.user_id == User.id)
            .where(ClientOwner.client_pk == client.pk)
            .order_by(ClientOwner.added_at, User.id)
        )
        return [CoOwner(user, OwnerRole(link.role), link.added_at) for user, link in rows.tuples()]

    async def developer_by_email(self, email: str) -> User:
        """Returns the account that may co-own an app with this address. Raises
        InvalidInput (field ``email``) for a bad, unknown or unverified address, or an
        account that is no active developer."""
        address = check_email(email.strip())
        user: User | None = await self.session.scalar(
            select(User).where(func.lower(User.email) == address.lower())
        )
        return check_can_own(user)

    # --- changing ---

    async def add_creator(self, client: Client, user: User) -> None:
        """Makes ``user``, who just registered ``client``, its first owner."""
        await self._put(client, user, OwnerRole.OWNER)

    async def set_role(self, client: Client, user: User, role: OwnerRole) -> CoOwner:
        """Adds ``user`` to the client as ``role``, or changes their role. Raises
        InvalidInput when the user may not own an app, Conflict when it would leave the
        client without an owner."""
        check_can_own(user)
        await self._lock(client)
        current = await self._link(client, user)
        if current is not None and current.role == role.value:
            return CoOwner(user, role, current.added_at)
        if current is not None and role is not OwnerRole.OWNER:
            await self._check_another_owner(client, user)
        return await self._put(client, user, role, current)

    async def remove(self, client: Client, user: User) -> None:
        """Takes ``user`` off the client. Raises NotFound when they are not on it,
        Conflict when they are its last owner."""
        await self._lock(client)
        current = await self._link(client, user)
        if current is None:
            raise NotFound(
                "this account is not an owner or viewer of the app",
                detail=f"client_id {client.client_id!r}, user {user.public_id}",
            )
        if current.role == OwnerRole.OWNER.value:
            await self._check_another_owner(client, user)
        await self.session.execute(
            delete(ClientOwner).where(
                ClientOwner.client_pk == client.pk, ClientOwner.user_id == user.id
            )
        )
        await self.audit.record(
            EventTag.CLIENT_OWNER_REMOVED,
            client_id=client.client_id,
            target=user.username,
            changes={"sub": user.public_id, "role": current.role},
        )

    # --- internals ---

    async def _lock(self, client: Client) -> None:
        """Locks the client's row until commit: the owner changes of one client serialise,
        so two owners removing (or demoting) each other at once cannot both pass the
        last-owner check (SQLite: the lock begins the write transaction, db.py)."""
        await self.session.execute(
            select(Client.pk).where(Client.pk == client.pk).with_for_update()
        )

    async def _link(self, client: Client, user: User) -> ClientOwner | None:
        link: ClientOwner | None = await self.session.get(
            ClientOwner, (client.pk, user.id), populate_existing=True
        )
        return link

    async def _check_another_owner(self, client: Client, user: User) -> None:
        others = await self.session.scalar(
            select(func.count())
            .select_from(ClientOwner)
            .where(
                ClientOwner.client_pk == client.pk,
                ClientOwner.role == OwnerRole.OWNER.value,
                ClientOwner.user_id != user.id,
            )
        )
        if not others:
            raise Conflict(LAST_OWNER, fields=[FieldError("role", LAST_OWNER)])

    async def _put(
        self, client: Client, user: User, role: OwnerRole, current: ClientOwner | None = None
    ) -> CoOwner:
        change: str | list[str]
        if current is None:
            current = ClientOwner(
                client_pk=client.pk,
                user_id=user.id,
                role=role.value,
                added_at=self.clock.now(),
                added_by=self.audit.actor.name,
            )
            self.session.add(current)
            tag, change = EventTag.CLIENT_OWNER_ADDED, role.value
        else:
            tag, change = EventTag.CLIENT_OWNER_CHANGED, [current.role, role.value]
            current.role = role.value
        await self.session.flush()
        await self.audit.record(
            tag,
            client_id=client.client_id,
            target=user.username,
            changes={"sub": user.public_id, "role": change},
        )
        return CoOwner(user, role, current.added_at)
