"""Admin API: searching the audit log (/admin/v1/audit-events)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, BeforeValidator

from appward.audit import AuditFilter
from appward.presenters import present_audit_event, present_page
from appward.web.deps import Audit
from appward.web.openapi import problem_responses

router = APIRouter()


class AuditEventOut(BaseModel):
    id: int
    occurred_at: datetime
    actor: str
    action: str
    client_id: str | None
    target: str | None
    changes: dict[str, Any]
    source_ip: str | None


class AuditList(BaseModel):
    items: list[AuditEventOut]
    next_cursor: str | None


def _not_a_number(value: object) -> object:
    """pydantic reads a number as seconds since the epoch; the document (format
    date-time) and the console take ISO 8601 only, and so does this API."""
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return value
        raise ValueError("must be an ISO 8601 date and time, e.g. 2026-06-01T12:00:00Z")
    return value


# A bound of the search: an ISO 8601 date and time, never a number.
IsoTime = Annotated[datetime, BeforeValidator(_not_a_number)]


def _aware(value: datetime | None) -> datetime | None:
    """A bound given without an offset is read as UTC, the log's own time zone."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


@router.get(
    "/audit-events",
    response_model=AuditList,
    summary="Search the audit log",
    description=(
        "Lists audit events, newest first, filtered by client, actor, action and time; follow "
        "next_cursor for the next page."
    ),
    responses=problem_responses(400),
)
async def list_audit_events(
    audit: Audit,
    client_id: str | None = None,
    actor: str | None = None,
    action: str | None = None,
    since: IsoTime | None = None,
    until: IsoTime | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Any:
    page = await audit.query(
        AuditFilter(client_id, actor, action, _aware(since), _aware(until)),
        cursor=cursor,
        limit=limit,
    )
    return present_page(page, present_audit_event)
