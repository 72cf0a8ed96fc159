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


def encode_text_cursor(last_text: str, last_key: int) -> str:
    """Returns a cursor after the row (``last_text``, ``last_key``) of a list sorted by a
    text column, the key breaking ties."""
    text = base64.urlsafe_b64encode(last_text.encode()).decode()
    return base64.urlsafe_b64encode(f"t:{last_key}:{text}".encode()).decode().rstrip("=")


def decode_text_cursor(cursor: str | None) -> tuple[str, int] | None:
    """Returns the (text, key) after which the next page of a text-sorted list starts.
    Raises InvalidInput if forged, or a cursor of another sort."""
    if cursor is None or cursor == "":
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, key, text = raw.split(":", 2)
        if prefix != "t" or not key.isascii() or not key.isdigit() or int(key) >= MAX_KEY:
            raise ValueError(raw)
        return base64.urlsafe_b64decode(text.encode()).decode(), int(key)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidInput(
            "cursor is not one this server handed out for this sort",
            fields=[FieldError("cursor", "malformed cursor")],
        ) from None
