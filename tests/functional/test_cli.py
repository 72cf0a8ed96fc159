"""The command line, driven in-process on both databases: what each command prints and stores."""

from __future__ import annotations

import asyncio
import getpass
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import typer.main
from sqlalchemy import update
from typer.testing import CliRunner, Result

from appward.cli import app
from appward.clients.models import ClientSecret
from appward.clock import FrozenClock
from appward.config import Settings
from appward.services import standalone_resources, unit_of_work
from tests.conftest import settings_env
from tests.factories import NATIVE_APP, SERVICE, SETUP_ACTOR, WEB_APP, metadata
from tests.functional.conftest import open_api

ACTOR = f"cli:{getpass.getuser()}"
SECRET_PREFIX = "apwcs_"


@dataclass
class Cli:
    """Runs ``appward`` in-process with the APPWARD_* environment of the test's settings."""

    env: dict[str, str | None]
    runner: CliRunner = field(default_factory=CliRunner)

    def run(self, *args: str, stdin: str | None = None) -> Result:
        return self.runner.invoke(
            app, list(args), env=self.env, input=stdin, catch_exceptions=False
        )

    def ok(self, *args: str, stdin: str | None = None) -> str:
        """Runs a command that must succeed; returns its stdout."""
        result = self.run(*args, stdin=stdin)
        assert result.exit_code == 0, (result.stdout, result.stderr)
        assert result.stderr == ""
        return result.stdout

    def json(self, *args: str, stdin: str | None = None) -> Any:
        return json.loads(self.ok(*args, "--json", stdin=stdin))

    def fails(self, *args: str, stdin: str | None = None) -> str:
        """Runs a command that must fail the CLI's way; returns its one stderr line."""
        result = self.run(*args, stdin=stdin)
        assert result.exit_code == 2, (result.stdout, result.stderr)
        assert result.stdout == ""
        lines = result.stderr.splitlines()
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith("appward: ")
        return lines[0]

    def create(self, data: dict[str, Any], *options: str) -> dict[str, Any]:
        """Registers a client from metadata on stdin; returns the --json output."""
        created: dict[str, Any] = self.json(
            "clients", "create", "--metadata", "-", *options, stdin=json.dumps(data)
        )
        return created

    def clients(self, *filters: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.json("clients", "list", "--limit", "200", *filters)[
            "items"
        ]
        return items

    def events(self, *filters: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.json("audit", "--limit", "200", *filters)["items"]
        return items

    def secrets(self, client_id: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.json("secrets", "list", client_id)["items"]
        return items

    def state(self) -> dict[str, Any]:
        """Everything the CLI can see; every change writes at least one audit event."""
        return {"clients": self.clients(), "events": self.events()}


@pytest.fixture(scope="module")
def _command() -> Any:
    return typer.main.get_command(app)


@pytest.fixture(autouse=True)
def _build_the_command_once(monkeypatch: pytest.MonkeyPatch, _command: Any) -> None:
    """typer's CliRunner rebuilds the click command on every invoke, over half of a
    command's time here; reuse one (a no-op if typer renames its helper)."""
    monkeypatch.setattr("typer.testing._get_command", lambda _app: _command, raising=False)


@pytest.fixture
def cli(settings: Settings) -> Cli:
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("APPWARD_")}
    env.update(settings_env(settings))
    return Cli(env)


def _parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value)


# --- clients create ---


def test_create_from_options_prints_the_client_and_its_secret_once(cli: Cli) -> None:
    out = cli.ok(
        "clients",
        "create",
        "Web App",
        "--redirect-uri",
        "https://app.example.com/callback",
        "--redirect-uri",
        "http://127.0.0.1/callback",
        "--grant-type",
        "authorization_code",
        "--grant-type",
        "refresh_token",
        "--auth-method",
        "client_secret_post",
        "--owner",
        "team-web",
    )
    lines = dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)
    assert lines["client_name"] == "Web App"
    assert lines["redirect_uris"] == "https://app.example.com/callback,http://127.0.0.1/callback"
    assert lines["grant_types"] == "authorization_code,refresh_token"
    assert lines["token_endpoint_auth_method"] == "client_secret_post"
    assert lines["owner"] == "team-web"
    assert lines["status"] == "active"
    assert lines["registration_source"] == "admin"
    assert out.count(SECRET_PREFIX) == 1
    assert lines["client_secret"].startswith(SECRET_PREFIX)
    assert "shown once" in out

    [listed] = cli.clients()
    assert listed["client_id"] == lines["client_id"]
    [secret] = cli.secrets(lines["client_id"])
    assert secret["label"] == "initial"
    assert lines["client_secret"].startswith(f"{SECRET_PREFIX}{secret['id']}_")


def test_create_json_returns_metadata_secret_and_secret_id(cli: Cli) -> None:
    body = cli.json(
        "clients",
        "create",
        "Billing",
        "--grant-type",
        "client_credentials",
        "--owner",
        "billing@example.com",
    )
    assert body["status"] == "active"
    assert body["registration_source"] == "admin"
    assert body["owner"] == "billing@example.com"
    assert body["revision"] == 1
    assert body["metadata"]["client_name"] == "Billing"
    assert body["metadata"]["grant_types"] == ["client_credentials"]
    assert body["metadata"]["token_endpoint_auth_method"] == "client_secret_basic"
    assert body["metadata"]["response_types"] == []
    assert body["client_secret"].startswith(f"{SECRET_PREFIX}{body['client_secret_id']}_")
    assert _parse_time(body["created_at"]).tzinfo is not None
    assert cli.json("clients", "show", body["client_id"])["metadata"] == body["metadata"]


def test_public_client_gets_no_secret(cli: Cli) -> None:
    out = cli.ok(
        "clients",
        "create",
        "Phone",
        "--redirect-uri",
        "http://127.0.0.1/callback",
        "--auth-method",
        "none",
    )
    assert "client_secret" not in out
    assert SECRET_PREFIX not in out
    body = cli.create(NATIVE_APP)
    assert "client_secret" not in body
    # The admin API's shape: the secret's id and expiry are there, and null.
    assert body["client_secret_id"] is None
    assert body["client_secret_expires_at"] is None
    assert cli.secrets(body["client_id"]) == []


def test_create_reads_metadata_file_and_options_override_it(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "client.json"
    path.write_text(
        json.dumps(
            metadata(
                WEB_APP,
                client_name="From File",
                client_uri="https://app.example.com",
                contacts=["ops@example.com"],
                owner="file-owner",
            )
        )
    )
    body = cli.json("clients", "create", "From Option", "--metadata", str(path))
    assert body["metadata"]["client_name"] == "From Option"
    assert body["metadata"]["client_uri"] == "https://app.example.com"
    assert body["metadata"]["contacts"] == ["ops@example.com"]
    assert body["metadata"]["redirect_uris"] == WEB_APP["redirect_uris"]
    assert body["owner"] == "file-owner"


def test_create_reads_metadata_from_stdin(cli: Cli) -> None:
    body = cli.create(metadata(SERVICE, software_id="billing"), "--owner", "team-b")
    assert body["metadata"]["client_name"] == SERVICE["client_name"]
    assert body["metadata"]["software_id"] == "billing"
    assert body["owner"] == "team-b"
    assert "client_secret" in body


def test_create_with_scope_links_registered_scopes(cli: Cli) -> None:
    cli.ok("scopes", "create", "read", "Read things")
    cli.ok("scopes", "create", "write", "Write things")
    body = cli.json(
        "clients", "create", "Svc", "--grant-type", "client_credentials", "--scope", "write read"
    )
    assert set(body["metadata"]["scope"].split()) == {"read", "write"}


def test_create_set_takes_any_metadata_field_with_json_values_and_plain_strings(
    cli: Cli,
) -> None:
    """The same field=value parsing as ``clients update --set``."""
    body = cli.json(
        "clients",
        "create",
        "Shop",
        "--redirect-uri",
        "https://shop.example.com/callback",
        "--set",
        "logo_uri=https://shop.example.com/logo.png",
        "--set",
        'contacts=["ops@example.com"]',
        "--set",
        "access_token_ttl=900",
    )
    assert body["metadata"]["logo_uri"] == "https://shop.example.com/logo.png"
    assert body["metadata"]["contacts"] == ["ops@example.com"]
    assert body["metadata"]["access_token_ttl"] == 900
    assert cli.json("clients", "show", body["client_id"])["metadata"] == body["metadata"]


def test_create_set_overrides_metadata_and_named_options_override_set(cli: Cli) -> None:
    body = cli.json(
        "clients",
        "create",
        "From Option",
        "--set",
        "client_name=From Set",
        "--set",
        "software_version=v2",
        "--metadata",
        "-",
        stdin=json.dumps(metadata(SERVICE, software_version="v1")),
    )
    assert body["metadata"]["client_name"] == "From Option"
    assert body["metadata"]["software_version"] == "v2"


# --- clients list ---


def test_list_table_has_one_row_per_client(cli: Cli) -> None:
    web = cli.create(WEB_APP)
    service = cli.create(SERVICE)
    lines = cli.ok("clients", "list").splitlines()
    assert lines[0].split() == [
        "CLIENT_ID",
        "NAME",
        "STATUS",
        "APPROVAL",
        "SOURCE",
        "AUTH_METHOD",
        "GRANT_TYPES",
        "SCOPE",
    ]
    assert len(lines) == 3
    assert lines[1].startswith(web["client_id"])
    assert lines[2].startswith(service["client_id"])
    assert "client_credentials" in lines[2]


def test_list_filters_by_name_status_and_source(cli: Cli) -> None:
    a_b = cli.create(metadata(SERVICE, client_name="Team_A Billing"))
    axb = cli.create(metadata(SERVICE, client_name="TeamXA Reports"))
    web = cli.create(WEB_APP)
    cli.ok("clients", "disable", axb["client_id"])

    def ids(*filters: str) -> list[str]:
        return [c["client_id"] for c in cli.clients(*filters)]

    assert ids("--name", "team") == [a_b["client_id"], axb["client_id"]]
    assert ids("--name", "BILLING") == [a_b["client_id"]]
    assert ids("--name", "m_a") == [a_b["client_id"]]  # '_' is literal, not a wildcard
    assert ids("--name", "%") == []
    assert ids("--status", "disabled") == [axb["client_id"]]
    assert ids("--status", "active") == [a_b["client_id"], web["client_id"]]
    assert ids("--source", "admin") == [a_b["client_id"], axb["client_id"], web["client_id"]]
    assert ids("--source", "dcr") == []
    assert ids("--name", "team", "--status", "active") == [a_b["client_id"]]


def test_list_pages_with_limit_and_cursor(cli: Cli) -> None:
    created = [cli.create(metadata(SERVICE, client_name=f"svc {i}"))["client_id"] for i in range(5)]
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        args = ["clients", "list", "--limit", "2"] + (["--cursor", cursor] if cursor else [])
        page = cli.json(*args)
        pages += 1
        assert len(page["items"]) <= 2
        seen += [c["client_id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == created

    table = cli.ok("clients", "list", "--limit", "2").splitlines()
    assert len(table) == 4
    assert table[-1].startswith("more: --cursor ")
    next_page = cli.json("clients", "list", "--limit", "2", "--cursor", table[-1].split()[-1])
    assert [c["client_id"] for c in next_page["items"]] == created[2:4]


def test_list_of_no_clients_is_empty(cli: Cli) -> None:
    assert cli.json("clients", "list") == {"items": [], "next_cursor": None}
    assert cli.ok("clients", "list").splitlines()[0].startswith("CLIENT_ID")


# --- clients show and update ---


def test_show_prints_record_and_metadata(cli: Cli) -> None:
    body = cli.create(WEB_APP, "--owner", "team-web")
    out = cli.ok("clients", "show", body["client_id"])
    assert f"client_id: {body['client_id']}" in out.splitlines()
    assert "owner: team-web" in out.splitlines()
    assert "revision: 1" in out.splitlines()
    assert "client_secret:" not in out
    assert SECRET_PREFIX not in out
    shown = cli.json("clients", "show", body["client_id"])
    assert shown["metadata"] == body["metadata"]
    assert "client_secret" not in shown


def test_update_set_takes_json_values_and_plain_strings(cli: Cli) -> None:
    client_id = cli.create(WEB_APP)["client_id"]
    body = cli.json(
        "clients",
        "update",
        client_id,
        "--set",
        "access_token_ttl=120",
        "--set",
        "skip_consent=true",
        "--set",
        'contacts=["ops@example.com", "dev@example.com"]',
        "--set",
        "client_uri=https://app.example.com/about",
        "--set",
        "owner=team-x",
    )
    assert body["metadata"]["access_token_ttl"] == 120
    assert body["metadata"]["skip_consent"] is True
    assert body["metadata"]["contacts"] == ["ops@example.com", "dev@example.com"]
    assert body["metadata"]["client_uri"] == "https://app.example.com/about"
    assert body["owner"] == "team-x"
    assert body["revision"] == 2
    assert "client_secret" not in body
    [event] = cli.events("--action", "client:updated")
    assert event["changes"]["access_token_ttl"]["new"] == 120
    assert event["changes"]["owner"] == {"old": None, "new": "team-x"}


def test_update_null_resets_a_field_to_its_default(cli: Cli) -> None:
    client_id = cli.create(
        metadata(WEB_APP, access_token_ttl=120, client_uri="https://app.example.com"),
        "--owner",
        "team-x",
    )["client_id"]
    body = cli.json(
        "clients",
        "update",
        client_id,
        "--set",
        "access_token_ttl=null",
        "--set",
        "client_uri=null",
        "--set",
        "owner=null",
    )
    assert body["metadata"]["access_token_ttl"] == 3600  # the server default
    assert "client_uri" not in body["metadata"]
    assert body["owner"] is None


def test_update_reads_a_merge_patch_from_stdin(cli: Cli) -> None:
    client_id = cli.create(WEB_APP)["client_id"]
    body = cli.json(
        "clients",
        "update",
        client_id,
        "--metadata",
        "-",
        "--set",
        "software_version=v2",  # --set wins over the patch for the same field
        stdin=json.dumps({"software_id": "web", "software_version": "v1"}),
    )
    assert body["metadata"]["software_id"] == "web"
    assert body["metadata"]["software_version"] == "v2"


def test_update_with_current_revision_succeeds_and_stale_revision_is_refused(cli: Cli) -> None:
    client_id = cli.create(WEB_APP)["client_id"]
    first = cli.json(
        "clients", "update", client_id, "--if-revision", "1", "--set", "client_name=Renamed"
    )
    assert first["revision"] == 2
    before = cli.state()
    line = cli.fails(
        "clients", "update", client_id, "--if-revision", "1", "--set", "client_name=Again"
    )
    assert line.startswith("appward: precondition_failed: ")
    assert cli.state() == before
    assert cli.json("clients", "show", client_id)["metadata"]["client_name"] == "Renamed"


def test_update_without_a_change_keeps_the_revision(cli: Cli) -> None:
    client_id = cli.create(WEB_APP)["client_id"]
    body = cli.json(
        "clients", "update", client_id, "--set", f"client_name={WEB_APP['client_name']}"
    )
    assert body["revision"] == 1
    assert cli.events("--action", "client:updated") == []


def test_moving_a_public_client_to_a_secret_method_prints_a_new_secret(cli: Cli) -> None:
    client_id = cli.create(NATIVE_APP)["client_id"]
    out = cli.ok(
        "clients",
        "update",
        client_id,
        "--set",
        "token_endpoint_auth_method=client_secret_post",
        "--set",
        "application_type=native",
    )
    assert out.count(SECRET_PREFIX) == 1
    assert [s["usable"] for s in cli.secrets(client_id)] == [True]


def test_moving_to_a_public_method_revokes_the_secrets(cli: Cli) -> None:
    client_id = cli.create(WEB_APP)["client_id"]
    body = cli.json("clients", "update", client_id, "--set", "token_endpoint_auth_method=none")
    assert "client_secret" not in body
    [secret] = cli.secrets(client_id)
    assert secret["usable"] is False
    assert secret["revoked_at"] is not None


def test_update_grant_types_alone_recomputes_derived_defaults(cli: Cli) -> None:
    client_id = cli.create(WEB_APP)["client_id"]  # authorization_code + refresh_token
    body = cli.json("clients", "update", client_id, "--set", 'grant_types=["authorization_code"]')
    assert body["metadata"]["issue_refresh_tokens"] is False
    assert body["metadata"]["response_types"] == ["code"]
    body = cli.json("clients", "update", client_id, "--set", 'grant_types=["client_credentials"]')
    assert body["metadata"]["response_types"] == []


# --- disable, enable, delete ---


def test_disable_enable_and_delete(cli: Cli) -> None:
    client_id = cli.create(WEB_APP)["client_id"]
    assert cli.ok("clients", "disable", client_id) == f"client {client_id} is disabled\n"
    assert cli.json("clients", "show", client_id)["status"] == "disabled"
    assert cli.json("clients", "disable", client_id)["status"] == "disabled"  # idempotent
    assert cli.ok("clients", "enable", client_id) == f"client {client_id} is active\n"
    assert cli.json("clients", "show", client_id)["status"] == "active"
    actions = [e["action"] for e in cli.events("--client-id", client_id)]
    assert actions.count("client:disabled") == 1
    assert actions.count("client:enabled") == 1

    assert cli.ok("clients", "delete", client_id) == f"client {client_id} deleted\n"
    assert cli.clients() == []
    assert cli.fails("clients", "show", client_id).startswith("appward: not_found: ")
    assert cli.fails("clients", "delete", client_id).startswith("appward: not_found: ")
    actions = [e["action"] for e in cli.events("--client-id", client_id)]
    assert actions[:2] == ["client:deleted", "client:secret:revoked"]


# --- secrets ---


def test_secrets_add_keeps_the_old_secret_usable(cli: Cli) -> None:
    created = cli.create(SERVICE)
    client_id = created["client_id"]
    out = cli.ok("secrets", "add", client_id, "--label", "rotation 2026")
    assert out.count(SECRET_PREFIX) == 1
    new_id = out.splitlines()[0].removeprefix("secret id: ")
    secrets = cli.secrets(client_id)
    assert {s["id"]: (s["label"], s["usable"]) for s in secrets} == {
        created["client_secret_id"]: ("initial", True),
        new_id: ("rotation 2026", True),
    }
    assert all(s["expires_at"] is None for s in secrets)


def test_secrets_add_with_expire_others_in_gives_the_old_secrets_a_deadline(cli: Cli) -> None:
    created = cli.create(SERVICE)
    client_id = created["client_id"]
    before = datetime.now(UTC)
    added = cli.json("secrets", "add", client_id, "--expire-others-in", "3600")
    assert added["client_secret"].startswith(f"{SECRET_PREFIX}{added['id']}_")
    assert added["usable"] is True
    old = {s["id"]: s for s in cli.secrets(client_id)}[created["client_secret_id"]]
    deadline = _parse_time(old["expires_at"])
    assert before + timedelta(seconds=3590) < deadline < datetime.now(UTC) + timedelta(hours=1)
    assert old["usable"] is True
    [event] = cli.events("--action", "client:secret:expiry_set")
    assert event["target"] == created["client_secret_id"]

    cli.ok("secrets", "add", client_id, "--expire-others-in", "0")
    usable = [s["id"] for s in cli.secrets(client_id) if s["usable"]]
    assert len(usable) == 1
    assert usable[0] not in (created["client_secret_id"], added["id"])


def test_secrets_list_never_shows_a_secret_or_its_hash(cli: Cli) -> None:
    created = cli.create(SERVICE)
    client_id = created["client_id"]
    added = cli.json("secrets", "add", client_id, "--label", "second")
    table = cli.ok("secrets", "list", client_id)
    listed = cli.ok("secrets", "list", client_id, "--json")
    audit = cli.ok("audit", "--json")
    for out in (table, listed, audit):
        assert SECRET_PREFIX not in out
        assert created["client_secret"] not in out
        assert added["client_secret"] not in out
        assert "$argon2" not in out
    assert table.splitlines()[0].split() == [
        "ID",
        "LABEL",
        "CREATED_AT",
        "EXPIRES_AT",
        "REVOKED_AT",
        "LAST_USED_AT",
        "USABLE",
    ]
    assert len(table.splitlines()) == 3
    assert set(json.loads(listed)["items"][0]) == {
        "id",
        "label",
        "created_at",
        "expires_at",
        "revoked_at",
        "last_used_at",
        "usable",
    }


def test_secrets_revoke_makes_the_secret_unusable_once(cli: Cli) -> None:
    created = cli.create(SERVICE)
    client_id, secret_id = created["client_id"], created["client_secret_id"]
    assert cli.ok("secrets", "revoke", client_id, secret_id) == f"secret {secret_id} revoked\n"
    [secret] = cli.secrets(client_id)
    assert secret["usable"] is False
    revoked_at = secret["revoked_at"]
    assert revoked_at is not None
    cli.ok("secrets", "revoke", client_id, secret_id)  # again: nothing changes
    assert cli.secrets(client_id)[0]["revoked_at"] == revoked_at
    assert len(cli.events("--action", "client:secret:revoked")) == 1


# --- scopes ---


def test_scopes_create_list_update_delete(cli: Cli) -> None:
    assert cli.ok("scopes", "create", "read", "Read your things") == "scope read created\n"
    created = cli.json("scopes", "create", "admin:ops", "Operate", "--admin-only")
    assert created["admin_only"] is True
    scopes = {s["name"]: s for s in cli.json("scopes", "list")["items"]}
    assert set(scopes) == {"appward:admin", "admin:ops", "read"}
    assert scopes["read"]["description"] == "Read your things"
    assert scopes["read"]["admin_only"] is False
    table = cli.ok("scopes", "list").splitlines()
    assert table[0].split() == ["NAME", "ADMIN_ONLY", "SENSITIVE", "DESCRIPTION"]
    assert any(line.split()[0] == "read" for line in table[1:])

    updated = cli.json("scopes", "update", "read", "--description", "Read all", "--admin-only")
    assert (updated["description"], updated["admin_only"]) == ("Read all", True)
    assert cli.ok("scopes", "update", "read", "--not-admin-only") == "scope read updated\n"
    [event, *_] = cli.events("--action", "scope:updated")
    assert event["changes"] == {"admin_only": [True, False]}

    assert cli.ok("scopes", "delete", "read") == "scope read deleted\n"
    assert "read" not in {s["name"] for s in cli.json("scopes", "list")["items"]}
    actions = [e["action"] for e in cli.events()]
    assert actions.count("scope:created") == 2
    assert actions.count("scope:deleted") == 1


def test_scope_in_use_cannot_be_deleted_until_no_client_uses_it(cli: Cli) -> None:
    cli.ok("scopes", "create", "read", "Read")
    client_id = cli.create(metadata(SERVICE, scope="read"))["client_id"]
    before = cli.state()
    line = cli.fails("scopes", "delete", "read")
    assert line.startswith("appward: conflict: ")
    assert "1 client" in line
    assert cli.state() == before
    cli.ok("clients", "update", client_id, "--set", "scope=null")
    cli.ok("scopes", "delete", "read")


def test_deleting_a_client_frees_its_scopes(cli: Cli) -> None:
    cli.ok("scopes", "create", "read", "Read")
    client_id = cli.create(metadata(SERVICE, scope="read"))["client_id"]
    cli.ok("clients", "delete", client_id)
    cli.ok("scopes", "delete", "read")


# --- audit ---


def test_audit_records_cli_actor_and_filters(cli: Cli) -> None:
    web = cli.create(WEB_APP)["client_id"]
    service = cli.create(SERVICE)["client_id"]
    cli.ok("clients", "disable", service)
    cli.ok("scopes", "create", "read", "Read")

    events = cli.events()
    assert {e["actor"] for e in events} == {ACTOR}
    assert [e["action"] for e in events] == [  # newest first
        "scope:created",
        "client:disabled",
        "client:secret:added",
        "client:created",
        "client:secret:added",
        "client:created",
    ]
    assert [e["id"] for e in events] == sorted((e["id"] for e in events), reverse=True)
    assert {e["client_id"] for e in cli.events("--client-id", web)} == {web}
    assert len(cli.events("--client-id", service)) == 3
    created = cli.events("--action", "client:created")
    assert [e["client_id"] for e in created] == [service, web]
    assert created[1]["changes"]["registration_source"] == "admin"
    assert created[1]["changes"]["client_name"] == WEB_APP["client_name"]
    assert len(cli.events("--actor", ACTOR)) == 6
    assert cli.events("--actor", "cli:somebody-else") == []
    assert cli.events("--client-id", web, "--action", "client:disabled") == []


def test_audit_time_window_and_paging(cli: Cli) -> None:
    cli.ok("scopes", "create", "a", "A")
    cli.ok("scopes", "create", "b", "B")
    cli.ok("scopes", "create", "c", "C")
    hour = timedelta(hours=1)
    now = datetime.now(UTC)
    assert len(cli.events("--since", (now - hour).isoformat())) == 3
    assert cli.events("--since", (now + hour).isoformat()) == []
    assert cli.events("--until", (now - hour).isoformat()) == []
    assert len(cli.events("--until", (now + hour).strftime("%Y-%m-%dT%H:%M:%SZ"))) == 3

    first = cli.json("audit", "--limit", "2")
    assert [e["target"] for e in first["items"]] == ["c", "b"]
    rest = cli.json("audit", "--limit", "2", "--cursor", first["next_cursor"])
    assert [e["target"] for e in rest["items"]] == ["a"]
    assert rest["next_cursor"] is None

    table = cli.ok("audit", "--limit", "2").splitlines()
    assert table[0].split() == ["OCCURRED_AT", "ACTOR", "ACTION", "CLIENT_ID", "TARGET", "CHANGES"]
    assert ACTOR in table[1]
    assert "scope:created" in table[1]
    assert table[-1] == f"more: --cursor {first['next_cursor']}"


# --- admin bootstrap ---


def test_admin_create_client_json_prints_id_and_secret(cli: Cli) -> None:
    body = cli.json("admin", "create-client", "ops")
    assert set(body) == {"client_id", "client_secret"}
    assert body["client_secret"].startswith(SECRET_PREFIX)
    shown = cli.json("clients", "show", body["client_id"])
    assert shown["metadata"]["scope"] == "appward:admin"
    assert shown["metadata"]["grant_types"] == ["client_credentials"]
    assert shown["metadata"]["token_endpoint_auth_method"] == "client_secret_basic"
    assert shown["metadata"]["client_name"] == "ops"


def test_admin_create_client_table_output(cli: Cli) -> None:
    out = cli.ok("admin", "create-client", "ops")
    assert out.splitlines()[0] == "admin client created: ops"
    assert out.count(SECRET_PREFIX) == 1
    [client] = cli.clients()
    assert f"client_id:     {client['client_id']}" in out


def test_admin_create_client_if_none_creates_only_one(cli: Cli) -> None:
    first = cli.json("admin", "create-client", "boot", "--if-none")
    before = cli.state()
    out = cli.ok("admin", "create-client", "boot", "--if-none")
    assert out == "an admin client exists already; not creating another\n"
    assert cli.state() == before
    assert [c["client_id"] for c in cli.clients()] == [first["client_id"]]


def test_admin_create_client_if_none_ignores_disabled_admins(cli: Cli) -> None:
    first = cli.json("admin", "create-client", "boot")
    cli.ok("clients", "disable", first["client_id"])
    second = cli.json("admin", "create-client", "boot", "--if-none")
    assert second["client_id"] != first["client_id"]
    assert len(cli.clients("--status", "active")) == 1


def test_admin_create_client_without_if_none_creates_another(cli: Cli) -> None:
    cli.json("admin", "create-client", "one")
    cli.json("admin", "create-client", "two")
    assert [c["metadata"]["client_name"] for c in cli.clients()] == ["one", "two"]


# --- bad input: one line on stderr naming the RFC error code, exit 2, nothing stored ---


@dataclass(frozen=True)
class World:
    """What the bad-input cases act on: a confidential web app allowed scope 'read', and a
    public app."""

    web: str
    web_secret: str
    public: str


@pytest.fixture
def world(settings: Settings) -> World:
    """Built through the services directly: the cases only need it to exist."""

    async def build() -> World:
        async with (
            standalone_resources(settings) as resources,
            unit_of_work(resources, SETUP_ACTOR) as services,
        ):
            await services.scopes.create("read", "Read")
            web = await services.clients.create(metadata(WEB_APP, scope="read"))
            public = await services.clients.create(NATIVE_APP)
        assert web.secret is not None
        return World(web.client.client_id, web.secret.record.id, public.client.client_id)

    return asyncio.run(build())


Args = Callable[[World], list[str]]
NO_SUCH = "no-such-client"


def _case(args: Args, error: str, case_id: str, stdin: Any = None) -> Any:
    return pytest.param(args, None if stdin is None else json.dumps(stdin), error, id=case_id)


def _create(*options: str) -> Args:
    return lambda w: ["clients", "create", "x", *options]


def _create_from_stdin(w: World) -> list[str]:
    return ["clients", "create", "--metadata", "-"]


BAD_INPUT: list[Any] = [
    # clients create
    _case(
        _create("--redirect-uri", "http://app.example.com/cb"),
        "invalid_redirect_uri",
        "http-redirect-not-loopback",
    ),
    _case(_create(), "invalid_redirect_uri", "code-grant-without-redirect"),
    _case(
        _create("--grant-type", "client_credentials", "--auth-method", "none"),
        "invalid_client_metadata",
        "public-client-credentials",
    ),
    _case(
        _create(
            "--redirect-uri",
            "http://127.0.0.1/cb",
            "--auth-method",
            "none",
            "--scope",
            "appward:admin",
        ),
        "invalid_client_metadata",
        "public-client-admin-scope",
    ),
    _case(_create("--grant-type", "password"), "invalid_client_metadata", "bad-grant"),
    _case(
        _create("--grant-type", "client_credentials", "--scope", "nope"),
        "invalid_client_metadata",
        "unknown-scope",
    ),
    _case(
        _create("--grant-type", "client_credentials", "--owner", ""),
        "invalid_input",
        "blank-owner",
    ),
    _case(
        _create_from_stdin,
        "invalid_client_metadata",
        "unknown-field",
        stdin=metadata(SERVICE, colour="blue"),
    ),
    _case(
        _create_from_stdin,
        "invalid_client_metadata",
        "ttl-below-bound",
        stdin=metadata(SERVICE, access_token_ttl=1),
    ),
    _case(
        _create("--grant-type", "client_credentials", "--set", "colour=blue"),
        "invalid_client_metadata",
        "create-set-unknown-field",
    ),
    _case(
        _create("--grant-type", "client_credentials", "--set", "logo_uri=not a uri"),
        "invalid_client_metadata",
        "create-set-invalid-uri",
    ),
    _case(
        _create("--grant-type", "client_credentials", "--set", "access_token_ttl=1"),
        "invalid_client_metadata",
        "create-set-ttl-below-bound",
    ),
    # clients list
    _case(lambda w: ["clients", "list", "--status", "gone"], "invalid_input", "bad-status"),
    _case(lambda w: ["clients", "list", "--source", "x"], "invalid_input", "bad-source"),
    _case(lambda w: ["clients", "list", "--limit", "201"], "invalid_input", "limit-201"),
    _case(lambda w: ["clients", "list", "--cursor", "forged!"], "invalid_input", "bad-cursor"),
    # clients show, update, disable, enable, delete
    _case(lambda w: ["clients", "show", NO_SUCH], "not_found", "show-unknown"),
    _case(
        lambda w: ["clients", "update", NO_SUCH, "--set", "client_name=x"],
        "not_found",
        "update-unknown",
    ),
    _case(
        lambda w: ["clients", "update", w.web, "--if-revision", "7", "--set", "client_name=x"],
        "precondition_failed",
        "update-stale-revision",
    ),
    _case(
        lambda w: ["clients", "update", w.web, "--set", "client_name=5"],
        "invalid_client_metadata",
        "update-name-not-a-string",
    ),
    _case(
        lambda w: ["clients", "update", w.web, "--set", 'redirect_uris=["http://evil.example"]'],
        "invalid_redirect_uri",
        "update-bad-redirect",
    ),
    _case(
        lambda w: ["clients", "update", w.web, "--set", "registration_source=dcr"],
        "invalid_client_metadata",
        "update-record-field",
    ),
    _case(
        lambda w: ["clients", "update", w.public, "--set", 'grant_types=["client_credentials"]'],
        "invalid_client_metadata",
        "update-public-to-client-credentials",
    ),
    _case(
        lambda w: ["clients", "update", w.web, "--set", "owner=5"],
        "invalid_input",
        "update-owner-not-a-string",
    ),
    _case(lambda w: ["clients", "disable", NO_SUCH], "not_found", "disable-unknown"),
    _case(lambda w: ["clients", "enable", NO_SUCH], "not_found", "enable-unknown"),
    _case(lambda w: ["clients", "delete", NO_SUCH], "not_found", "delete-unknown"),
    # secrets
    _case(lambda w: ["secrets", "add", w.public], "invalid_input", "secret-for-public-client"),
    _case(
        lambda w: ["secrets", "add", w.web, "--label", "l" * 101],
        "invalid_input",
        "secret-label-too-long",
    ),
    _case(
        lambda w: ["secrets", "add", w.web, "--expire-others-in", "-1"],
        "invalid_input",
        "negative-grace",
    ),
    _case(lambda w: ["secrets", "list", NO_SUCH], "not_found", "secrets-of-unknown"),
    _case(
        lambda w: ["secrets", "revoke", w.public, w.web_secret],
        "not_found",
        "revoke-another-clients-secret",
    ),
    # scopes
    _case(lambda w: ["scopes", "create", "two words", "d"], "invalid_input", "scope-space"),
    _case(lambda w: ["scopes", "create", "x", " "], "invalid_input", "scope-blank-text"),
    _case(lambda w: ["scopes", "create", "read", "again"], "conflict", "scope-duplicate"),
    _case(
        lambda w: ["scopes", "update", "nope", "--description", "d"],
        "not_found",
        "scope-update-unknown",
    ),
    _case(
        # The description change comes first and must be rolled back with the rest.
        lambda w: ["scopes", "update", "appward:admin", "--description", "x", "--not-admin-only"],
        "invalid_input",
        "admin-scope-not-admin-only",
    ),
    _case(lambda w: ["scopes", "delete", "read"], "conflict", "scope-in-use"),
    _case(lambda w: ["scopes", "delete", "appward:admin"], "conflict", "builtin-scope"),
    # audit
    _case(lambda w: ["audit", "--limit", "0"], "invalid_input", "audit-limit-0"),
    _case(lambda w: ["audit", "--cursor", "a2p4"], "invalid_input", "audit-bad-cursor"),
]


@pytest.mark.parametrize(("args", "stdin", "error"), BAD_INPUT)
def test_bad_input_prints_one_line_with_the_error_code_and_changes_nothing(
    cli: Cli, world: World, args: Args, stdin: str | None, error: str
) -> None:
    before = cli.state()
    line = cli.fails(*args(world), stdin=stdin)
    assert line.startswith(f"appward: {error}: ")
    assert len(line) > len(f"appward: {error}: ")
    assert cli.state() == before


LOCAL_BAD_INPUT: list[Any] = [
    pytest.param(
        ["clients", "create", "--metadata", "/nonexistent/client.json"],
        None,
        "cannot read JSON from /nonexistent/client.json",
        id="missing-metadata-file",
    ),
    pytest.param(
        ["clients", "create", "--metadata", "-"],
        "{not json",
        "cannot read JSON from -",
        id="metadata-not-json",
    ),
    pytest.param(
        ["clients", "create", "--metadata", "-"],
        "[]",
        "- must hold a JSON object",
        id="metadata-not-an-object",
    ),
    pytest.param(["clients", "update", "x"], None, "nothing to change", id="update-nothing"),
    pytest.param(
        ["clients", "update", "x", "--set", "client_name"],
        None,
        "--set takes field=value",
        id="set-without-equals",
    ),
    pytest.param(
        ["clients", "create", "x", "--set", "logo_uri"],
        None,
        "--set takes field=value",
        id="create-set-without-equals",
    ),
    pytest.param(
        ["audit", "--since", "yesterday"], None, "--since must be an ISO 8601", id="bad-since"
    ),
]


@pytest.mark.parametrize(("args", "stdin", "message"), LOCAL_BAD_INPUT)
def test_unusable_arguments_print_one_line_and_change_nothing(
    cli: Cli, args: list[str], stdin: str | None, message: str
) -> None:
    """Arguments the CLI itself cannot use: no RFC error code, but the same one-line form."""
    cli.create(SERVICE)
    before = cli.state()
    assert cli.fails(*args, stdin=stdin).startswith(f"appward: {message}")
    assert cli.state() == before


def test_bad_ip_san_names_the_field_plainly(cli: Cli) -> None:
    """The field is named as the caller wrote it, not after pydantic's union validator."""
    data = metadata(SERVICE, tls_client_auth_san_ip="nope")
    line = cli.fails("clients", "create", "--metadata", "-", stdin=json.dumps(data))
    assert line.startswith("appward: invalid_client_metadata: tls_client_auth_san_ip: ")


def test_client_id_starting_with_a_dash_is_usable_on_the_cli(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A regression test: ids once came from token_urlsafe and one in 64 began with '-'."""
    client_id = cli.create(SERVICE)["client_id"]
    assert client_id.isalnum()
    assert cli.json("clients", "show", client_id)["client_id"] == client_id


# --- dcr ---


def test_dcr_tokens_are_created_listed_and_revoked(cli: Cli) -> None:
    cli.ok("scopes", "create", "api:read", "Read the API")
    created = cli.json(
        "dcr",
        "create-token",
        "--label",
        "partner",
        "--max-uses",
        "3",
        "--expires-in",
        "3600",
        "--grant-type",
        "client_credentials",
        "--scope",
        "api:read",
    )
    assert created["token"].startswith("apwiat_")
    assert created["template"] == {"grant_types": ["client_credentials"], "scopes": ["api:read"]}
    assert created["max_uses"] == 3
    listed = cli.json("dcr", "tokens")["items"]
    assert [t["id"] for t in listed] == [created["id"]]
    assert created["token"] not in json.dumps(listed)
    table = cli.ok("dcr", "tokens")
    assert "partner" in table
    assert created["token"] not in table
    assert cli.ok("dcr", "revoke-token", created["id"]).strip().endswith("revoked")
    assert cli.json("dcr", "tokens")["items"][0]["revoked_at"] is not None
    actions = [e["action"] for e in cli.events()]
    assert "dcr:initial_access_token:created" in actions
    assert "dcr:initial_access_token:revoked" in actions
    assert created["token"] not in json.dumps(cli.events())


def test_dcr_token_shown_once_in_text_output(cli: Cli) -> None:
    out = cli.ok("dcr", "create-token")
    assert "initial access token: apwiat_" in out
    assert "shown once" in out


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (("create-token", "--scope", "appward:admin"), "invalid_input"),
        (("create-token", "--scope", "nonexistent"), "invalid_input"),
        (("create-token", "--grant-type", "password"), "invalid_input"),
        (("create-token", "--max-uses", "0"), "invalid_input"),
        (("revoke-token", "nosuchtoken"), "not_found"),
    ],
)
def test_dcr_bad_input_exits_2_naming_the_error(
    cli: Cli, args: tuple[str, ...], error: str
) -> None:
    assert f"appward: {error}:" in cli.fails("dcr", *args)
    assert cli.json("dcr", "tokens")["items"] == []


def test_json_output_is_the_admin_apis_shape(
    cli: Cli, settings: Settings, clock: FrozenClock
) -> None:
    """The CLI's --json prints what the admin API answers: both come from appward.presenters."""
    client_id = cli.create(WEB_APP)["client_id"]
    cli.ok("secrets", "add", client_id, "--label", "second")
    cli.ok("scopes", "create", "shape:read", "Read")
    user_id = cli.json(
        "users",
        "create",
        "shape-user",
        "--role",
        "developer",
        "--email",
        "shape@example.com",
        "--password-stdin",
        stdin="a long enough password\n",
    )["id"]
    printed = {
        f"/admin/v1/users/{user_id}": cli.json("users", "show", "shape-user"),
        f"/admin/v1/clients/{client_id}": cli.json("clients", "show", client_id),
        f"/admin/v1/clients/{client_id}/secrets": cli.json("secrets", "list", client_id),
        "/admin/v1/scopes": cli.json("scopes", "list"),
        "/admin/v1/users": cli.json("users", "list"),
    }

    async def answered() -> dict[str, Any]:
        async with open_api(settings, clock) as api:
            return {url: (await api.get(url)).json() for url in printed}

    assert printed == asyncio.run(answered())


# --- the client lifecycle: approval, verified, revoke-tokens, safe revoke ---


def portal_client(settings: Settings, scope: str) -> str:
    async def build() -> str:
        async with (
            standalone_resources(settings) as resources,
            unit_of_work(resources, SETUP_ACTOR) as services,
        ):
            change = await services.clients.create(
                metadata(SERVICE, scope=scope), registration_source="portal"
            )
        return change.client.client_id

    return asyncio.run(build())


def mark_used(settings: Settings, secret_id: str, when: datetime) -> None:
    async def write() -> None:
        async with (
            standalone_resources(settings) as resources,
            unit_of_work(resources, SETUP_ACTOR) as services,
        ):
            await services.session.execute(
                update(ClientSecret).where(ClientSecret.id == secret_id).values(last_used_at=when)
            )

    asyncio.run(write())


def test_a_sensitive_scope_puts_a_portal_client_in_the_queue_until_approved(
    cli: Cli, settings: Settings
) -> None:
    created = cli.json("scopes", "create", "payments", "Move money", "--sensitive")
    assert created["sensitive"] is True
    client_id = portal_client(settings, "payments")
    assert [c["client_id"] for c in cli.clients("--approval", "pending")] == [client_id]
    assert "pending" in cli.ok("clients", "show", client_id)

    assert cli.ok("clients", "approve", client_id) == f"client {client_id} is approved\n"

    assert cli.clients("--approval", "pending") == []
    assert cli.json("clients", "show", client_id)["approval"] == "approved"
    assert len(cli.events("--action", "client:approved")) == 1


def test_reject_needs_a_reason_that_is_then_shown(cli: Cli, settings: Settings) -> None:
    cli.ok("scopes", "create", "payments", "Move money")
    cli.ok("scopes", "update", "payments", "--sensitive")
    client_id = portal_client(settings, "payments")
    assert cli.run("clients", "reject", client_id).exit_code == 2  # --reason is required
    assert "reason" in cli.fails("clients", "reject", client_id, "--reason", " ")

    shown = cli.json("clients", "reject", client_id, "--reason", "No privacy policy")

    assert shown["approval"] == "rejected"
    assert shown["rejection_reason"] == "No privacy policy"
    assert [c["client_id"] for c in cli.clients("--approval", "rejected")] == [client_id]
    assert "not one of" not in cli.fails("clients", "list", "--approval", "maybe")


def test_verify_and_unverify(cli: Cli) -> None:
    client_id = cli.create(SERVICE)["client_id"]
    assert cli.ok("clients", "verify", client_id) == f"client {client_id} is verified\n"
    assert cli.json("clients", "show", client_id)["verified"] is True
    assert cli.json("clients", "verify", client_id, "--unverify")["verified"] is False
    actions = [e["action"] for e in cli.events()]
    assert "client:verified" in actions
    assert "client:unverified" in actions


def test_revoke_tokens_sets_tokens_not_before_and_keeps_the_client_active(cli: Cli) -> None:
    client_id = cli.create(SERVICE)["client_id"]
    shown = cli.json("clients", "revoke-tokens", client_id)
    assert shown["status"] == "active"
    assert shown["tokens_not_before"] is not None
    assert len(cli.events("--action", "client:tokens:revoked")) == 1
    assert "not_found" in cli.fails("clients", "revoke-tokens", "no-such-client")


def test_revoking_a_recently_used_secret_needs_confirm(cli: Cli, settings: Settings) -> None:
    created = cli.create(SERVICE)
    client_id, secret_id = created["client_id"], created["client_secret_id"]
    mark_used(settings, secret_id, datetime.now(UTC) - timedelta(minutes=5))

    refused = cli.fails("secrets", "revoke", client_id, secret_id)

    assert "confirmation_required" in refused
    assert "last used at" in refused
    assert "--confirm" in refused
    assert cli.secrets(client_id)[0]["usable"] is True
    cli.ok("secrets", "revoke", client_id, secret_id, "--confirm")
    assert cli.secrets(client_id)[0]["usable"] is False


def test_a_secret_unused_for_a_day_is_revoked_without_confirm(cli: Cli, settings: Settings) -> None:
    created = cli.create(SERVICE)
    client_id, secret_id = created["client_id"], created["client_secret_id"]
    mark_used(settings, secret_id, datetime.now(UTC) - timedelta(days=2))
    cli.ok("secrets", "revoke", client_id, secret_id)
    assert cli.secrets(client_id)[0]["usable"] is False


def test_list_filters_by_grant_type_and_owner_and_sorts_by_name(cli: Cli) -> None:
    cli.create(metadata(SERVICE, client_name="b-service"), "--owner", "ops")
    cli.create(metadata(WEB_APP, client_name="a-web"), "--owner", "ops")
    names = [c["metadata"]["client_name"] for c in cli.clients("--sort", "name")]
    assert names == ["a-web", "b-service"]
    assert [c["metadata"]["client_name"] for c in cli.clients("--sort=-name")] == names[::-1]
    only = cli.clients("--grant-type", "authorization_code", "--owner", "ops")
    assert [c["metadata"]["client_name"] for c in only] == ["a-web"]
    assert "sort" in cli.fails("clients", "list", "--sort", "size")


def test_preview_token_prints_the_claims_without_issuing(cli: Cli) -> None:
    cli.ok("scopes", "create", "read", "Read")
    client_id = cli.create(metadata(SERVICE, scope="read"))["client_id"]
    before = cli.events()
    shown = json.loads(cli.ok("clients", "preview-token", client_id, "--scope", "read"))
    assert shown["grant_type"] == "client_credentials"
    assert shown["claims"]["scope"] == "read"
    assert shown["claims"]["sub"] == client_id
    assert shown["claims"]["exp"] - shown["claims"]["iat"] == shown["lifetime"]
    assert cli.events() == before
    assert "invalid_scope" in cli.fails("clients", "preview-token", client_id, "--scope", "x")


def test_secrets_add_with_expires_at_sets_the_new_secrets_expiry(cli: Cli) -> None:
    client_id = cli.create(SERVICE)["client_id"]
    when = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)
    added = cli.json("secrets", "add", client_id, "--expires-at", when.isoformat())
    assert _parse_time(added["expires_at"]) == when
    assert added["client_secret_expires_at"] == int(when.timestamp())
    never = cli.json("secrets", "add", client_id, "--expires-at", "never")
    assert never["expires_at"] is None
    for refused in ("2020-01-01T00:00:00Z", "2030-01-01T00:00:00", "soon"):
        assert "expires" in cli.fails("secrets", "add", client_id, "--expires-at", refused)
