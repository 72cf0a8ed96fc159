"""What commands read besides their plain options: --json, --set assignments, JSON files,
times; a bad one ends the command in one line."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from appward.cli.run import fail

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
# One --set for create and update, read by one parser (parse_assignments).
SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        help="field=value for any metadata field (repeat; JSON values allowed: "
        "'contacts=[\"ops@example.com\"]'); on update, field=null resets.",
    ),
]


def read_json_file(path: str) -> dict[str, Any]:
    """Returns the JSON object in ``path`` (``-``: standard input)."""
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text()
        data = json.loads(text)
    except (OSError, ValueError) as exc:
        fail(f"cannot read JSON from {path}: {exc}")
    if not isinstance(data, dict):
        fail(f"{path} must hold a JSON object of client metadata")
    return dict(data)


def parse_assignments(assignments: list[str]) -> dict[str, Any]:
    """Reads ``field=value`` pairs; a value that parses as JSON is taken as JSON."""
    data: dict[str, Any] = {}
    for item in assignments:
        name, eq, raw = item.partition("=")
        if not eq or not name:
            fail(f"--set takes field=value, got {item!r}")
        try:
            data[name] = json.loads(raw)
        except ValueError:
            data[name] = raw
    return data


def parse_time(value: str | None, option: str) -> datetime | None:
    """Returns the ISO 8601 time ``value`` (UTC when it names no offset)."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        fail(f"{option} must be an ISO 8601 time, such as 2026-01-31T12:00:00Z")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
