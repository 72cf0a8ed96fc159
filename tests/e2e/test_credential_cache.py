"""The credential cache across processes: a change made anywhere on the host reaches
every worker's cache before its next answer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from appward.config import Settings
from tests.conftest import settings_env
from tests.e2e.conftest import appward, environment

pytestmark = pytest.mark.e2e


def statuses(base_url: str, client_id: str, secret: str, n: int) -> set[int]:
    with httpx.Client(base_url=base_url, timeout=10.0) as http:
        return {
            http.post(
                "/oauth2/token",
                data={"grant_type": "client_credentials"},
                auth=(client_id, secret),
            ).status_code
            for _ in range(n)
        }


def test_cli_changes_reach_every_running_worker_at_once(
    server: tuple[str, dict[str, Any]], settings: Settings, workdir: Path
) -> None:
    base_url, _ = server  # two worker processes, each with its own cache
    env = environment(settings_env(settings))
    created = json.loads(
        appward(
            workdir, env, "clients", "create", "svc", "--grant-type", "client_credentials", "--json"
        )
    )
    cid, secret = created["client_id"], created["client_secret"]
    assert statuses(base_url, cid, secret, 20) == {200}  # both workers now hold it cached

    appward(workdir, env, "clients", "disable", cid)
    assert statuses(base_url, cid, secret, 20) == {401}
    appward(workdir, env, "clients", "enable", cid)
    assert statuses(base_url, cid, secret, 20) == {200}

    appward(workdir, env, "secrets", "revoke", cid, created["client_secret_id"])
    assert statuses(base_url, cid, secret, 20) == {401}
