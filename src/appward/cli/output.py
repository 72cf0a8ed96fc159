"""What commands print: tables for people, JSON (--json) for scripts, and the shape of each
resource in that JSON."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import typer

from appward.audit import AuditEvent
from appward.clients.models import Client, ClientSecret
from appward.clients.scopes import Scope
from appward.clients.service import ClientChange, metadata_of
from appward.clock import SystemClock
from appward.users.models import User

SHOWN_ONCE = "  (shown once: store it now; only its hash is kept)"


def print_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, default=_json_default))


def _json_default(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(type(value).__name__)


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    cells = [[cell(v) for v in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    typer.echo("  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True)))
    for row in cells:
        typer.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def print_more(next_cursor: str | None) -> None:
    """Tells how to ask for the next page, if there is one."""
    if next_cursor:
        typer.echo(f"more: --cursor {next_cursor}")


def cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, list):
        return ",".join(str(v) for v in value) or "-"
    return str(value)


# The resources' JSON shapes. The admin API has its own; both should come from one
# presenter per resource (issue 9): these are what the CLI prints until then.


def client_json(client: Client) -> dict[str, Any]:
    return {
        "client_id": client.client_id,
        "status": client.status,
        "registration_source": client.registration_source,
        "owner": client.owner,
        "created_at": client.created_at,
        "updated_at": client.updated_at,
        "revision": client.revision,
        "metadata": metadata_of(client),
    }


def secret_json(secret: ClientSecret) -> dict[str, Any]:
    now = SystemClock().now()
    return {
        "id": secret.id,
        "label": secret.label,
        "created_at": secret.created_at,
        "expires_at": secret.expires_at,
        "revoked_at": secret.revoked_at,
        "last_used_at": secret.last_used_at,
        "usable": secret.is_usable(now),
    }


def scope_json(scope: Scope) -> dict[str, Any]:
    return {
        "name": scope.name,
        "description": scope.description,
        "admin_only": scope.admin_only,
        "created_at": scope.created_at,
        "updated_at": scope.updated_at,
    }


def user_json(user: User) -> dict[str, Any]:
    return {"id": user.id, "username": user.username, "created_at": user.created_at}


def event_json(event: AuditEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "occurred_at": event.occurred_at,
        "actor": event.actor,
        "action": event.action,
        "client_id": event.client_id,
        "target": event.target,
        "changes": event.changes,
        "source_ip": event.source_ip,
    }


def print_change(change: ClientChange, as_json: bool) -> None:
    """Prints a created or changed client, with the secret it was issued if any."""
    secret = change.secret
    if as_json:
        body = client_json(change.client)
        if secret is not None:
            body["client_secret"] = secret.plaintext
            body["client_secret_id"] = secret.record.id
        print_json(body)
        return
    print_client(change.client)
    if secret is not None:
        typer.echo(f"client_secret: {secret.plaintext}")
        typer.echo(SHOWN_ONCE)


def print_client(client: Client) -> None:
    typer.echo(f"client_id: {client.client_id}")
    for key in ("status", "registration_source", "owner", "revision"):
        typer.echo(f"{key}: {cell(getattr(client, key))}")
    for key, value in metadata_of(client).items():
        typer.echo(f"{key}: {cell(value) if not isinstance(value, dict) else json.dumps(value)}")
