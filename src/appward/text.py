"""What text Appward stores or compares: the same rule for every free-text input.

PostgreSQL text cannot hold NUL and UTF-8 cannot hold lone surrogates; control, format
and separator characters (U+202E, zero-width joiners, ...) let a name on a consent page
read as something it is not.
"""

from __future__ import annotations

import unicodedata

UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def unsafe_character(value: str) -> str | None:
    """Returns a description of the first character ``value`` must not contain, or None."""
    for char in value:
        if unicodedata.category(char) in UNSAFE_CATEGORIES:
            return f"U+{ord(char):04X}"
    return None


def storable(value: str) -> bool:
    """Returns whether a database can store ``value`` as text (no NUL, valid UTF-8)."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
