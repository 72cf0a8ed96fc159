"""clients/approval.py: which clients wait for review, and what a rejection must say."""

from __future__ import annotations

import pytest

from appward.clients.approval import check_rejection_reason, initial_approval, needs_approval
from appward.errors import InvalidInput


@pytest.mark.parametrize(
    ("source", "sensitive", "expected"),
    [
        ("portal", ["payments"], "pending"),
        ("portal", [], "approved"),
        ("admin", ["payments"], "approved"),
        ("dcr", ["payments"], "approved"),
    ],
)
def test_only_portal_clients_asking_for_a_sensitive_scope_start_pending(
    source: str, sensitive: list[str], expected: str
) -> None:
    assert initial_approval(source, sensitive) == expected
    assert needs_approval(source, sensitive) is (expected == "pending")


def test_a_reason_is_kept_stripped() -> None:
    assert check_rejection_reason("  No privacy policy ") == "No privacy policy"


@pytest.mark.parametrize("reason", [None, 3, "", "   ", "x" * 501, "bad\x00byte", "\u202eevil"])
def test_a_reason_must_say_something_printable(reason: object) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_rejection_reason(reason)
    assert caught.value.fields[0].field == "reason"
