"""Real processes for e2e tests: the installed ``appward`` command, a served app."""

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

APPWARD = Path(sys.executable).with_name("appward")
HOST = "127.0.0.1"
START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0


def environment(extra: dict[str, str]) -> dict[str, str]:
    """The current environment without any APPWARD_* variable, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("APPWARD_")}
    return {**env, **extra}


def appward(cwd: Path, env: dict[str, str], *args: str) -> str:
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


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def stop(process: subprocess.Popen[bytes]) -> None:
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


def wait_until_serving(base_url: str, process: subprocess.Popen[bytes], log: Path) -> None:
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
    env = environment(settings_env(settings))
    # The database is migrated already: upgrading again is a no-op that succeeds.
    assert appward(workdir, env, "db", "upgrade").strip() == "database is up to date"
    admin = json.loads(appward(workdir, env, "admin", "create-client", "boot", "--json"))
    port = free_port()
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
        wait_until_serving(base_url, process, log)
        yield base_url, admin
    finally:
        stop(process)
