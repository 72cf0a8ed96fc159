"""Searching the audit log: `appward audit`."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from appward.audit import AuditFilter
from appward.cli.arguments import JsonFlag, parse_time
from appward.cli.output import print_json, print_more, print_table
from appward.cli.run import run
from appward.presenters import present_audit_event
from appward.services import Services


def audit(
    client_id: Annotated[str | None, typer.Option(help="Only this client's events.")] = None,
    actor: Annotated[str | None, typer.Option(help="Only this actor's events.")] = None,
    action: Annotated[str | None, typer.Option(help="Only this action, e.g. client:created")] = (
        None
    ),
    since: Annotated[str | None, typer.Option(help="ISO 8601 time, inclusive.")] = None,
    until: Annotated[str | None, typer.Option(help="ISO 8601 time, exclusive.")] = None,
    limit: Annotated[int, typer.Option(help="Page size.")] = 50,
    cursor: Annotated[str | None, typer.Option(help="Cursor from the previous page.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Search the audit log, newest first."""
    filters = AuditFilter(
        client_id, actor, action, parse_time(since, "--since"), parse_time(until, "--until")
    )

    async def work(services: Services) -> tuple[list[dict[str, Any]], str | None]:
        page = await services.audit.query(filters, cursor=cursor, limit=limit)
        return [present_audit_event(e) for e in page.items], page.next_cursor

    items, next_cursor = run(work)
    if as_json:
        print_json({"items": items, "next_cursor": next_cursor})
        return
    print_table(
        ["occurred_at", "actor", "action", "client_id", "target", "changes"],
        [
            [
                e["occurred_at"],
                e["actor"],
                e["action"],
                e["client_id"],
                e["target"],
                json.dumps(e["changes"]) if e["changes"] else None,
            ]
            for e in items
        ],
    )
    print_more(next_cursor)
