"""Real processes for e2e tests: the installed ``appward`` command, a served app."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet

from appward.audit import Actor
from appward.config import Settings
from appward.migrations import upgrade
from appward.services import standalone_resources, unit_of_work
from tests.conftest import FAST_ARGON2, POSTGRES_URL, settings_env
from tests.conftest import _pg_execute as pg_execute

HERE = Path(__file__).parent
APPWARD = Path(sys.executable).with_name("appward")
HOST = "127.0.0.1"
# Generous: on a loaded machine uvicorn's 5 s worker health check can kill and respawn a
# worker still importing the app a few times before both serve.
START_TIMEOUT = 60.0
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


def create_admin(settings: Settings) -> dict[str, str]:
    """Creates an admin client in the migrated database, in this process (a CLI run costs
    a process start, which on a loaded machine takes seconds); returns its credentials."""

    async def create() -> dict[str, str]:
        async with (
            standalone_resources(settings) as resources,
            unit_of_work(resources, Actor("cli:e2e")) as services,
        ):
            change = await services.clients.create_admin_client("boot")
        assert change.secret is not None
        return {"client_id": change.client.client_id, "client_secret": change.secret.plaintext}

    return asyncio.run(create())


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
    with serving(settings, workdir) as served:
        yield served


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def module_server(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    sqlite_template: Path,
) -> Iterator[tuple[str, dict[str, Any]]]:
    """As ``server``, but one per test module and database: for tests slow to set up
    (a browser each) that keep apart by their own users and clients, not a clean slate.
    PostgreSQL gets a schema of its own, so no other test's cleaning reaches it."""
    root = tmp_path_factory.mktemp("module-server")
    workdir = root / "work"
    workdir.mkdir()
    if request.param == "sqlite":
        path = root / "appward.db"
        shutil.copy(sqlite_template, path)
        with serving(module_settings(f"sqlite+aiosqlite:///{path}", None, root), workdir) as s:
            yield s
        return
    request.getfixturevalue("postgres_schema")  # skips or fails as the database fixture does
    assert POSTGRES_URL
    schema = f"appward_module_{os.getpid()}_{secrets.token_hex(3)}"
    pg_execute(f"CREATE SCHEMA {schema}")
    try:
        upgrade(POSTGRES_URL, schema)
        with serving(module_settings(POSTGRES_URL, schema, root), workdir) as served:
            yield served
    finally:
        pg_execute(f"DROP SCHEMA {schema} CASCADE")


def module_settings(url: str, schema: str | None, root: Path) -> Settings:
    return Settings(
        database_url=url,
        database_schema=schema,
        data_dir=root / "var",
        key_encryption_key=Fernet.generate_key().decode(),
        **FAST_ARGON2,  # type: ignore[arg-type]
    )


@contextlib.contextmanager
def serving(
    settings: Settings, workdir: Path, extra_env: dict[str, str] | None = None
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Migrates (a no-op when done), creates a bootstrap admin and serves the app with two
    workers until the block ends. Yields the base URL and the admin's credentials.
    ``extra_env``: more APPWARD_* settings (SMTP, the portal's sign-up mode)."""
    env = environment({**settings_env(settings), **(extra_env or {})})
    # The database is migrated already: upgrading again is a no-op that succeeds.
    assert appward(workdir, env, "db", "upgrade").strip() == "database is up to date"
    admin = json.loads(appward(workdir, env, "admin", "create-client", "boot", "--json"))
    with server_process(workdir, env) as (base_url, _):
        yield base_url, admin


@contextlib.contextmanager
def server_process(
    workdir: Path,
    env: dict[str, str],
    *,
    workers: int = 2,
    name: str = "server",
    port: int | None = None,
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``appward serve`` on ``port`` (a free loopback port by default), in a process group
    of its own (a test may signal or kill it whole), stopped when the block ends; output
    appended to <name>.log. Yields its base URL and the process, once it answers."""
    with server_processes(workdir, env, [name], workers=workers, ports=[port]) as [served]:
        yield served


@contextlib.contextmanager
def server_processes(
    workdir: Path,
    env: dict[str, str],
    names: list[str],
    *,
    workers: int = 2,
    ports: list[int | None] | None = None,
) -> Iterator[list[tuple[str, subprocess.Popen[bytes]]]]:
    """As server_process, for several servers started side by side (a start costs
    seconds on a loaded machine): one per name, each with its <name>.log."""
    started: list[tuple[str, subprocess.Popen[bytes], Path]] = []
    try:
        for name, port in zip(names, ports or [None] * len(names), strict=True):
            port = port or free_port()
            log = workdir / f"{name}.log"
            with log.open("ab") as out:
                process = subprocess.Popen(
                    [
                        *(str(APPWARD), "serve", "--host", HOST, "--port", str(port)),
                        *("--workers", str(workers)),
                    ],
                    cwd=workdir,
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            started.append((f"http://{HOST}:{port}", process, log))
        for base_url, process, log in started:
            wait_until_serving(base_url, process, log)
        yield [(base_url, process) for base_url, process, _ in started]
    finally:
        for _, process, _ in started:
            stop(process)


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
# Without the background-networking flags Chromium keeps calling home, which this
# machine's closed network refuses many times a second.
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)


@contextlib.contextmanager
def chromium(*extra_flags: str) -> Iterator[Any]:
    """Debian's Chromium through chromedriver, headless, with a fresh profile and the
    browser console kept; skipped (or failed, with APPWARD_REQUIRE_BROWSER=1) without it."""
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        if os.environ.get("APPWARD_REQUIRE_BROWSER") == "1":
            pytest.fail("Chromium is required (APPWARD_REQUIRE_BROWSER=1) but not installed")
        pytest.skip(
            "Chromium and chromedriver are not installed (apt-get install chromium chromium-driver)"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="appward-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*CHROMIUM_FLAGS, *extra_flags, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(20)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
