"""The CLI's user and key commands."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from appward.cli import app
from tests.conftest import settings_env


def run(settings, *args: str, stdin: str | None = None):
    return CliRunner().invoke(app, list(args), env=settings_env(settings), input=stdin)


def test_users_create_and_list(settings):
    created = run(
        settings,
        "users",
        "create",
        "alice",
        "--password-stdin",
        "--json",
        stdin="correct horse battery\n",
    )
    assert created.exit_code == 0, created.output
    assert json.loads(created.stdout)["username"] == "alice"
    listed = json.loads(run(settings, "users", "list", "--json").stdout)
    assert [u["username"] for u in listed["items"]] == ["alice"]
    events = json.loads(run(settings, "audit", "--action", "user:created", "--json").stdout)
    assert [(e["target"], e["actor"].startswith("cli:")) for e in events["items"]] == [
        ("alice", True)
    ]
    assert "correct horse" not in json.dumps(events)


def test_users_create_refuses_a_short_password_and_a_duplicate(settings):
    short = run(settings, "users", "create", "bob", "--password-stdin", stdin="short\n")
    assert short.exit_code == 2
    assert short.stderr.startswith("appward: invalid_input:")
    run(settings, "users", "create", "bob", "--password-stdin", stdin="long enough pw\n")
    again = run(settings, "users", "create", "bob", "--password-stdin", stdin="long enough pw\n")
    assert again.exit_code == 2
    assert "conflict" in again.stderr


def test_keys_rotate_adds_a_signing_key(settings):
    first = run(settings, "keys", "rotate")
    second = run(settings, "keys", "rotate")
    assert first.exit_code == second.exit_code == 0
    assert first.stdout != second.stdout


def test_users_create_refuses_a_name_differing_only_in_case(settings):
    first = run(settings, "users", "create", "Carol", "--password-stdin", stdin="long enough pw\n")
    assert first.exit_code == 0, first.output
    again = run(settings, "users", "create", "carol", "--password-stdin", stdin="long enough pw\n")
    assert again.exit_code == 2
    assert again.stderr.startswith("appward: conflict:")
    listed = json.loads(run(settings, "users", "list", "--json").stdout)
    assert [u["username"] for u in listed["items"]] == ["Carol"]


def create(settings, username: str, *options: str) -> dict:
    created = run(
        settings,
        "users",
        "create",
        username,
        "--password-stdin",
        "--json",
        *options,
        stdin="correct horse battery\n",
    )
    assert created.exit_code == 0, created.output
    return json.loads(created.stdout)


def test_users_create_with_a_role_and_an_email_and_list_shows_them(settings):
    admin = create(settings, "root", "--role", "admin", "--email", "root@example.com")
    assert (admin["role"], admin["email"], admin["email_verified"]) == (
        "admin",
        "root@example.com",
        False,
    )
    create(settings, "plain")
    table = run(settings, "users", "list").stdout
    assert "ROLE" in table
    assert "EMAIL" in table
    assert "DISABLED" in table
    assert "admin" in table
    assert "root@example.com" in table
    assert "none" in table


def test_users_set_role_disable_enable_end_sessions_and_delete(settings):
    created = create(settings, "dora")
    changed = json.loads(run(settings, "users", "set-role", "DORA", "developer", "--json").stdout)
    assert changed["role"] == "developer"
    assert changed["id"] == created["id"]
    cleared = json.loads(run(settings, "users", "set-role", "dora", "none", "--json").stdout)
    assert cleared["role"] is None
    disabled = json.loads(run(settings, "users", "disable", "dora", "--json").stdout)
    assert disabled["disabled_at"] is not None
    enabled = json.loads(run(settings, "users", "enable", "dora", "--json").stdout)
    assert enabled["disabled_at"] is None
    ended = run(settings, "users", "end-sessions", "dora", "--json")
    assert json.loads(ended.stdout) == {"sessions_ended": 0}
    verified = run(settings, "users", "set-email", "dora", "d@example.com", "--verified", "--json")
    assert json.loads(verified.stdout)["email_verified"] is True
    refused = run(settings, "users", "delete", "dora")
    assert refused.exit_code == 2
    assert "--yes" in refused.stderr
    assert run(settings, "users", "delete", "dora", "--yes").exit_code == 0
    assert json.loads(run(settings, "users", "list", "--json").stdout)["items"] == []
    events = json.loads(run(settings, "audit", "--limit", "50", "--json").stdout)["items"]
    assert [e["action"] for e in events] == [
        "account:deleted",
        "account:updated",
        "account:sessions:ended",
        "account:enabled",
        "account:disabled",
        "account:role:changed",
        "account:role:changed",
        "user:created",
    ]


def test_users_commands_refuse_bad_input_naming_the_error(settings):
    create(settings, "erin")
    cases = [
        (("users", "set-role", "erin", "root"), "invalid_input"),
        (("users", "create", "eve", "--role", "owner", "--password-stdin"), "invalid_input"),
        (("users", "set-email", "erin", "not-an-address"), "invalid_input"),
        (("users", "disable", "nobody"), "not_found"),
        (("users", "delete", "nobody", "--yes"), "not_found"),
        (("users", "end-sessions", "nobody"), "not_found"),
        (("users", "show", "nobody"), "not_found"),
    ]
    for args, error in cases:
        result = run(settings, *args, stdin="correct horse battery\n")
        assert result.exit_code == 2, (args, result.output)
        assert result.stderr.startswith(f"appward: {error}:"), (args, result.stderr)
    listed = json.loads(run(settings, "users", "list", "--json").stdout)["items"]
    assert [(u["username"], u["role"], u["email"]) for u in listed] == [("erin", None, None)]


def test_the_last_admin_account_keeps_its_role_and_stays(settings):
    run(
        settings,
        "users",
        "create",
        "ada",
        "--role",
        "admin",
        "--password-stdin",
        stdin="long enough pw\n",
    )
    for args in (("set-role", "ada", "none"), ("disable", "ada"), ("delete", "ada", "--yes")):
        refused = run(settings, "users", *args)
        assert refused.exit_code == 2
        assert refused.stderr.startswith("appward: conflict: this is the last active admin account")
    listed = json.loads(run(settings, "users", "list", "--json").stdout)["items"]
    assert [(u["role"], u["disabled_at"]) for u in listed] == [("admin", None)]
