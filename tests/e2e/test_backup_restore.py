"""Backups and restore, as docs/deployment.md tells an operator to do them: the embedded
database copied with `appward db backup` while the server answers token requests, and
PostgreSQL dumped with pg_dump and restored with pg_restore into a new database. A server
on the restored database, with the same key-encryption key, accepts the secrets and
verifies the tokens of before the backup, and knows nothing made after it."""

from __future__ import annotations

import contextlib
import secrets
import subprocess
import threading
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy.engine import make_url

from appward.config import Settings
from tests.conftest import POSTGRES_URL, settings_env
from tests.e2e.conftest import appward, environment, server_process, serving
from tests.e2e.test_assertion_replay import admin_token
from tests.factories import SERVICE

pytestmark = pytest.mark.e2e


def token(http: httpx.Client, client: dict[str, Any]) -> httpx.Response:
    return http.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=(client["client_id"], client["client_secret"]),
    )


def test_a_restored_backup_serves_what_it_held(settings: Settings, workdir: Path) -> None:
    with serving(settings, workdir) as (base, admin), httpx.Client(base_url=base) as http:
        auth = admin_token(http, admin)
        created = http.post("/admin/v1/clients", json=SERVICE, headers=auth)
        assert created.status_code == 201, created.text
        kept = created.json()
        issued = token(http, kept).json()["access_token"]
        with busy(base, kept) as answered:  # the backup is taken while requests are served
            restored_env = back_up(settings, workdir)
        assert answered, "no request was answered while the backup ran"
        assert set(answered) == {200}, answered
        later = http.post("/admin/v1/clients", json=SERVICE, headers=auth).json()

    with contextlib.ExitStack() as stack:
        restored_dir = workdir / "restored"
        restored_dir.mkdir(exist_ok=True)
        env = environment(restored_env)
        base, _ = stack.enter_context(server_process(restored_dir, env, name="restored"))
        http = stack.enter_context(httpx.Client(base_url=base))
        assert token(http, kept).status_code == 200  # its argon2id hash came back
        assert token(http, admin).status_code == 200
        # A token signed before the backup verifies with the restored server's keys.
        keys = jwt.PyJWKSet.from_dict(http.get("/oauth2/jwks").json())
        kid = jwt.get_unverified_header(issued)["kid"]
        key = next(k for k in keys.keys if k.key_id == kid)
        claims = jwt.decode(
            issued,
            key.key,
            algorithms=[key.algorithm_name],
            audience=None,
            options={"verify_aud": False},
        )
        assert claims["client_id"] == kept["client_id"]
        # What was made after the backup is not there.
        assert token(http, later).status_code == 401


@contextlib.contextmanager
def busy(base: str, client: dict[str, Any]):  # type: ignore[no-untyped-def]
    """Sends token requests in a loop until the block ends; yields their statuses."""
    statuses: list[int] = []
    stop = threading.Event()

    def load() -> None:
        with httpx.Client(base_url=base, timeout=10.0) as http:
            while not stop.is_set():
                statuses.append(token(http, client).status_code)

    thread = threading.Thread(target=load, daemon=True)
    thread.start()
    try:
        yield statuses
    finally:
        stop.set()
        thread.join(timeout=15)


def back_up(settings: Settings, workdir: Path) -> dict[str, str]:
    """Backs the database up and restores it as the docs say; returns the APPWARD_*
    environment of a server on the restored copy (the same key-encryption key)."""
    env = settings_env(settings)
    restored_dir = workdir / "restored"
    restored_dir.mkdir()
    env["APPWARD_DATA_DIR"] = str(restored_dir / "var")
    if settings.database_url.startswith("sqlite"):
        copy = workdir / "appward-backup.db"
        appward(workdir, environment(settings_env(settings)), "db", "backup", str(copy))
        # Restore: the copy becomes the new server's database file.
        (restored_dir / "var").mkdir(mode=0o700)
        copy.rename(restored_dir / "var" / "appward.db")
        env["APPWARD_DATABASE_URL"] = f"sqlite+aiosqlite:///{restored_dir / 'var' / 'appward.db'}"
        return env
    assert POSTGRES_URL
    url = make_url(POSTGRES_URL)
    target = f"appward_restore_{secrets.token_hex(4)}"
    connection = [
        "-h",
        url.host or "127.0.0.1",
        "-p",
        str(url.port or 5432),
        "-U",
        url.username or "root",
    ]
    dump = workdir / "appward.dump"
    run(
        "pg_dump",
        *connection,
        "--format=custom",
        f"--schema={settings.database_schema}",
        f"--file={dump}",
        url.database or "test",
    )
    run("createdb", *connection, target)
    _restored_databases.append((connection, target))
    # A dump of one schema leaves out the extensions, which live in public: the new
    # database gets pg_trgm (migration 0012's indexes) first, as the docs say.
    run(
        "psql",
        *connection,
        "-d",
        target,
        "-qc",
        "CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public",
    )
    run("pg_restore", *connection, "--no-owner", f"--dbname={target}", str(dump))
    env["APPWARD_DATABASE_URL"] = url.set(database=target).render_as_string(hide_password=False)
    return env


_restored_databases: list[tuple[list[str], str]] = []


@pytest.fixture(autouse=True)
def _drop_restored_databases():  # type: ignore[no-untyped-def]
    yield
    while _restored_databases:
        connection, name = _restored_databases.pop()
        run("dropdb", *connection, "--force", name)


def run(*command: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, (command, done.stdout, done.stderr)
