"""Real processes: the installed ``appward`` command migrates, bootstraps and serves."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import (
    appward,
    environment,
)
from tests.factories import SERVICE

pytestmark = pytest.mark.e2e


def test_served_app_issues_a_token_and_creates_a_client(
    server: tuple[str, dict[str, Any]],
) -> None:
    base_url, admin = server
    with httpx.Client(base_url=base_url, timeout=10.0) as http:
        token = http.post(
            "/oauth2/token",
            data={"grant_type": "client_credentials"},
            auth=(admin["client_id"], admin["client_secret"]),
        )
        assert token.status_code == 200, token.text
        body = token.json()
        assert body["token_type"].lower() == "bearer"
        bearer = {"Authorization": f"Bearer {body['access_token']}"}

        created = http.post("/admin/v1/clients", json=SERVICE, headers=bearer)
        assert created.status_code == 201, created.text
        client = created.json()
        assert client["metadata"]["client_name"] == SERVICE["client_name"]

        # The new client works at once, whichever worker answers.
        for _ in range(4):
            own = http.post(
                "/oauth2/token",
                data={"grant_type": "client_credentials"},
                auth=(client["client_id"], client["client_secret"]),
            )
            assert own.status_code == 200, own.text

        listed = http.get("/admin/v1/clients", headers=bearer)
        assert listed.status_code == 200, listed.text
        ids = {c["client_id"] for c in listed.json()["items"]}
        assert ids == {admin["client_id"], client["client_id"]}

        without_token = http.get("/admin/v1/clients")
        assert without_token.status_code == 401

        schema = http.get("/openapi.json")
        assert schema.status_code == 200
        operations = schema.json()["paths"]["/admin/v1/clients"]
        assert {"get", "post"} <= set(operations)


def test_make_run_bootstrap_on_a_fresh_data_dir_creates_one_admin(workdir: Path) -> None:
    """What `make run` does on a fresh checkout: the defaults, ./var does not exist yet."""
    env = environment({})
    assert not (workdir / "var").exists()
    appward(workdir, env, "db", "upgrade")
    assert (workdir / "var" / "appward.db").is_file()

    first = appward(workdir, env, "admin", "create-client", "bootstrap-admin", "--if-none")
    assert first.startswith("admin client created: bootstrap-admin")
    second = appward(workdir, env, "admin", "create-client", "bootstrap-admin", "--if-none")
    assert second.strip() == "an admin client exists already; not creating another"

    [admin] = json.loads(appward(workdir, env, "clients", "list", "--json"))["items"]
    assert admin["metadata"]["client_name"] == "bootstrap-admin"
    assert admin["metadata"]["scope"] == "appward:admin"
