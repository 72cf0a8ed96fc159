"""Registering private_key_jwt clients through the admin API, the CLI and DCR: accepted
with public keys, refused without keys, with a private key or with an HMAC signing alg;
the per-client assertion_audience only through the admin API and the CLI."""

from __future__ import annotations

import json
import os
from typing import Any

import jwt
import pytest
from typer.testing import CliRunner

from appward.cli import app as cli_app
from appward.config import Settings
from tests.conftest import settings_env
from tests.factories import SERVICE, metadata
from tests.functional.conftest import open_api
from tests.functional.test_private_key_jwt import claims_for, sign, token
from tests.keys import ec_key, rsa_key

pytestmark = pytest.mark.anyio


def private_jwk() -> dict[str, Any]:
    exported = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key().private))
    return {**exported, "kid": "rsa-1"}


BAD_REGISTRATIONS = [
    pytest.param({}, "jwks", id="no-keys"),
    pytest.param({"jwks": {"keys": [private_jwk()]}}, "jwks", id="private-key"),
    pytest.param(
        {"jwks": rsa_key().jwks(), "token_endpoint_auth_signing_alg": "HS256"},
        "token_endpoint_auth_signing_alg",
        id="hmac-signing-alg",
    ),
    pytest.param(
        {"jwks": rsa_key().jwks(), "token_endpoint_auth_signing_alg": "none"},
        "token_endpoint_auth_signing_alg",
        id="none-signing-alg",
    ),
    pytest.param(
        {"jwks": rsa_key().jwks(), "assertion_audience": "lenient"},
        "assertion_audience",
        id="unknown-audience-mode",
    ),
]


def pkjwt(**changes: Any) -> dict[str, Any]:
    return metadata(SERVICE, token_endpoint_auth_method="private_key_jwt", **changes)


@pytest.mark.parametrize(("changes", "field"), BAD_REGISTRATIONS)
async def test_admin_api_refuses(api, changes, field):
    before = (await api.get("/admin/v1/clients")).json()["items"]
    response = await api.post("/admin/v1/clients", pkjwt(**changes))
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_client_metadata"
    assert field in response.text
    assert (await api.get("/admin/v1/clients")).json()["items"] == before


async def test_admin_api_sets_and_changes_assertion_audience(api):
    created = await api.post(
        "/admin/v1/clients", pkjwt(jwks=rsa_key().jwks(), assertion_audience="strict")
    )
    assert created.status_code == 201, created.text
    assert created.json()["metadata"]["assertion_audience"] == "strict"
    assert not created.json().get("client_secret")
    url = f"/admin/v1/clients/{created.json()['client_id']}"
    current = await api.get(url)
    patched = await api.patch(
        url, {"assertion_audience": "compat"}, if_match=current.headers.get("ETag")
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["metadata"]["assertion_audience"] == "compat"


# --- the CLI ---


def run_cli(settings: Settings, *args: str, stdin: str | None = None) -> Any:
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("APPWARD_")}
    env.update(settings_env(settings))
    return CliRunner().invoke(cli_app, list(args), env=env, input=stdin, catch_exceptions=False)


def test_cli_creates_and_updates_a_private_key_jwt_client(settings, tmp_path):
    data = pkjwt(jwks=rsa_key().jwks(), token_endpoint_auth_signing_alg="PS256")
    result = run_cli(
        settings, "clients", "create", "--metadata", "-", "--json", stdin=json.dumps(data)
    )
    assert result.exit_code == 0, result.output
    created = json.loads(result.stdout)
    client = created["metadata"]
    assert client["token_endpoint_auth_method"] == "private_key_jwt"
    assert client["token_endpoint_auth_signing_alg"] == "PS256"
    assert not created.get("client_secret")
    assert created["client_secret_id"] is None
    patch = tmp_path / "patch.json"
    patch.write_text(json.dumps({"assertion_audience": "strict", "jwks": ec_key().jwks()}))
    cid = created["client_id"]
    result = run_cli(settings, "clients", "update", cid, "--metadata", str(patch), "--json")
    assert result.exit_code == 0, result.output
    updated = json.loads(result.stdout)["metadata"]
    assert updated["assertion_audience"] == "strict"
    assert updated["jwks"]["keys"][0]["kid"] == "ec-1"
    listed = run_cli(settings, "secrets", "list", cid, "--json")
    assert listed.exit_code == 0, listed.output
    assert json.loads(listed.stdout)["items"] == []


@pytest.mark.parametrize(("changes", "field"), BAD_REGISTRATIONS)
def test_cli_refuses(settings, changes, field):
    result = run_cli(
        settings, "clients", "create", "--metadata", "-", stdin=json.dumps(pkjwt(**changes))
    )
    assert result.exit_code == 2, result.output
    assert field in result.stderr


# --- Dynamic Client Registration ---


async def test_dcr_registers_a_private_key_jwt_client_that_gets_a_token(settings, clock):
    configured = settings.model_copy(
        update={"dcr_modes": frozenset({"open"}), "dcr_grant_types": ("client_credentials",)}
    )
    async with open_api(configured, clock) as api:
        created = await api.post("/admin/v1/scopes", {"name": "orders", "description": "O"})
        assert created.status_code == 201
        body = {
            "client_name": "Partner",
            "grant_types": ["client_credentials"],
            "scope": "orders",
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": ec_key().jwks(),
            "assertion_audience": "compat",  # Appward's own field: ignored here
        }
        response = await api.http.post("/oauth2/register", json=body)
        assert response.status_code == 201, response.text
        registered = response.json()
        assert "client_secret" not in registered
        assert "assertion_audience" not in registered
        stored = (await api.get(f"/admin/v1/clients/{registered['client_id']}")).json()
        assert "assertion_audience" not in stored["metadata"]
        issued = await token(api, sign(ec_key(), claims_for(registered["client_id"], clock)))
        assert issued.status_code == 200, issued.text
        for changes, _ in [p.values for p in BAD_REGISTRATIONS[:4]]:
            bad = {**body, "jwks": None, **changes}
            refused = await api.http.post(
                "/oauth2/register", json={k: v for k, v in bad.items() if v is not None}
            )
            assert refused.status_code == 400, refused.text
            assert refused.json()["error"] == "invalid_client_metadata"
