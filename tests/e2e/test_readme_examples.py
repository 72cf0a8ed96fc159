"""The README's and docs/' shell examples, run as pasted against a live server.

Every ```sh block of README.md and docs/*.md runs, in document order, in ONE bash process
(``set -euo pipefail``, so variables carry from block to block and the first failing
command stops the run), in a fresh directory where ``.venv/bin`` is this test's venv,
against a server started the way ``make run`` starts one: ``appward db upgrade``,
``appward admin create-client bootstrap-admin --if-none``, ``appward serve``, embedded
SQLite in ``./var/``, no APPWARD_* variable but those listed below.

A block that cannot run as-is says why in an HTML comment on the line before it:

    <!-- not run: why -->
    ```sh

and is pinned in ``NOT_RUN`` below, so the list stays short and deliberate.

What the harness does that a reader does by hand, and nothing else:

- it serves on a free loopback port instead of 8000, so ``AS=http://127.0.0.1:8000``
  becomes that address (and ``APPWARD_ISSUER`` matches it, as the default matches 8000);
- ``CLIENT_ID=... CLIENT_SECRET=...`` gets the values the bootstrap command printed,
  read from its output the way a reader copies them;
- a not-run block of the form ``APPWARD_X=value make run`` ("start the server with X")
  makes the harness start its server with ``APPWARD_X=value``.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from appward.tokens.keys import load_key_encryption
from tests.e2e.conftest import HOST, environment, free_port, stop, wait_until_serving

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
MARKER = re.compile(r"^<!--\s*not run:\s*(?P<reason>\S.*?)\s*-->$")
START_WITH = re.compile(r"^(?P<env>(?:APPWARD_[A-Z0-9_]+=\S+\s+)+)make run$")
README_ADDRESS = "AS=http://127.0.0.1:8000"
README_CREDENTIALS = "CLIENT_ID=...   CLIENT_SECRET=..."
RUN_TIMEOUT = 300

# (document, start of the block's first line): each one's reason is beside it, in the document.
NOT_RUN = {
    ("README.md", "make run    # creates .venv"),
    ("README.md", "APPWARD_TEST_POSTGRES_URL="),
    ("README.md", "APPWARD_DCR_MODES=initial_access_token make run"),
    ("deployment.md", "# Once, at installation: generate"),
    ("deployment.md", "pg_dump --format=custom"),
    ("performance.md", "make bench "),
    ("performance.md", ".venv/bin/python bench/console_list.py"),
    ("performance.md", "APPWARD_BENCH_HARNESS="),
    ("performance.md", "PYTHONPATH=src .venv/bin/python bench/scale.py --keep"),
}


@dataclass(frozen=True)
class Block:
    document: Path
    line: int  # of the opening fence, 1-based
    text: str
    not_run: str | None  # the reason given, when the block is not run

    @property
    def where(self) -> str:
        return f"{self.document.relative_to(ROOT)}:{self.line}"


def shell_blocks(document: Path) -> list[Block]:
    """Returns the ```sh blocks of ``document`` in order."""
    lines = document.read_text().splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        if lines[index].strip() != "```sh":
            index += 1
            continue
        start = index
        before = lines[start - 1].strip() if start > 0 else ""
        marker = MARKER.match(before)
        index += 1
        body: list[str] = []
        while lines[index].strip() != "```":
            body.append(lines[index])
            index += 1
        blocks.append(
            Block(document, start + 1, "\n".join(body), marker["reason"] if marker else None)
        )
        index += 1
    return blocks


def all_blocks() -> list[Block]:
    return [block for document in DOCUMENTS for block in shell_blocks(document)]


def server_environment(blocks: list[Block]) -> dict[str, str]:
    """The APPWARD_* variables the README tells the reader to start the server with."""
    env: dict[str, str] = {}
    for block in blocks:
        found = START_WITH.match(block.text.strip())
        if block.not_run and found:
            for assignment in shlex.split(found["env"]):
                name, _, value = assignment.partition("=")
                env[name] = value
    return env


def bootstrap_credentials(output: str) -> tuple[str, str]:
    """client_id and client_secret as ``make run`` prints them."""
    values = dict(
        line.strip().split(":", 1) for line in output.splitlines() if line.startswith("  client_")
    )
    return values["client_id"].strip(), values["client_secret"].strip()


def substitute(text: str, old: str, new: str, count: dict[str, int]) -> str:
    count[old] = count.get(old, 0) + text.count(old)
    return text.replace(old, new)


def test_every_shell_block_runs_or_says_why_not() -> None:
    """The list of blocks that are not run is short, pinned, and each says why."""
    skipped = [b for b in all_blocks() if b.not_run]
    assert len(skipped) == len(NOT_RUN)
    for document, start in NOT_RUN:
        assert any(b.document.name == document and b.text.startswith(start) for b in skipped)
    assert any(b.not_run is None for b in all_blocks())
    first_screen = "\n".join((ROOT / "README.md").read_text().splitlines()[:60])
    assert "make run" in first_screen
    assert "make test" in first_screen


def test_readme_and_docs_examples_work_as_pasted(tmp_path: Path) -> None:
    blocks = all_blocks()
    workdir = tmp_path / "checkout"
    workdir.mkdir(parents=True)
    # The whole venv, not only its bin/: .venv/bin/python finds its packages through the
    # pyvenv.cfg beside bin/ (the README's examples run Python with PyJWT).
    (workdir / ".venv").symlink_to(Path(sys.prefix), target_is_directory=True)
    appward = str(workdir / ".venv" / "bin" / "appward")
    port = free_port()
    base_url = f"http://{HOST}:{port}"
    server_env = environment({"APPWARD_ISSUER": base_url, **server_environment(blocks)})

    def run(*args: str) -> str:
        done = subprocess.run(
            [appward, *args],
            cwd=workdir,
            env=server_env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, (args, done.stdout, done.stderr)
        return done.stdout

    # What `make run` does, in the same order.
    run("db", "upgrade")
    client_id, client_secret = bootstrap_credentials(
        run("admin", "create-client", "bootstrap-admin", "--if-none")
    )
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [appward, "serve", "--host", HOST, "--port", str(port)],
            cwd=workdir,
            env=server_env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_until_serving(base_url, server, log)
        count: dict[str, int] = {}
        parts = ["set -euo pipefail"]
        for block in blocks:
            if block.not_run:
                continue
            text = substitute(block.text, README_ADDRESS, f"AS={base_url}", count)
            text = substitute(
                text,
                README_CREDENTIALS,
                f"CLIENT_ID={shlex.quote(client_id)} CLIENT_SECRET={shlex.quote(client_secret)}",
                count,
            )
            parts.append(f"echo {shlex.quote('### ' + block.where)} >&2\n{text}")
        assert count == {README_ADDRESS: 1, README_CREDENTIALS: 1}
        done = subprocess.run(
            ["bash", "-c", "\n".join(parts)],
            cwd=workdir,
            env=environment({}),  # a reader's second terminal: no APPWARD_* variable
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
            check=False,
        )
    finally:
        stop(server)
    ran = [line for line in done.stderr.splitlines() if line.startswith("### ")]
    assert done.returncode == 0, (
        f"the example in {ran[-1][4:] if ran else '?'} failed:\n"
        f"--- stdout (tail)\n{done.stdout[-4000:]}\n--- stderr (tail)\n{done.stderr[-4000:]}"
        f"\n--- server log (tail)\n{log.read_text()[-3000:]}"
    )
    assert len(ran) == sum(1 for b in blocks if not b.not_run)


def test_production_snippet_configuration_is_accepted(tmp_path: Path) -> None:
    """docs/deployment.md's production settings pass the production checks as pasted, and
    running the snippet again keeps the secrets it generated the first time."""
    [block] = [
        b
        for b in shell_blocks(ROOT / "docs" / "deployment.md")
        if b.not_run and b.text.startswith("# Once, at installation")
    ]
    setup = block.text.split("\nappward ", 1)[0]  # everything before the first command
    show = (
        f"{shlex.quote(sys.executable)} -c 'import json; from appward.config import "
        "load_settings; s = load_settings(); print(json.dumps([s.key_encryption_key, "
        "s.session_secret, s.environment]))'"
    )
    runs = []
    for _ in range(2):
        done = subprocess.run(
            ["bash", "-c", f"set -euo pipefail\n{setup}\n{show}"],
            cwd=tmp_path,
            env=environment({}),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        runs.append(json.loads(done.stdout.splitlines()[-1]))
    assert runs[0] == runs[1]
    key_encryption_key, session_secret, env = runs[0]
    assert env == "production"
    load_key_encryption(key_encryption_key, tmp_path)  # a valid Fernet key
    assert len(session_secret) >= 32
    secrets_files = [p for p in tmp_path.iterdir() if p.is_file()]
    assert all(p.stat().st_mode & 0o077 == 0 for p in secrets_files), secrets_files
