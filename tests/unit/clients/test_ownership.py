"""clients.ownership's pure rules: which accounts may co-own an app, and the roles."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from appward.clients.ownership import OwnerRole, check_can_own, parse_owner_role
from appward.errors import InvalidInput
from appward.users.models import User

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def _user(**changes: object) -> User:
    fields: dict[str, object] = {
        "public_id": "p" * 22,
        "username": "dev",
        "password_hash": "x",
        "role": "developer",
        "email": "dev@example.com",
        "email_verified_at": NOW,
        "created_at": NOW,
        "disabled_at": None,
        **changes,
    }
    return User(**fields)


def test_an_active_verified_developer_may_own():
    user = _user()
    assert check_can_own(user) is user


@pytest.mark.parametrize(
    "changes",
    [
        {"role": None},
        {"role": "admin"},
        {"email_verified_at": None},
        {"disabled_at": NOW},
    ],
)
def test_others_may_not_and_the_message_names_the_address(changes):
    with pytest.raises(InvalidInput) as refused:
        check_can_own(_user(**changes))
    assert [f.field for f in refused.value.fields] == ["email"]


def test_no_account_may_not_own():
    with pytest.raises(InvalidInput):
        check_can_own(None)


@pytest.mark.parametrize(
    ("value", "role"), [("owner", OwnerRole.OWNER), ("viewer", OwnerRole.VIEWER)]
)
def test_roles_parse(value, role):
    assert parse_owner_role(value) is role


@pytest.mark.parametrize("value", ["", "Owner", "admin", None, 1])
def test_other_roles_are_refused_on_the_role_field(value):
    with pytest.raises(InvalidInput) as refused:
        parse_owner_role(value)
    assert [f.field for f in refused.value.fields] == ["role"]
