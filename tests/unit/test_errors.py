"""errors.safe_description: error_description within RFC 6749 §5.2's character set."""

from __future__ import annotations

import re

import pytest

from appward.errors import safe_description

ALLOWED = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]*")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("grant_type 'x' is not supported", "grant_type 'x' is not supported"),
        ('a"b', "a%22b"),
        ("a\\b", "a%5Cb"),
        ("line\nbreak\ttab\r", "line%0Abreak%09tab%0D"),
        ("café", "caf%C3%A9"),
        ("\x7f\x00", "%7F%00"),
        ("lone \ud800 surrogate", "lone %ED%A0%80 surrogate"),
        ("(RFC 6749 §3.3)", "(RFC 6749 section 3.3)"),
        ("100% sure", "100% sure"),
    ],
)
def test_characters_outside_the_set_are_replaced(text: str, expected: str) -> None:
    """RFC 6749 §5.2: error_description only holds %x20-21 / %x23-5B / %x5D-7E."""
    assert safe_description(text) == expected
    assert ALLOWED.fullmatch(safe_description(text))


def test_every_character_comes_out_within_the_set() -> None:
    everything = "".join(chr(c) for c in range(0x2FF))
    assert ALLOWED.fullmatch(safe_description(everything))
