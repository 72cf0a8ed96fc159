"""Zero-downtime secret rotation under load across two instances (issue 12): continuous
client_credentials load on both, with the old secret, then half on a new one, then all of
it; the old secret revoked meanwhile. Every request made with a then-valid secret
succeeds, and the old one is refused on every instance within a second of its
revocation. bench/rotation_under_load.py runs the same for longer and prints the counts."""

from __future__ import annotations

import contextlib
from pathlib import Path

import httpx
import pytest

from appward.config import Settings
from tests.e2e.test_assertion_replay import admin_token
from tests.e2e.test_two_instances import two_instances
from tests.factories import SERVICE
from tests.rotation_load import Rotation

pytestmark = pytest.mark.e2e

WITHIN = 1.0  # seconds


def test_rotation_under_load_loses_no_request_and_revokes_everywhere_within_a_second(
    settings: Settings, workdir: Path
) -> None:
    if settings.database_url.startswith("sqlite"):
        pytest.skip("instances on several hosts share PostgreSQL (one host: test_two_instances)")
    with contextlib.ExitStack() as stack:
        base_a, base_b, admin = stack.enter_context(two_instances(settings, workdir))
        a = stack.enter_context(httpx.Client(base_url=base_a, timeout=10.0))
        auth = admin_token(a, admin)
        created = a.post("/admin/v1/clients", json=SERVICE, headers=auth)
        assert created.status_code == 201, created.text
        rotation = Rotation(
            instances={"a": base_a, "b": base_b},
            admin_headers=auth,
            client_id=created.json()["client_id"],
            old_secret=created.json()["client_secret"],
            threads=4,
            phase_seconds=1.5,
        )
        report = rotation.run()
    print("\n".join(report.lines()))  # shown with -s, and on failure
    assert report.failures == 0, report.lines()
    for phase in ("old", "half", "new"):
        assert report.total(phase) > 0, report.lines()
    # Both secrets were used on both instances while both were valid.
    assert {(s, i) for (p, s, i, _st) in report.answers if p == "half"} == {
        (s, i) for s in ("old", "new") for i in ("a", "b")
    }
    assert set(report.refused_after) == {"a", "b"}
    assert max(report.refused_after.values()) < WITHIN, report.lines()
