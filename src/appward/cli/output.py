"""What commands print: tables for people, and for scripts (--json) the admin API's shape of
each resource, from appward.presenters."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import typer
from pydantic_core import to_jsonable_python

from appward.clients.auth_methods import secret_is_encrypted, uses_secret
from appward.clients.models import Client
from appward.clients.secret_encryption import secret_storage
from appward.clients.service import ClientChange, metadata_of
from appward.presenters import present_client_change

SHOWN_ONCE = "  (shown once: store it now; only its hash is kept)"
# client_secret_jwt: the server keeps the secret encrypted (it needs it for the HMAC), but
# never shows it again.
SHOWN_ONCE_ENCRYPTED = "  (shown once: store it now; it is kept encrypted, never shown again)"


def print_json(value: Any) -> None:
    """Prints a presented resource as the admin API would send it (datetimes in ISO 8601)."""
    typer.echo(json.dumps(to_jsonable_python(value), indent=2))


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


def print_change(change: ClientChange, as_json: bool) -> None:
    """Prints a created or changed client, with the secret it was issued if any."""
    secret = change.secret
    if as_json:
        body = present_client_change(change)
        if secret is not None:
            body["client_secret"] = secret.plaintext
        print_json(body)
        return
    print_client(change.client)
    if secret is not None:
        typer.echo(f"client_secret: {secret.plaintext}")
        encrypted = secret_is_encrypted(change.client.token_endpoint_auth_method)
        typer.echo(SHOWN_ONCE_ENCRYPTED if encrypted else SHOWN_ONCE)


def print_client(client: Client) -> None:
    typer.echo(f"client_id: {client.client_id}")
    for key in (
        "status",
        "approval",
        "rejection_reason",
        "verified",
        "may_introspect_others",
        "registration_source",
        "owner",
        "revision",
    ):
        typer.echo(f"{key}: {cell(getattr(client, key))}")
    method = client.token_endpoint_auth_method
    typer.echo(f"secret_storage: {secret_storage(method) if uses_secret(method) else '-'}")
    for key, value in metadata_of(client).items():
        typer.echo(f"{key}: {cell(value) if not isinstance(value, dict) else json.dumps(value)}")
