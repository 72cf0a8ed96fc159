"""The account rules that need no database: roles, e-mail addresses, public ids."""

from __future__ import annotations

import pytest

from appward.errors import InvalidInput
from appward.users.models import Role
from appward.users.service import PUBLIC_ID, check_email, new_public_id, parse_role


@pytest.mark.parametrize(
    ("value", "role"),
    [("admin", Role.ADMIN), ("developer", Role.DEVELOPER), ("none", None), (None, None)],
)
def test_parse_role_knows_the_roles_and_none(value, role):
    assert parse_role(value) is role


@pytest.mark.parametrize("value", ["Admin", "root", "", "owner", "none "])
def test_parse_role_refuses_anything_else_naming_the_choices(value):
    with pytest.raises(InvalidInput) as refused:
        parse_role(value)
    assert refused.value.fields[0].field == "role"
    assert "admin, developer, none" in refused.value.description


@pytest.mark.parametrize(
    ("value", "stored"),
    [("a@example.com", "a@example.com"), ("Alice@EXAMPLE.com", "Alice@example.com")],
)
def test_check_email_keeps_the_local_part_and_lowers_the_domain(value, stored):
    assert check_email(value) == stored


@pytest.mark.parametrize(
    "value",
    ["", "plain", "a@b", "a b@example.com", "@example.com", "ü@example.com", "a" * 250 + "@x.com"],
)
def test_check_email_refuses_what_is_no_address(value):
    with pytest.raises(InvalidInput) as refused:
        check_email(value)
    assert refused.value.fields[0].field == "email"


def test_public_ids_are_random_22_characters_and_never_digits_only():
    ids = {new_public_id() for _ in range(200)}
    assert len(ids) == 200
    assert all(PUBLIC_ID.fullmatch(i) for i in ids)


def test_deleting_from_a_page_needs_the_username_typed():
    from appward.users.models import User
    from appward.users.service import check_deletion_confirmed

    user = User(username="Alice")
    check_deletion_confirmed(user, "alice")
    check_deletion_confirmed(user, " Alice ")
    for typed in ("", "alic", "bob"):
        with pytest.raises(InvalidInput) as refused:
            check_deletion_confirmed(user, typed)
        assert refused.value.fields[0].field == "confirm_username"
