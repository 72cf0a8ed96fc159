"""Two real server processes (two workers each) on one database, with data dirs of their
own, so that only Redis joins them, as two hosts would be joined: a change made through
one is in force on the other within a second (issue 12, "Several instances"). The jti
shared through Redis is tests/e2e/test_assertion_replay.py's."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from appward.config import Settings
from tests.conftest import settings_env
from tests.e2e.conftest import appward, environment, serving
from tests.e2e.test_assertion_replay import admin_token
from tests.factories import SERVICE
from tests.functional.conftest import REDIS_URL
from tests.functional.test_sessions import reachable_redis

pytestmark = pytest.mark.e2e

WITHIN = 1.0  # seconds
# Requests in a row that must all agree: each lands on either worker of the process.
IN_A_ROW = 6


def token(http: httpx.Client, client_id: str, secret: str) -> httpx.Response:
    return http.post(
        "/oauth2/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)
    )


def seconds_until(check: Callable[[], bool], limit: float = 15.0) -> float:
    """How long until ``check`` first holds; then it must hold IN_A_ROW times more, so
    that whichever worker answers agrees (not timed: each call is a request)."""
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < limit, "never took effect"
        time.sleep(0.02)
    took = time.monotonic() - started
    assert all(check() for _ in range(IN_A_ROW))
    return took


def refused(http: httpx.Client, client_id: str, secret: str) -> Callable[[], bool]:
    return lambda: token(http, client_id, secret).status_code == 401


@contextlib.contextmanager
def two_instances(settings: Settings, workdir: Path) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """Two servers on the database of ``settings``, data dirs of their own, joined by
    Redis only (as two hosts). Yields both base URLs and the bootstrap admin."""
    url = reachable_redis()
    assert url == REDIS_URL
    other = workdir / "b"
    other.mkdir()
    shared = {"APPWARD_REDIS_URL": url}
    with (
        serving(settings, workdir, shared) as (base_a, admin),
        serving(settings, other, {**shared, "APPWARD_DATA_DIR": str(other / "var")}) as (base_b, _),
    ):
        yield base_a, base_b, admin


def test_a_change_on_one_instance_is_in_force_on_the_other_within_a_second(
    settings: Settings, workdir: Path
) -> None:
    with contextlib.ExitStack() as stack:
        base_a, base_b, admin = stack.enter_context(two_instances(settings, workdir))
        shared = {"APPWARD_REDIS_URL": REDIS_URL}
        a = stack.enter_context(httpx.Client(base_url=base_a, timeout=10.0))
        b = stack.enter_context(httpx.Client(base_url=base_b, timeout=10.0))
        auth = admin_token(a, admin)

        def new_client() -> dict[str, Any]:
            created = a.post("/admin/v1/clients", json=SERVICE, headers=auth)
            assert created.status_code == 201, created.text
            client: dict[str, Any] = created.json()
            # B's workers verify the secret and remember it.
            for _ in range(IN_A_ROW):
                assert token(b, client["client_id"], client["client_secret"]).status_code == 200
            return client

        # A secret revoked through A fails on B.
        client = new_client()
        client_id, old = client["client_id"], client["client_secret"]
        added = a.post(f"/admin/v1/clients/{client_id}/secrets", json={}, headers=auth)
        assert added.status_code == 201, added.text
        new, new_id = added.json()["client_secret"], added.json()["id"]
        secrets = a.get(f"/admin/v1/clients/{client_id}/secrets", headers=auth).json()["items"]
        old_id = next(s["id"] for s in secrets if s["id"] != new_id)
        revoked = a.delete(
            f"/admin/v1/clients/{client_id}/secrets/{old_id}?confirm=true", headers=auth
        )
        assert revoked.status_code == 204, revoked.text
        assert seconds_until(refused(b, client_id, old)) < WITHIN
        assert token(b, client_id, new).status_code == 200

        # A client disabled through A is refused by B.
        client = new_client()
        disabled = a.post(f"/admin/v1/clients/{client['client_id']}/disable", headers=auth)
        assert disabled.status_code == 200, disabled.text
        assert seconds_until(refused(b, client["client_id"], client["client_secret"])) < WITHIN

        # A signing key rotated from A's host (the CLI) is published and used by B.
        env = environment({**settings_env(settings), **shared})
        kid = appward(workdir, env, "keys", "rotate").split()[-1]

        def b_signs_with_it() -> bool:
            published = {k["kid"] for k in b.get("/oauth2/jwks").json()["keys"]}
            issued = token(b, admin["client_id"], admin["client_secret"])
            return (
                kid in published
                and jwt.get_unverified_header(issued.json()["access_token"])["kid"] == kid
            )

        assert seconds_until(b_signs_with_it) < WITHIN
