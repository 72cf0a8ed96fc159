"""audit.field_changes: an event's changes field by field, old values where recorded."""

from __future__ import annotations

from datetime import UTC, datetime

from appward.audit import AuditEvent, FieldChange, changed_value, field_changes


def _event(changes: dict[str, object]) -> AuditEvent:
    return AuditEvent(
        id=1,
        occurred_at=datetime(2026, 6, 1, tzinfo=UTC),
        actor="test",
        action="client:updated",
        changes=changes,
    )


def test_a_recorded_change_gives_its_old_and_new_value() -> None:
    event = _event({"client_name": changed_value("Old", "New"), "owner": changed_value(None, "t")})
    assert field_changes(event) == [
        FieldChange("client_name", "New", "Old", had_old=True),
        FieldChange("owner", "t", None, had_old=True),
    ]


def test_any_other_value_is_the_new_value_only() -> None:
    # A list or an object of another shape is a value, not an old/new pair.
    event = _event({"status": "disabled", "redirect_uris": ["a", "b"], "jwks": {"keys": []}})
    assert field_changes(event) == [
        FieldChange("status", "disabled"),
        FieldChange("redirect_uris", ["a", "b"]),
        FieldChange("jwks", {"keys": []}),
    ]


def test_an_event_without_changes_has_none() -> None:
    assert field_changes(_event({})) == []
