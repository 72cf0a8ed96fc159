"""users.signup's checks of a sign-up form: every bad field named at once."""

from __future__ import annotations

import pytest

from appward.errors import InvalidInput
from appward.users.signup import check_fields

PASSWORD = "correct horse battery"


def test_a_good_form_passes():
    check_fields("dora", PASSWORD, "dora@example.com")
    check_fields("dora", PASSWORD, None)  # invited: the invitation's address


def test_every_bad_field_is_named_at_once():
    with pytest.raises(InvalidInput) as refused:
        check_fields("bad name", "short", "nope")
    assert sorted(f.field for f in refused.value.fields) == ["email", "password", "username"]


@pytest.mark.parametrize("email", ["", " ", "a@b", "x" * 250 + "@example.com"])
def test_bad_addresses(email):
    with pytest.raises(InvalidInput) as refused:
        check_fields("dora", PASSWORD, email)
    assert [f.field for f in refused.value.fields] == ["email"]
