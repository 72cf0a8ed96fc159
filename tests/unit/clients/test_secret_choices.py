"""What a "new secret" form may choose (clients/secrets.py): the expiry presets, a date of
one's own, the grace period for the other secrets; the 14-day warning and the 24-hour
recent use that the console and the portal show."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from appward.clients.secrets import (
    EXPIRY_CHOICES,
    NewSecretChoice,
    check_secret_expiry,
    expires_soon,
    read_new_secret_choice,
    time_since,
    used_recently,
)
from appward.errors import InvalidInput
from appward.tokens.preview import previews_for_a_user, previews_own_token

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def choose(**form: str | None) -> NewSecretChoice:
    fields: dict[str, str | None] = {
        "expiry": "never",
        "expiry_date": None,
        "others": "keep",
        "grace_days": None,
        **form,
    }
    return read_new_secret_choice(now=NOW, **fields)  # type: ignore[arg-type]


def test_the_choices_are_the_presets_a_date_and_never():
    assert EXPIRY_CHOICES == ("30", "60", "90", "180", "custom", "never")


@pytest.mark.parametrize("days", [30, 60, 90, 180])
def test_a_preset_expires_that_many_days_from_now(days):
    assert choose(expiry=str(days)).expires_at == NOW + timedelta(days=days)


def test_never_means_no_expiry_and_keep_means_no_grace():
    assert choose() == NewSecretChoice(expires_at=None, expire_others_in=None)


def test_a_custom_date_expires_at_its_start_in_utc():
    chosen = choose(expiry="custom", expiry_date="2026-12-24")
    assert chosen.expires_at == datetime(2026, 12, 24, tzinfo=UTC)


def test_a_grace_period_is_given_in_days_and_kept_in_seconds():
    assert choose(others="grace", grace_days="7").expire_others_in == 7 * 86400
    assert choose(others="grace", grace_days="0").expire_others_in == 0


def test_every_bad_field_is_named_at_once():
    with pytest.raises(InvalidInput) as raised:
        choose(expiry="custom", expiry_date="tomorrow", others="grace", grace_days="٣")
    assert [p.field for p in raised.value.fields] == ["expiry_date", "grace_days"]


@pytest.mark.parametrize(
    ("expires_at", "allowed"),
    [
        (None, True),
        (NOW + timedelta(seconds=1), True),
        (NOW + timedelta(days=5 * 366), True),
        (NOW, False),
        (NOW - timedelta(days=1), False),
        (NOW + timedelta(days=5 * 366, seconds=1), False),
    ],
)
def test_a_new_secrets_expiry_is_in_the_future_and_within_five_years(expires_at, allowed):
    if allowed:
        check_secret_expiry(expires_at, NOW)
    else:
        with pytest.raises(InvalidInput) as raised:
            check_secret_expiry(expires_at, NOW)
        assert raised.value.fields[0].field == "expires_at"


@pytest.mark.parametrize(
    ("expires_at", "soon"),
    [
        (None, False),
        (NOW + timedelta(days=14, seconds=1), False),
        (NOW + timedelta(days=14), True),
        (NOW + timedelta(minutes=1), True),
        (NOW, False),  # expired: not "soon" any more
        (NOW - timedelta(days=1), False),
    ],
)
def test_an_expiry_within_14_days_is_soon(expires_at, soon):
    assert expires_soon(expires_at, NOW) is soon


@pytest.mark.parametrize(
    ("last_used_at", "recent"),
    [
        (None, False),
        (NOW - timedelta(hours=24), False),
        (NOW - timedelta(hours=23, minutes=59), True),
        (NOW, True),
    ],
)
def test_a_use_within_24_hours_is_recent(last_used_at, recent):
    assert used_recently(last_used_at, NOW) is recent


def test_time_since_counts_hours_and_minutes():
    assert time_since(NOW - timedelta(hours=26, minutes=5, seconds=59), NOW) == "26 h 5 min"
    assert time_since(NOW + timedelta(minutes=1), NOW) == "0 h 0 min"


@pytest.mark.parametrize(
    ("grant_types", "own", "for_a_user"),
    [
        (["client_credentials"], True, False),
        (["authorization_code", "refresh_token"], False, True),
        (["authorization_code", "client_credentials"], True, True),
    ],
)
def test_which_tokens_a_preview_can_show(grant_types, own, for_a_user):
    assert previews_own_token(grant_types) is own
    assert previews_for_a_user(grant_types) is for_a_user
