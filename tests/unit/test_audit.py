"""Reading the audit log: a search form's filters, and each event's changes by field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from appward.audit import AuditEvent, AuditFilter, FieldChange, field_changes, parse_audit_filter
from appward.errors import InvalidInput


def test_blank_fields_are_no_filter():
    assert parse_audit_filter(actor=" ", action="", client_id="", since="", until="") == (
        AuditFilter()
    )


def test_times_without_an_offset_are_utc_and_a_date_alone_until_is_its_end():
    parsed = parse_audit_filter(
        since="2026-03-01T10:30", until="2026-03-02", action="client:created"
    )
    assert parsed.since == datetime(2026, 3, 1, 10, 30, tzinfo=UTC)
    assert parsed.until == datetime(2026, 3, 3, tzinfo=UTC)
    assert parsed.action == "client:created"
    offset = parse_audit_filter(since="2026-03-01T10:30+02:00").since
    assert offset == datetime(2026, 3, 1, 10, 30, tzinfo=timezone(timedelta(hours=2)))


def test_every_bad_field_is_named_at_once():
    with pytest.raises(InvalidInput) as refused:
        parse_audit_filter(action="nope", since="soon", until="1900-01-01", actor="a" * 201)
    assert [f.field for f in refused.value.fields] == ["actor", "action", "since", "until"]


def _event(action: str, changes: dict) -> AuditEvent:
    return AuditEvent(action=action, changes=changes)


def test_paired_fields_show_old_and_new_and_the_others_what_they_became():
    event = _event(
        "account:updated",
        {"sub": "abc", "email": ["a@x.org", "b@x.org"], "email_verified": [True, False]},
    )
    assert field_changes(event) == [
        FieldChange("sub", "abc"),
        FieldChange("email", "b@x.org", "a@x.org", had_old=True),
        FieldChange("email_verified", False, True, had_old=True),
    ]
    # A client's two grant types are its new value, not a change from one to the other.
    created = _event("client:updated", {"grant_types": ["authorization_code", "refresh_token"]})
    assert field_changes(created) == [
        FieldChange("grant_types", ["authorization_code", "refresh_token"])
    ]
