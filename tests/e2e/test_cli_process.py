"""The installed ``appward`` command on its own: errors it must report in one line."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import APPWARD, environment, free_port

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
