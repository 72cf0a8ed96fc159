"""Cursor pagination: opaque cursors over a table's increasing integer key."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Generic, TypeVar

from appward.errors import FieldError, InvalidInput

T = TypeVar("T")

MAX_LIMIT = 200
MAX_KEY = 2**31  # keys are 32-bit integers on PostgreSQL


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


def encode_cursor(last_key: int) -> str:
    return base64.urlsafe_b64encode(f"k:{last_key}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int | None:
    """Returns the key after which the next page starts. Raises InvalidInput if forged."""
    if cursor is None or cursor == "":
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, key = raw.partition(":")
        if prefix != "k" or not key.isascii() or not key.isdigit() or int(key) >= MAX_KEY:
            raise ValueError(raw)
        return int(key)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidInput(
            "cursor is not one this server handed out",
            fields=[FieldError("cursor", "malformed cursor")],
        ) from None


def check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(
            f"limit must be between 1 and {MAX_LIMIT}",
            fields=[FieldError("limit", f"must be between 1 and {MAX_LIMIT}")],
        )
