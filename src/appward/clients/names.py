"""Deceptive client names: a name that mixes scripts so as to look like another (U+0435
CYRILLIC SMALL LETTER IE for the "e" of "Weather Widget"), per Unicode TR39's mixed-script
and confusable detection.

The confusable data (TR39's confusables.txt and the script of each character) comes from
``confusable_homoglyphs``. A name is deceptive when it mixes scripts in a way TR39 §5.2's
"highly restrictive" level does not allow AND some of its characters have look-alikes in
another script. One script is always honest (a fully Cyrillic or Greek name), and so are
the mixes a language writes with: Japanese (Han, Hiragana, Katakana, with Latin), Chinese
(Han, Bopomofo, Latin) and Korean (Han, Hangul, Latin).
"""

from __future__ import annotations

from confusable_homoglyphs import categories, confusables

# Characters of any script (digits, punctuation, spaces, combining marks).
_NEUTRAL = frozenset({"COMMON", "INHERITED"})
# TR39 §5.2 highly restrictive: one script, or one of these sets (each with Latin).
_ALLOWED_MIXES = (
    frozenset({"LATIN", "HAN", "HIRAGANA", "KATAKANA"}),
    frozenset({"LATIN", "HAN", "BOPOMOFO"}),
    frozenset({"LATIN", "HAN", "HANGUL"}),
)


def scripts_of(name: str) -> frozenset[str]:
    """Returns the scripts of ``name``'s characters, those of every script left out."""
    return frozenset(categories.alias(char) for char in name) - _NEUTRAL


def is_deceptive_name(name: str | None) -> bool:
    """Returns whether ``name`` mixes scripts beyond what TR39's highly restrictive level
    allows and holds a character confusable with one of another script."""
    if not name:
        return False
    scripts = scripts_of(name)
    if len(scripts) <= 1 or any(scripts <= allowed for allowed in _ALLOWED_MIXES):
        return False
    return bool(confusables.is_dangerous(name))


def name_warning(name: str | None) -> str | None:
    """Returns the warning to show beside a deceptive name, or None for an honest one."""
    if not is_deceptive_name(name):
        return None
    mixed = ", ".join(sorted(script.title() for script in scripts_of(name or "")))
    return (
        f"the name mixes scripts ({mixed}) with look-alike characters: it may imitate "
        "another application's name"
    )


def client_name_warning(name: str | None, localized: dict[str, str] | None) -> str | None:
    """Returns the warning for the first deceptive one of a client's names (the default
    name, then each localized one), or None when all are honest."""
    for candidate in (name, *(localized or {}).values()):
        warning = name_warning(candidate)
        if warning is not None:
            return warning
    return None
