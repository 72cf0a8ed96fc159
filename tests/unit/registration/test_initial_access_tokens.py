"""The initial access token request: validated with errors that name its own fields."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from appward.errors import FieldError, InvalidInput
from appward.registration.initial_access_tokens import (
    InitialAccessTokenRequest,
    parse_initial_access_token_request,
    token_state,
)
from appward.registration.models import InitialAccessToken


def test_a_full_request_is_accepted():
    request = parse_initial_access_token_request(
        {
            "label": "partner",
            "expires_in": 60,
            "max_uses": 2,
            "grant_types": ["client_credentials"],
            "scopes": ["api:read"],
        }
    )
    assert request == InitialAccessTokenRequest(
        label="partner",
        expires_in=60,
        max_uses=2,
        grant_types=["client_credentials"],
        scopes=["api:read"],
    )


def test_an_unknown_field_is_named_as_no_initial_access_token_field():
    with pytest.raises(InvalidInput) as refused:
        parse_initial_access_token_request({"label": "x", "redirect_uris": []})
    assert refused.value.fields == [
        FieldError("redirect_uris", "is not a known initial access token field")
    ]
    assert "client metadata" not in refused.value.description


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"max_uses": "2"}, "max_uses"),
        ({"expires_in": 1.5}, "expires_in"),
        ({"label": "x" * 101}, "label"),
        ({"scopes": "api:read"}, "scopes"),
        ({"grant_types": [1]}, "grant_types[0]"),
    ],
)
def test_a_bad_value_is_named_by_its_field(body: dict[str, Any], field: str):
    with pytest.raises(InvalidInput) as refused:
        parse_initial_access_token_request(body)
    assert [f.field for f in refused.value.fields] == [field]
    assert refused.value.fields[0].message != "is not a known initial access token field"


NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("fields", "state"),
    [
        ({}, "active"),
        ({"max_uses": 2, "uses": 1, "expires_at": NOW + timedelta(seconds=1)}, "active"),
        ({"max_uses": 2, "uses": 2}, "used up"),
        ({"expires_at": NOW}, "expired"),
        ({"expires_at": NOW, "max_uses": 1, "uses": 1}, "expired"),
        ({"revoked_at": NOW, "expires_at": NOW}, "revoked"),
    ],
)
def test_a_tokens_state_says_why_it_no_longer_registers(fields: dict[str, Any], state: str):
    record = InitialAccessToken(
        **{"uses": 0, "max_uses": None, "expires_at": None, "revoked_at": None, **fields}
    )
    assert token_state(record, NOW) == state
