"""The key and certificate fields through the admin API and the CLI: jwks (JSON, or a
file with --jwks-file), jwks_uri, the signing alg, the TLS subject fields, bound tokens
and the assertion audience are accepted, validated by the metadata validator and shown
(presenters.present_client, the CLI's show)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from appward.config import Settings
from tests.conftest import settings_env
from tests.factories import SERVICE, metadata
from tests.functional.conftest import Api
from tests.functional.test_cli import Cli
from tests.keys_helpers import ec_jwk, private_ec_jwk, rsa_jwk


@pytest.fixture
def cli(settings: Settings) -> Cli:
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("APPWARD_")}
    env.update(settings_env(settings))
    return Cli(env)


# --- the admin API ---

ADMIN_OK = [
    # (fields, what the client's metadata then shows of them)
    ({"jwks": {"keys": ["EC"]}}, "jwks"),
    ({"jwks_uri": "https://keys.example.com/jwks.json"}, "jwks_uri"),
    (
        {"tls_client_certificate_bound_access_tokens": True},
        "tls_client_certificate_bound_access_tokens",
    ),
    ({"assertion_audience": "strict"}, "assertion_audience"),
    ({"assertion_audience": "compat"}, "assertion_audience"),
]
ADMIN_REFUSED = [
    # (fields, the field refused, part of its message)
    ({"jwks": {"keys": ["PRIVATE"]}}, "jwks", "public keys only"),
    ({"jwks": {"keys": []}}, "jwks", "non-empty"),
    ({"jwks": {"keys": ["EC"]}, "jwks_uri": "https://k.example/j"}, "jwks", "both"),
    ({"jwks_uri": "http://keys.example.com/jwks.json"}, "jwks_uri", "https"),
    ({"tls_client_auth_san_dns": "svc.example.com"}, "tls_client_auth_san_dns", "tls_client_auth"),
    ({"token_endpoint_auth_signing_alg": "RS256"}, "token_endpoint_auth_signing_alg", ""),
    ({"token_endpoint_auth_signing_alg": "none"}, "token_endpoint_auth_signing_alg", ""),
    ({"assertion_audience": "anything"}, "assertion_audience", ""),
    (
        {"tls_client_certificate_bound_access_tokens": "yes"},
        "tls_client_certificate_bound_access_tokens",
        "",
    ),
]


def _keys(fields: dict[str, Any]) -> dict[str, Any]:
    """Puts real keys where the tables say which kind."""
    if "jwks" in fields:
        kinds = {"EC": lambda: ec_jwk(), "PRIVATE": lambda: private_ec_jwk()}
        fields = {**fields, "jwks": {"keys": [kinds[k]() for k in fields["jwks"]["keys"]]}}
    return fields


@pytest.mark.anyio
@pytest.mark.parametrize(("fields", "shown"), ADMIN_OK, ids=[s for _, s in ADMIN_OK])
async def test_the_admin_api_sets_and_shows_each_field(api: Api, fields, shown):
    fields = _keys(fields)
    created = await api.post("/admin/v1/clients", metadata(SERVICE, **fields))
    assert created.status_code == 201, created.text
    assert created.json()["metadata"][shown] == fields[shown]
    client_id = created.json()["client_id"]
    # And by PATCH, on a client that had none of it.
    other = (await api.post("/admin/v1/clients", metadata(SERVICE))).json()["client_id"]
    patched = await api.patch(f"/admin/v1/clients/{other}", fields, if_match='"1"')
    assert patched.status_code == 200, patched.text
    assert patched.json()["metadata"][shown] == fields[shown]
    assert (await api.get(f"/admin/v1/clients/{client_id}")).json()["metadata"][shown] == fields[
        shown
    ]


@pytest.mark.anyio
@pytest.mark.parametrize(("fields", "field", "message"), ADMIN_REFUSED)
async def test_the_admin_api_refuses_each_bad_field_by_name(api: Api, fields, field, message):
    fields = _keys(fields)
    created = await api.post("/admin/v1/clients", metadata(SERVICE, **fields))
    assert created.status_code == 400, created.text
    body = created.json()
    assert body["error"] == "invalid_client_metadata"
    messages = {e["field"]: e["message"] for e in body["errors"]}
    assert field in messages, body
    assert message in messages[field]
    # Nor by PATCH: nothing changes.
    other = (await api.post("/admin/v1/clients", metadata(SERVICE))).json()["client_id"]
    patched = await api.patch(f"/admin/v1/clients/{other}", fields, if_match='"1"')
    assert patched.status_code == 400
    assert (await api.get(f"/admin/v1/clients/{other}")).json()["revision"] == 1
    assert "d" not in json.dumps(body).split('"')  # no private member echoed


# --- the CLI ---


def test_the_cli_sets_and_shows_the_key_fields(cli: Cli, tmp_path: Path) -> None:
    key = ec_jwk("cli-1", alg="ES256")
    jwks_file = tmp_path / "jwks.json"
    jwks_file.write_text(json.dumps({"keys": [key]}))
    created = cli.json(
        "clients",
        "create",
        "Keyed",
        "--grant-type",
        "client_credentials",
        "--jwks-file",
        str(jwks_file),
        "--bound-tokens",
        "--assertion-audience",
        "strict",
    )
    client_id = created["client_id"]
    shown = cli.json("clients", "show", client_id)["metadata"]
    assert shown["jwks"] == {"keys": [key]}
    assert shown["tls_client_certificate_bound_access_tokens"] is True
    assert shown["assertion_audience"] == "strict"
    text = cli.ok("clients", "show", client_id)
    assert "cli-1" in text
    assert "assertion_audience: strict" in text

    other = rsa_jwk("cli-2")
    cli.ok(
        "clients", "update", client_id, "--jwks", json.dumps({"keys": [other]}), "--no-bound-tokens"
    )
    shown = cli.json("clients", "show", client_id)["metadata"]
    assert shown["jwks"] == {"keys": [other]}
    assert shown.get("tls_client_certificate_bound_access_tokens") is False
    cli.ok(
        "clients", "update", client_id, "--set", "jwks=null", "--jwks-uri", "https://k.example/j"
    )
    shown = cli.json("clients", "show", client_id)["metadata"]
    assert "jwks" not in shown
    assert shown["jwks_uri"] == "https://k.example/j"


def test_the_cli_refuses_a_malformed_dn_and_stores_a_good_one_canonically(cli: Cli) -> None:
    options = ["--grant-type", "client_credentials", "--auth-method", "tls_client_auth"]
    refused = cli.fails("clients", "create", "Refused", *options, "--tls-subject-dn", "svc")
    assert "tls_client_auth_subject_dn" in refused
    assert "RFC 4514" in refused
    created = cli.json(
        "clients", "create", "Certified", *options, "--tls-subject-dn", "cn=svc, o=x"
    )
    shown = cli.json("clients", "show", created["client_id"])["metadata"]
    assert shown["tls_client_auth_subject_dn"] == "CN=svc,O=x"


CLI_REFUSED = [
    # (options, part of the one error line)
    (["--jwks", "{not json"], "--jwks is not JSON"),
    (["--jwks", "{}", "--jwks-file", "x.json"], "not both"),
    (["--jwks-file", "/nonexistent/jwks.json"], "cannot read JSON"),
    (["--jwks", json.dumps({"keys": [private_ec_jwk()]})], "public keys only"),
    (["--jwks", json.dumps({"keys": [ec_jwk("a"), ec_jwk("a")]})], "unique"),
    (["--token-endpoint-auth-signing-alg", "RS256"], "token_endpoint_auth_signing_alg"),
    (["--tls-san-dns", "svc.example.com"], "tls_client_auth_san_dns"),
    (["--tls-subject-dn", "CN=svc"], "tls_client_auth_subject_dn"),
    (["--tls-san-uri", "https://svc.example.com"], "tls_client_auth_san_uri"),
    (["--tls-san-ip", "192.0.2.1"], "tls_client_auth_san_ip"),
    (["--tls-san-email", "svc@example.com"], "tls_client_auth_san_email"),
    (["--assertion-audience", "anything"], "assertion_audience"),
    (["--jwks-uri", "http://k.example/j"], "jwks_uri"),
]


@pytest.mark.parametrize(("options", "message"), CLI_REFUSED)
def test_the_cli_refuses_a_bad_key_field(cli: Cli, options: list[str], message: str) -> None:
    client_id = cli.create(metadata(SERVICE))["client_id"]
    before = cli.json("clients", "show", client_id)
    assert message in cli.fails("clients", "update", client_id, *options)
    refused = cli.fails(
        "clients", "create", "Refused", "--grant-type", "client_credentials", *options
    )
    assert message in refused
    assert cli.json("clients", "show", client_id) == before
