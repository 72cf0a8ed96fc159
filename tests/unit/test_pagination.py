"""Opaque cursors and page limits."""

from __future__ import annotations

import base64
import dataclasses
import re

import pytest

from appward.errors import FieldError, InvalidInput
from appward.pagination import MAX_LIMIT, Page, check_limit, decode_cursor, encode_cursor

# The largest key a SQL BIGINT / SQLite INTEGER primary key can hold.
MAX_KEY = 2**31 - 1  # the largest 32-bit key (PostgreSQL integer)


def b64(raw: bytes | str) -> str:
    data = raw.encode() if isinstance(raw, str) else raw
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


@pytest.mark.parametrize("key", [0, 1, 7, 42, 1000, 2**30, MAX_KEY])
def test_cursor_round_trips_its_key(key):
    assert decode_cursor(encode_cursor(key)) == key


@pytest.mark.parametrize("key", [0, 1, 12345, MAX_KEY])
def test_cursor_is_url_safe_and_unpadded(key):
    assert re.fullmatch(r"[A-Za-z0-9_-]+", encode_cursor(key))


def test_cursors_of_different_keys_differ():
    assert len({encode_cursor(k) for k in range(100)}) == 100


@pytest.mark.parametrize("cursor", [None, ""])
def test_no_cursor_means_the_first_page(cursor):
    assert decode_cursor(cursor) is None


@pytest.mark.parametrize(
    "cursor",
    [
        "a",
        "!!!!",
        "not a cursor",
        b64("foo"),
        b64("k"),
        b64("k:"),
        b64("k:-1"),
        b64("k:+1"),
        b64("k:1.5"),
        b64("k:1e3"),
        b64("k: 1"),
        b64("k:1 "),
        b64("k:0x10"),
        b64("x:1"),
        b64("K:1"),
        b64(":1"),
        b64(b"k:\xff\xfe"),
        b64("k:²"),
        b64("k:" + "9" * 5000),
    ],
    ids=lambda c: c if c is None or len(c) < 20 else c[:20] + "...",
)
def test_forged_cursors_are_refused(cursor):
    with pytest.raises(InvalidInput) as info:
        decode_cursor(cursor)
    assert info.value.error == "invalid_input"
    assert info.value.status_code == 400
    assert info.value.fields == [FieldError("cursor", "malformed cursor")]


def test_cursor_beyond_the_largest_key_is_refused():
    with pytest.raises(InvalidInput):
        decode_cursor(b64(f"k:{MAX_KEY + 1}"))


@pytest.mark.parametrize("limit", [1, 2, 50, MAX_LIMIT])
def test_limits_within_bounds_are_accepted(limit):
    check_limit(limit)


@pytest.mark.parametrize("limit", [0, -1, MAX_LIMIT + 1, 10**9])
def test_limits_out_of_bounds_are_refused(limit):
    with pytest.raises(InvalidInput) as info:
        check_limit(limit)
    assert info.value.error == "invalid_input"
    assert info.value.fields == [FieldError("limit", f"must be between 1 and {MAX_LIMIT}")]


def test_max_limit_is_200():
    assert MAX_LIMIT == 200


def test_page_is_immutable():
    page = Page(items=[1, 2], next_cursor=encode_cursor(2))
    with pytest.raises(dataclasses.FrozenInstanceError):
        page.next_cursor = None  # type: ignore[misc]
