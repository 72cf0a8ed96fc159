"""Real processes: the installed ``appward`` command migrates, bootstraps and serves."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from appward.config import Settings
from tests.conftest import settings_env
from tests.factories import SERVICE

pytestmark = pytest.mark.e2e

APPWARD = Path(sys.executable).with_name("appward")
HOST = "127.0.0.1"
START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0


def _environment(extra: dict[str, str]) -> dict[str, str]:
    """The current environment without any APPWARD_* variable, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("APPWARD_")}
    return {**env, **extra}


def _appward(cwd: Path, env: dict[str, str], *args: str) -> str:
    """Runs one ``appward`` command to completion; returns its stdout."""
    done = subprocess.run(
        [str(APPWARD), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done.stdout


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL to the server's own process group if it does not stop in time."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=STOP_TIMEOUT)
    # A worker the supervisor left behind; the group is the server's alone.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def _wait_until_serving(base_url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"server exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{base_url}/openapi.json", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail(f"server did not answer within {START_TIMEOUT}s:\n{log.read_text()}")


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    path = tmp_path / "work"
    path.mkdir()
    return path


@pytest.fixture
def server(settings: Settings, workdir: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """A migrated database with a bootstrap admin, served by two worker processes.

    Yields the base URL and the admin client's credentials.
    """
    env = _environment(settings_env(settings))
    # The database is migrated already: upgrading again is a no-op that succeeds.
    assert _appward(workdir, env, "db", "upgrade").strip() == "database is up to date"
    admin = json.loads(_appward(workdir, env, "admin", "create-client", "boot", "--json"))
    port = _free_port()
    base_url = f"http://{HOST}:{port}"
    log = workdir / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(APPWARD), "serve", "--host", HOST, "--port", str(port), "--workers", "2"],
            cwd=workdir,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_until_serving(base_url, process, log)
        yield base_url, admin
    finally:
        _stop(process)


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
    env = _environment({})
    assert not (workdir / "var").exists()
    _appward(workdir, env, "db", "upgrade")
    assert (workdir / "var" / "appward.db").is_file()

    first = _appward(workdir, env, "admin", "create-client", "bootstrap-admin", "--if-none")
    assert first.startswith("admin client created: bootstrap-admin")
    second = _appward(workdir, env, "admin", "create-client", "bootstrap-admin", "--if-none")
    assert second.strip() == "an admin client exists already; not creating another"

    [admin] = json.loads(_appward(workdir, env, "clients", "list", "--json"))["items"]
    assert admin["metadata"]["client_name"] == "bootstrap-admin"
    assert admin["metadata"]["scope"] == "appward:admin"
