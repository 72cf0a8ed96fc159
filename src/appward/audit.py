"""The audit log: who changed what, written in the same transaction as the change."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Integer, String, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from appward.clock import Clock
from appward.db import Base, UTCDateTime
from appward.errors import FieldError, InvalidInput
from appward.pagination import Page, check_limit, decode_cursor, encode_cursor


class EventTag(StrEnum):
    """Every audit action, as a stable ``resource:verb`` name (the ``action`` column)."""

    CLIENT_CREATED = "client:created"
    CLIENT_UPDATED = "client:updated"
    CLIENT_DISABLED = "client:disabled"
    CLIENT_ENABLED = "client:enabled"
    CLIENT_DELETED = "client:deleted"
    CLIENT_APPROVED = "client:approved"
    CLIENT_REJECTED = "client:rejected"
    CLIENT_VERIFIED = "client:verified"
    CLIENT_UNVERIFIED = "client:unverified"
    CLIENT_TOKENS_REVOKED = "client:tokens:revoked"
    CLIENT_SECRET_ADDED = "client:secret:added"
    CLIENT_SECRET_EXPIRY_SET = "client:secret:expiry_set"
    CLIENT_SECRET_REVOKED = "client:secret:revoked"
    SCOPE_CREATED = "scope:created"
    SCOPE_UPDATED = "scope:updated"
    SCOPE_DELETED = "scope:deleted"
    USER_CREATED = "user:created"
    ACCOUNT_UPDATED = "account:updated"
    ACCOUNT_ROLE_CHANGED = "account:role:changed"
    ACCOUNT_DISABLED = "account:disabled"
    ACCOUNT_ENABLED = "account:enabled"
    ACCOUNT_DELETED = "account:deleted"
    ACCOUNT_SESSIONS_ENDED = "account:sessions:ended"
    ACCOUNT_SIGNED_IN = "account:signed_in"
    ACCOUNT_SIGN_IN_FAILED = "account:sign_in_failed"
    ACCOUNT_CONSENT_GIVEN = "account:consent:given"
    ACCOUNT_CONSENT_REVOKED = "account:consent:revoked"
    ACCOUNT_TOTP_ENROLLED = "account:totp:enrolled"
    ACCOUNT_TOTP_REMOVED = "account:totp:removed"
    ACCOUNT_RECOVERY_CODE_USED = "account:recovery_code:used"
    ACCOUNT_RECOVERY_CODES_REGENERATED = "account:recovery_codes:regenerated"
    ACCOUNT_EMAIL_VERIFICATION_SENT = "account:email_verification:sent"
    ACCOUNT_PASSWORD_RESET_LINK_ISSUED = "account:password_reset:link_issued"
    ACCOUNT_INVITATION_ISSUED = "account:invitation:issued"
    # The developer portal ("portal"): invitations, sign-up, verification, co-owners.
    ACCOUNT_INVITATION_REVOKED = "account:invitation:revoked"
    ACCOUNT_SIGNED_UP = "account:signed_up"
    CLIENT_OWNER_ADDED = "client:owner:added"
    CLIENT_OWNER_CHANGED = "client:owner:changed"
    CLIENT_OWNER_REMOVED = "client:owner:removed"
    DCR_REGISTERED = "dcr:registered"
    DCR_REPLACED = "dcr:replaced"
    DCR_DELETED = "dcr:deleted"
    DCR_INITIAL_ACCESS_TOKEN_CREATED = "dcr:initial_access_token:created"
    DCR_INITIAL_ACCESS_TOKEN_REVOKED = "dcr:initial_access_token:revoked"


class AuditEvent(Base):
    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    actor: Mapped[str] = mapped_column(String(200), index=True)
    action: Mapped[str] = mapped_column(String(64), index=True)
    # Not a foreign key: the trail outlives the client it speaks of.
    client_id: Mapped[str | None] = mapped_column(String(64), index=True)
    target: Mapped[str | None] = mapped_column(String(200))
    changes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    source_ip: Mapped[str | None] = mapped_column(String(45))


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is making a change: ``client:<id>`` for an admin token, ``cli:<user>`` for the
    CLI, ``user:<public id>`` for an account acting itself (signing in, consenting),
    ``anonymous`` for a failed sign-in."""

    name: str
    source_ip: str | None = None


@dataclass(frozen=True, slots=True)
class AuditFilter:
    client_id: str | None = None
    actor: str | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True, slots=True)
class AuditLog:
    session: AsyncSession
    clock: Clock
    actor: Actor

    async def record(
        self,
        action: EventTag,
        *,
        client_id: str | None = None,
        target: str | None = None,
        changes: dict[str, Any] | None = None,
    ) -> None:
        """Adds one event to the current transaction. ``changes`` must hold no secret."""
        self.session.add(
            AuditEvent(
                occurred_at=self.clock.now(),
                actor=self.actor.name,
                action=str(action),
                client_id=client_id,
                target=target,
                changes=changes or {},
                source_ip=self.actor.source_ip,
            )
        )
        await self.session.flush()

    async def query(
        self, filters: AuditFilter, *, cursor: str | None = None, limit: int = 50
    ) -> Page[AuditEvent]:
        """Returns events newest first. Raises InvalidInput on a bad cursor, limit or time."""
        check_limit(limit)
        _check_time("since", filters.since)
        _check_time("until", filters.until)
        stmt = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit + 1)
        after = decode_cursor(cursor)
        if after is not None:
            stmt = stmt.where(AuditEvent.id < after)
        if filters.client_id:
            stmt = stmt.where(AuditEvent.client_id == filters.client_id)
        if filters.actor:
            stmt = stmt.where(AuditEvent.actor == filters.actor)
        if filters.action:
            stmt = stmt.where(AuditEvent.action == filters.action)
        if filters.since:
            stmt = stmt.where(AuditEvent.occurred_at >= filters.since)
        if filters.until:
            stmt = stmt.where(AuditEvent.occurred_at < filters.until)
        events = list(await self.session.scalars(stmt))
        more = len(events) > limit
        events = events[:limit]
        return Page(events, encode_cursor(events[-1].id) if more else None)


def _check_time(field: str, value: datetime | None) -> None:
    # Far-off years overflow when moved to UTC, and no event is older than 1970.
    if value is None:
        return
    if value.tzinfo is None:
        raise InvalidInput(f"{field} needs a timezone", fields=[FieldError(field, "no timezone")])
    try:
        utc_year = value.astimezone(UTC).year
    except OverflowError:
        utc_year = 0
    if not 1970 <= utc_year <= 9998:
        raise InvalidInput(
            f"{field} must be between 1970 and 9998",
            fields=[FieldError(field, "must be between 1970 and 9998")],
        )
