"""The installed ``appward`` command on its own: errors it must report in one line."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import APPWARD, HOST, environment, free_port, stop, wait_until_serving

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("command", [("db", "upgrade"), ("clients", "list")])
def test_unreachable_database_is_one_line_with_the_password_masked(
    workdir: Path, command: tuple[str, ...]
) -> None:
    # A loopback port nothing listens on: free_port() bound it and let it go.
    url = f"postgresql+asyncpg://appward:hunter2-secret@127.0.0.1:{free_port()}/appward"
    done = subprocess.run(
        [str(APPWARD), *command],
        cwd=workdir,
        env=environment({"APPWARD_DATABASE_URL": url}),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    [line] = done.stderr.splitlines()
    assert line.startswith("appward: cannot reach the database at postgresql+asyncpg://appward:")
    assert "127.0.0.1" in line
    assert "hunter2-secret" not in line


@pytest.mark.parametrize(
    ("entry", "variable", "value"),
    [
        pytest.param([str(APPWARD)], "APPWARD_ISSUER", "not-a-url", id="appward-bad-setting"),
        pytest.param(
            [sys.executable, "-m", "appward"],
            "APPWARD_KEY_ENCRYPTION_KEY",
            "not-a-fernet-key",
            id="python-m-bad-key",
        ),
    ],
)
def test_a_bad_setting_is_one_line_and_exit_code_2(
    workdir: Path, entry: list[str], variable: str, value: str
) -> None:
    done = subprocess.run(
        [*entry, "keys", "rotate"],
        cwd=workdir,
        env=environment({variable: value}),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    [line] = done.stderr.splitlines()
    assert line.startswith(f"appward: invalid configuration: {variable}: ")
    assert value not in line


def test_the_data_dir_and_its_files_are_private_to_their_owner(workdir: Path) -> None:
    """Under the usual umask 022, the default ./var (embedded database, generated key
    files, epoch file) is created 0700 and every file in it 0600, the database's -wal
    and -shm files included."""
    env = environment({"APPWARD_ARGON2_MEMORY_COST_KIB": "64", "APPWARD_ARGON2_TIME_COST": "1"})

    def run(*args: str) -> None:
        done = subprocess.run(
            [str(APPWARD), *args],
            cwd=workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            umask=0o022,
        )
        assert done.returncode == 0, (args, done.stdout, done.stderr)

    run("db", "upgrade")
    run("admin", "create-client", "boot")  # a key file, and the epoch file it bumps
    port = free_port()
    log = workdir / "server.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [str(APPWARD), "serve", "--host", HOST, "--port", str(port)],
            cwd=workdir,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            umask=0o022,
        )
    try:
        wait_until_serving(f"http://{HOST}:{port}", server, log)  # the session key, the WAL
        # While serving, so SQLite's -wal and -shm files are there too.
        files = _modes(workdir / "var")
    finally:
        stop(server)

    assert stat.S_IMODE((workdir / "var").stat().st_mode) == 0o700
    expected = {"appward.db", "appward.db-wal", "appward.db-shm", "key-encryption.key"}
    assert expected | {"session.key", "credentials.epoch"} <= set(files), files
    assert files == dict.fromkeys(files, 0o600)
    files = _modes(workdir / "var")  # and after the server has stopped
    assert files == dict.fromkeys(files, 0o600)


def _modes(directory: Path) -> dict[str, int]:
    return {p.name: stat.S_IMODE(p.stat().st_mode) for p in directory.iterdir()}
