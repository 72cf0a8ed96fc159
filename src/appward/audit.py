"""The audit log: who changed what, written in the same transaction as the change."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Integer, String, insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from appward.clock import Clock
from appward.db import Base, UTCDateTime
from appward.errors import FieldError, InvalidInput
from appward.pagination import Page, check_limit, decode_cursor, encode_cursor


class EventTag(StrEnum):
    """Every audit action, as a stable ``resource:verb`` name (the ``action`` column)."""

    CLIENT_CREATED = "client:created"
    # One per client of `appward clients import`: its metadata, as client:created holds.
    CLIENT_IMPORTED = "client:imported"
    CLIENT_UPDATED = "client:updated"
    CLIENT_DISABLED = "client:disabled"
    CLIENT_ENABLED = "client:enabled"
    CLIENT_DELETED = "client:deleted"
    CLIENT_APPROVED = "client:approved"
    CLIENT_REJECTED = "client:rejected"
    CLIENT_VERIFIED = "client:verified"
    CLIENT_UNVERIFIED = "client:unverified"
    CLIENT_TOKENS_REVOKED = "client:tokens:revoked"
    # Who may introspect what ("introspection", issue 11).
    CLIENT_INTROSPECTION_GRANTED = "client:introspection:granted"
    CLIENT_INTROSPECTION_WITHDRAWN = "client:introspection:withdrawn"
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
    # --- auth: passwords and the second factor (task "auth") ---
    ACCOUNT_PASSWORD_CHANGED = "account:password:changed"
    ACCOUNT_PASSWORD_RESET = "account:password_reset:completed"
    ACCOUNT_PASSWORD_RESET_REQUESTED = "account:password_reset:requested"
    ACCOUNT_TEMPORARY_PASSWORD_SET = "account:password:temporary_set"
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


# How a change event records one field's change: both values, so the trail says what a
# field was as well as what it became (the console's Activity tab shows both).
_CHANGE_KEYS = frozenset({"old", "new"})


def changed_value(old: Any, new: Any) -> dict[str, Any]:
    """Returns what ``changes`` holds for a field that went from ``old`` to ``new``."""
    return {"old": old, "new": new}


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One field of an event's ``changes``: its new value and, when the event recorded
    it, the old one (``had_old`` tells a recorded None from one never recorded)."""

    field: str
    new: Any
    old: Any = None
    had_old: bool = False


def field_changes(event: AuditEvent) -> list[FieldChange]:
    """Returns the event's changes field by field, in the order they were recorded:
    values recorded with changed_value, and the PAIRED_FIELDS' [old, new] lists, give old
    and new; any other value is what the field became."""
    paired = PAIRED_FIELDS.get(event.action, frozenset())
    result = []
    for field, value in (event.changes or {}).items():
        if isinstance(value, dict) and value.keys() == _CHANGE_KEYS:
            result.append(FieldChange(field, value["new"], value["old"], had_old=True))
        elif field in paired and isinstance(value, list) and len(value) == 2:
            result.append(FieldChange(field, value[1], value[0], had_old=True))
        else:
            result.append(FieldChange(field, value))
    return result


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


MAX_ACTOR = 200
MAX_CLIENT_ID = 64


def parse_audit_filter(
    *, actor: str = "", action: str = "", client_id: str = "", since: str = "", until: str = ""
) -> AuditFilter:
    """Returns the filter a search form asks for: blank fields are no filter; a time is
    ISO 8601 (a date, a date and time, with or without an offset; none means UTC), and
    a date alone as ``until`` means the end of that day. Raises InvalidInput with one
    FieldError per bad field."""
    problems: list[FieldError] = []
    actor, action, client_id = actor.strip(), action.strip(), client_id.strip()
    if len(actor) > MAX_ACTOR:
        problems.append(FieldError("actor", f"at most {MAX_ACTOR} characters"))
    if len(client_id) > MAX_CLIENT_ID:
        problems.append(FieldError("client_id", f"at most {MAX_CLIENT_ID} characters"))
    if action and action not in EventTag._value2member_map_:
        problems.append(FieldError("action", "not an action the audit log records"))
    times: dict[str, datetime | None] = {}
    for field, text in (("since", since), ("until", until)):
        try:
            times[field] = _parse_time(field, text.strip(), end_of_day=field == "until")
        except InvalidInput as exc:
            problems.extend(exc.fields)
    if problems:
        raise InvalidInput("; ".join(f"{p.field}: {p.message}" for p in problems), fields=problems)
    return AuditFilter(
        client_id or None, actor or None, action or None, times["since"], times["until"]
    )


def _parse_time(field: str, text: str, *, end_of_day: bool) -> datetime | None:
    if not text:
        return None
    bad = InvalidInput(
        f"{field} is not a date or time",
        fields=[FieldError(field, "a date (2026-01-31) or a date and time (2026-01-31T14:30)")],
    )
    if len(text) > 40:
        raise bad
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise bad from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    _check_time(field, value)
    # A date alone: its end (within the years _check_time allows, so no overflow).
    return value + timedelta(days=1) if end_of_day and len(text) == 10 else value


# The events whose changes record these fields as [old, new]; every other field, and
# every other event's, records what the field became (a creation's values, a client
# update's new metadata).
PAIRED_FIELDS: dict[str, frozenset[str]] = {
    EventTag.ACCOUNT_UPDATED: frozenset({"email", "email_verified"}),
    EventTag.ACCOUNT_ROLE_CHANGED: frozenset({"role"}),
    EventTag.SCOPE_UPDATED: frozenset({"description", "admin_only", "sensitive"}),
}


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

    async def record_many(
        self, action: EventTag, events: list[tuple[str | None, dict[str, Any]]]
    ) -> None:
        """Adds one ``action`` event per (client_id, changes) of ``events`` to the current
        transaction in one multi-row statement (a bulk import's). ``changes`` must hold
        no secret."""
        if not events:
            return
        now = self.clock.now()
        await self.session.execute(
            insert(AuditEvent),
            [
                {
                    "occurred_at": now,
                    "actor": self.actor.name,
                    "action": str(action),
                    "client_id": client_id,
                    "target": None,
                    "changes": changes,
                    "source_ip": self.actor.source_ip,
                }
                for client_id, changes in events
            ],
        )

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
