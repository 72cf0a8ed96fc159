"""`appward clients import`: many clients from JSON lines, all or none, on both databases."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.factories import NATIVE_APP, SERVICE, WEB_APP, metadata
from tests.functional import test_cli
from tests.functional.test_cli import Cli

cli = test_cli.cli  # the fixture


def _lines(*clients: dict[str, Any]) -> str:
    return "".join(json.dumps(client) + "\n" for client in clients)


def test_import_registers_every_line_with_generated_client_ids(cli: Cli, tmp_path: Path) -> None:
    cli.ok("scopes", "create", "read", "Read things")
    clients = [
        metadata(NATIVE_APP, client_name=f"Phone {n}", scope="read", owner=f"team-{n % 2}")
        for n in range(7)
    ]
    file = tmp_path / "clients.jsonl"
    # A blank line (a trailing one, say) is no client.
    file.write_text(_lines(*clients) + "\n")

    assert cli.ok("clients", "import", str(file)) == "imported 7 clients\n"

    listed = cli.clients("--sort", "name")
    assert [c["metadata"]["client_name"] for c in listed] == [f"Phone {n}" for n in range(7)]
    for client in listed:
        assert client["metadata"]["scope"] == "read"
        assert client["metadata"]["token_endpoint_auth_method"] == "none"
        assert client["registration_source"] == "admin"
        assert client["status"] == "active"
        assert client["approval"] == "approved"
        assert client["client_id"].isalnum()
        assert len(client["client_id"]) == 24
    assert {c["owner"] for c in listed} == {"team-0", "team-1"}


def test_import_json_names_each_new_client_in_line_order(cli: Cli) -> None:
    stdin = _lines(metadata(NATIVE_APP, client_name="First"), metadata(SERVICE))
    body = cli.json("clients", "import", "-", stdin=stdin)
    assert body["imported"] == 2
    assert body["without_secret"] == 1
    first, second = body["client_ids"]
    assert cli.json("clients", "show", first)["metadata"]["client_name"] == "First"
    assert cli.json("clients", "show", second)["metadata"]["client_name"] == "Billing Service"


def test_import_writes_one_audit_event_per_client(cli: Cli) -> None:
    stdin = _lines(metadata(WEB_APP, client_name="A"), metadata(NATIVE_APP, client_name="B"))
    client_ids = cli.json("clients", "import", "-", stdin=stdin)["client_ids"]

    events = cli.events("--action", "client:imported")
    assert sorted(e["client_id"] for e in events) == sorted(client_ids)
    by_client = {e["client_id"]: e for e in events}
    first = by_client[client_ids[0]]
    assert first["actor"].startswith("cli:")
    assert first["changes"]["client_name"] == "A"
    assert first["changes"]["redirect_uris"] == WEB_APP["redirect_uris"]
    assert first["changes"]["registration_source"] == "admin"
    assert by_client[client_ids[1]]["changes"]["client_name"] == "B"


def test_a_confidential_client_is_imported_without_a_secret(cli: Cli) -> None:
    out = cli.ok("clients", "import", "-", stdin=_lines(SERVICE, NATIVE_APP))
    assert out.splitlines() == [
        "imported 2 clients",
        "1 of them use a client secret and have none yet: issue one with "
        "`appward secrets add CLIENT_ID`",
    ]
    assert test_cli.SECRET_PREFIX not in out
    [service] = cli.clients("--name", "Billing")
    assert cli.secrets(service["client_id"]) == []
    assert cli.events("--action", "client:secret:added") == []
    # The way to give it one: its first secret, shown once.
    added = cli.json("secrets", "add", service["client_id"])
    assert added["client_secret"].startswith(test_cli.SECRET_PREFIX)


def test_a_bad_line_refuses_the_whole_import_naming_its_number(cli: Cli, monkeypatch: Any) -> None:
    # Batches of two: lines 1-2 are inserted before line 4 is read, and still not kept.
    monkeypatch.setattr("appward.clients.service.IMPORT_BATCH", 2)
    good = [metadata(NATIVE_APP, client_name=f"Phone {n}") for n in range(4)]
    bad = metadata(WEB_APP, redirect_uris=["http://evil.example/cb#fragment"])
    stdin = _lines(*good[:3], bad, good[3])

    error = cli.fails("clients", "import", "-", stdin=stdin)
    assert error.startswith("appward: invalid_redirect_uri: line 4: redirect_uris[0]")
    assert cli.clients() == []
    assert cli.events() == []


def test_bad_lines_of_each_kind_are_refused_with_their_number(cli: Cli) -> None:
    first = _lines(NATIVE_APP)
    cases = {
        "not json{": "invalid_client_metadata: line 2: not JSON",
        "[1, 2]": "invalid_client_metadata: line 2: client metadata must be a JSON object",
        json.dumps(metadata(SERVICE, colour="red")): "line 2: colour: is not a known client",
        json.dumps(metadata(SERVICE, scope="nope")): "line 2: scope: unknown scope(s) nope",
        json.dumps(metadata(SERVICE, owner=7)): "invalid_input: line 2: owner must be",
    }
    for line, expected in cases.items():
        error = cli.fails("clients", "import", "-", stdin=first + line + "\n")
        assert expected in error, (line, error)
    assert cli.clients() == []


def test_import_of_a_missing_file_fails_cleanly(cli: Cli, tmp_path: Path) -> None:
    error = cli.fails("clients", "import", str(tmp_path / "nope.jsonl"))
    assert error.startswith("appward: cannot read ")
    assert cli.clients() == []


def test_an_import_larger_than_one_batch_stores_every_client(
    cli: Cli, tmp_path: Path, monkeypatch: Any
) -> None:
    monkeypatch.setattr("appward.clients.service.IMPORT_BATCH", 3)
    stdin = _lines(*(metadata(NATIVE_APP, client_name=f"P{n:02d}") for n in range(8)))
    assert cli.json("clients", "import", "-", stdin=stdin)["imported"] == 8
    names = [c["metadata"]["client_name"] for c in cli.clients("--sort", "name")]
    assert names == [f"P{n:02d}" for n in range(8)]
    assert len(cli.events("--action", "client:imported")) == 8
