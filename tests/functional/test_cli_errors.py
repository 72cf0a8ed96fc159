"""What the CLI says when its environment, not its arguments, is wrong: a bad setting, a
database it cannot use, a data directory it cannot write. One line on stderr, exit code
2, never a traceback."""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from appward.cli import app
from appward.config import Settings
from tests.conftest import settings_env

# One command of each kind: read-only, changing credentials, keys, startup, schema.
COMMANDS = [
    pytest.param(["clients", "list"], id="clients-list"),
    pytest.param(["clients", "disable", "some-client"], id="clients-disable"),
    pytest.param(["keys", "rotate"], id="keys-rotate"),
    pytest.param(["serve", "--port", "1"], id="serve"),
]


@pytest.fixture(autouse=True)
def _never_serve(monkeypatch: pytest.MonkeyPatch) -> None:
    """`serve` must fail before it serves: were it to start, the test fails, not hangs."""

    def refuse(*_args: object, **_kw: object) -> None:
        raise AssertionError("serve started despite the bad environment")

    monkeypatch.setattr("uvicorn.run", refuse)


def invoke(env: dict[str, str | None], *args: str, stdin: str | None = None) -> Result:
    base: dict[str, str | None] = {k: None for k in os.environ if k.startswith("APPWARD_")}
    return CliRunner().invoke(app, list(args), env={**base, **env}, input=stdin)


def one_line_failure(result: Result) -> str:
    """Returns the one stderr line of a command that failed the CLI's way."""
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.output
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("appward: ")
    return line


def sqlite_env(tmp_path: Path, database: Path) -> dict[str, str | None]:
    return {
        "APPWARD_DATABASE_URL": f"sqlite+aiosqlite:///{database}",
        "APPWARD_DATA_DIR": str(tmp_path / "var"),
    }


@pytest.fixture
def migrated(tmp_path: Path, sqlite_template: Path) -> Path:
    database = tmp_path / "appward.db"
    shutil.copy(sqlite_template, database)
    return database


@pytest.mark.parametrize("command", COMMANDS)
def test_a_bad_setting_is_one_line_naming_the_variable(
    tmp_path: Path, migrated: Path, command: list[str]
) -> None:
    env = {**sqlite_env(tmp_path, migrated), "APPWARD_ISSUER": "not-a-url"}
    line = one_line_failure(invoke(env, *command))
    assert line.startswith("appward: invalid configuration: APPWARD_ISSUER: ")


@pytest.mark.parametrize("command", [["keys", "rotate"], ["serve", "--port", "1"]])
def test_a_malformed_key_encryption_key_is_one_line_without_the_key(
    tmp_path: Path, migrated: Path, command: list[str]
) -> None:
    key = "not-a-fernet-key-hunter2"
    env = {**sqlite_env(tmp_path, migrated), "APPWARD_KEY_ENCRYPTION_KEY": key}
    line = one_line_failure(invoke(env, *command))
    assert line.startswith("appward: invalid configuration: APPWARD_KEY_ENCRYPTION_KEY: ")
    assert key not in line


@pytest.mark.parametrize("command", COMMANDS)
def test_a_certificate_header_without_a_trusted_proxy_is_one_line_naming_both(
    tmp_path: Path, migrated: Path, command: list[str]
) -> None:
    """Security review F5: mutual TLS does not start believing loopback by default."""
    env = {**sqlite_env(tmp_path, migrated), "APPWARD_MTLS_CERTIFICATE_HEADER": "X-SSL-Client-Cert"}
    line = one_line_failure(invoke(env, *command))
    assert line.startswith("appward: invalid configuration: APPWARD_MTLS_CERTIFICATE_HEADER ")
    assert "APPWARD_MTLS_TRUSTED_PROXIES" in line


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("not a database url", id="unparseable"),
        pytest.param("nosuchdialect://user:hunter2@db/appward", id="unknown-dialect"),
        pytest.param("mysql+nosuchdriver://user:hunter2@db/appward", id="unknown-driver"),
    ],
)
@pytest.mark.parametrize("command", [*COMMANDS, pytest.param(["db", "upgrade"], id="db-upgrade")])
def test_an_unusable_database_url_is_one_line(tmp_path: Path, url: str, command: list[str]) -> None:
    env = {"APPWARD_DATABASE_URL": url, "APPWARD_DATA_DIR": str(tmp_path / "var")}
    line = one_line_failure(invoke(env, *command))
    assert line.startswith("appward: invalid configuration: APPWARD_DATABASE_URL: ")
    assert "hunter2" not in line


@pytest.mark.parametrize("command", COMMANDS)
def test_an_unreachable_database_is_one_line_with_the_password_masked(
    tmp_path: Path, command: list[str]
) -> None:
    env = {
        "APPWARD_DATABASE_URL": "postgresql+asyncpg://appward:hunter2@127.0.0.1:1/appward",
        "APPWARD_DATA_DIR": str(tmp_path / "var"),
    }
    line = one_line_failure(invoke(env, *command))
    assert line.startswith("appward: cannot reach the database at postgresql+asyncpg://appward:")
    assert "hunter2" not in line


@pytest.mark.parametrize("command", COMMANDS)
def test_a_database_never_migrated_says_to_upgrade_it(tmp_path: Path, command: list[str]) -> None:
    env = sqlite_env(tmp_path, tmp_path / "empty.db")
    line = one_line_failure(invoke(env, *command))
    assert line.endswith("has no schema yet: run `appward db upgrade`")


def test_a_database_refusing_the_work_is_one_line(tmp_path: Path, migrated: Path) -> None:
    with sqlite3.connect(migrated) as connection:
        connection.execute("DROP TABLE audit_events")
    line = one_line_failure(invoke(sqlite_env(tmp_path, migrated), "audit"))
    assert line.startswith("appward: the database refused: ")
    assert "audit_events" in line


def test_a_data_dir_that_cannot_be_made_is_one_line(tmp_path: Path, migrated: Path) -> None:
    (tmp_path / "file").write_text("")
    env = {**sqlite_env(tmp_path, migrated), "APPWARD_DATA_DIR": str(tmp_path / "file" / "var")}
    line = one_line_failure(invoke(env, "keys", "rotate"))
    assert str(tmp_path / "file") in line


def test_users_create_without_a_password_to_read_is_one_line(settings: Settings) -> None:
    result = invoke(dict(settings_env(settings)), "users", "create", "dana")
    assert result.exit_code == 2
    assert result.stdout.strip() == "Password:"  # the prompt, answered by the end of input
    [line] = result.stderr.splitlines()
    assert line.startswith("appward: no password given")
    assert "--password-stdin" in line
