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
