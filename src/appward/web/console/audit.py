"""The audit log, newest first, with filters (actor, action, client, time range) and
cursor pages; each event's changes field by field."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from appward.audit import AuditFilter, EventTag, field_changes, parse_audit_filter
from appward.errors import AppwardError
from appward.pagination import Page
from appward.web.page_access import ConsoleAdmin
from appward.web.templates import field_errors, render

router = APIRouter()

FILTERS = ("actor", "action", "client_id", "since", "until")
PAGE_SIZE = 50


def shown(value: Any) -> str:
    """Returns a recorded value as the page shows it: text as it is, anything else as
    JSON (true, null, lists), so a string "true" and the boolean differ."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


@router.get("/audit")
async def audit_log(request: Request, caller: ConsoleAdmin) -> Response:
    query = request.query_params
    values = {name: query.get(name, "") for name in FILTERS}
    cursor = query.get("cursor") or None
    audit = caller.services.audit
    errors: dict[str, str] = {}
    page: Page[Any] = Page([], None)
    try:
        page = await audit.query(parse_audit_filter(**values), cursor=cursor, limit=PAGE_SIZE)
    except AppwardError as exc:
        errors = field_errors(exc)
        if "cursor" in errors:
            # A cursor that is not one of ours: the first page, saying so.
            errors = {"": "That page link is not valid: this is the first page."}
            page = await audit.query(_filter_or_none(values), limit=PAGE_SIZE)
    events = [(event, field_changes(event)) for event in page.items]
    next_url = None
    if page.next_cursor:
        kept = {name: value for name, value in values.items() if value}
        next_url = "/console/audit?" + urlencode({**kept, "cursor": page.next_cursor})
    return render(
        request,
        "console/audit.html",
        {
            "caller": caller,
            "section": "audit",
            "events": events,
            "values": values,
            "errors": errors,
            "filtered": any(values.values()),
            "actions": [("", "Any action"), *((tag.value, tag.value) for tag in EventTag)],
            "next_url": next_url,
            "shown": shown,
        },
        status_code=400 if errors else 200,
    )


def _filter_or_none(values: dict[str, str]) -> AuditFilter:
    try:
        return parse_audit_filter(**values)
    except AppwardError:
        return AuditFilter()
