"""Choosing a client's display name from Accept-Language."""

from __future__ import annotations

import pytest

from appward.clients.models import Client
from appward.web.templates import preferred_languages


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("", []),
        ("fr", ["fr"]),
        ("fr-CA, fr;q=0.8, en;q=0.5", ["fr-CA", "fr", "en"]),
        ("en;q=0.5, de", ["de", "en"]),
        ("*, en;q=0", []),
        ("de;q=abc, it", ["it"]),
        (",,;q=1, es", ["es"]),
    ],
)
def test_preferred_languages(header, expected):
    assert preferred_languages(header) == expected


def test_preferred_languages_reads_a_bounded_number_of_entries():
    assert len(preferred_languages(",".join(f"l{i}" for i in range(1000)))) == 10


def client(**fields) -> Client:
    return Client(client_id="c1", **fields)


def test_display_name_prefers_exact_then_primary_subtag_then_default():
    named = client(client_name="Default", client_name_localized={"fr": "Français", "pt-BR": "Br"})
    assert named.display_name(["pt-BR"]) == "Br"
    assert named.display_name(["pt-PT"]) == "Br"
    assert named.display_name(["FR-ca"]) == "Français"
    assert named.display_name(["ja", "fr"]) == "Français"
    assert named.display_name(["ja"]) == "Default"
    assert client().display_name(["fr"]) == "c1"
