"""clients/names.py: names that mix scripts to imitate another (Unicode TR39), and honest
names in any script."""

from __future__ import annotations

import pytest

from appward.clients.names import client_name_warning, is_deceptive_name

DECEPTIVE = [
    "W\u0435ather Widget",  # Cyrillic small ie (U+0435) for e
    "G\u043e\u043egle Drive",  # Cyrillic small o, twice
    "\u0420\u0430\u0443\u0440\u0430l",  # Cyrillic look-alikes + Latin l: "PayPal"
    "\u13aapple",  # Cherokee letter go (U+13AA) for A
    "Micr\u03bfsoft",  # Greek omicron for o
]
HONEST = [
    "Weather Widget",
    "Caf\u00e9 Ol\u00e9",  # Latin with accents
    "\u041f\u043e\u0433\u043e\u0434\u0430",  # Погода: all Cyrillic
    "\u0395\u03bb\u03bb\u03b7\u03bd\u03b9\u03ba\u03ac",  # Ελληνικά: all Greek
    "\u5929\u6c17\u30a6\u30a3\u30b8\u30a7\u30c3\u30c8",  # 天気ウィジェット: Japanese
    "\u304a\u5929\u6c17 Maps",  # Japanese with Latin
    "\ub0a0\uc528 \uc571",  # 날씨 앱: Korean
    "\u5929\u6c14 \u3105 App",  # Chinese with Bopomofo and Latin
    "App 2.0 (beta) - v3",
    "",
    None,
]


@pytest.mark.parametrize("name", DECEPTIVE)
def test_mixed_script_look_alikes_are_deceptive(name: str) -> None:
    assert is_deceptive_name(name)
    assert client_name_warning(name, None) is not None


@pytest.mark.parametrize("name", HONEST)
def test_honest_names_in_any_script_are_not(name: str | None) -> None:
    assert not is_deceptive_name(name)
    assert client_name_warning(name, None) is None


def test_a_deceptive_localized_name_is_flagged_too() -> None:
    warning = client_name_warning(
        "Weather Widget", {"ru": "\u041f\u043e\u0433\u043e\u0434\u0430", "en-GB": DECEPTIVE[0]}
    )
    assert warning is not None
    assert "Cyrillic" in warning
    assert "Latin" in warning
