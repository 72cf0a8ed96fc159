"""Database and Redis servers of a test's own, on free loopback ports, that the test may
stop, freeze and start again: outages are never rehearsed on the machine's shared
PostgreSQL or Redis."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

HOST = "127.0.0.1"
REQUIRE_POSTGRES = os.environ.get("APPWARD_REQUIRE_POSTGRES") == "1"
REQUIRE_REDIS = os.environ.get("APPWARD_REQUIRE_REDIS") == "1"
START_TIMEOUT = 30


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _missing(what: str, required: bool) -> None:
    if required:
        pytest.fail(f"{what} is required for this test but not installed")
    pytest.skip(f"{what} is not installed")


def _postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


@dataclass
class Postgres:
    """One throw-away cluster, run by the ``postgres`` account (PostgreSQL refuses root)."""

    bin: Path
    root: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://root@{HOST}:{self.port}/postgres"

    def _as_postgres(self, *command: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*prefix, *command], check=True, capture_output=True, timeout=60)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses={HOST} -c fsync=off"
        self._as_postgres(
            str(self.bin / "pg_ctl"),
            *("-D", str(self.root / "data"), "-o", options, "-l", str(self.root / "log")),
            *("-w", "-t", str(START_TIMEOUT), "start"),
        )

    def stop(self) -> None:
        self._as_postgres(
            str(self.bin / "pg_ctl"), "-D", str(self.root / "data"), "-m", "fast", "-w", "stop"
        )

    def _processes(self) -> list[int]:
        postmaster = int((self.root / "data" / "postmaster.pid").read_text().split()[0])
        children = subprocess.run(
            ["pgrep", "-P", str(postmaster)], capture_output=True, text=True, check=False
        ).stdout.split()
        return [postmaster, *(int(pid) for pid in children)]

    @contextlib.contextmanager
    def frozen(self) -> Iterator[None]:
        """Stops every process of the cluster (SIGSTOP) for the block: connections are
        accepted by the kernel and then nothing answers, as with a hung server."""
        pids = self._processes()
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        try:
            yield
        finally:
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGCONT)


@contextlib.contextmanager
def throwaway_postgres() -> Iterator[Postgres]:
    """A new cluster (trust authentication, user root), started; removed afterwards.
    Skipped without PostgreSQL's server binaries, unless APPWARD_REQUIRE_POSTGRES=1."""
    pg_bin = _postgres_bin()
    if pg_bin is None:
        _missing("PostgreSQL's initdb (/usr/lib/postgresql/*/bin)", REQUIRE_POSTGRES)
    assert pg_bin is not None
    # The postgres account must reach the directory: not under pytest's root-only tmp.
    root = Path(tempfile.mkdtemp(prefix="appward-pg-"))
    root.chmod(0o755)
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
    cluster = Postgres(pg_bin, root, free_port())
    try:
        cluster._as_postgres(
            str(pg_bin / "initdb"),
            *("-D", str(root / "data"), "-A", "trust", "-U", "root", "--no-sync", "-E", "UTF8"),
        )
        cluster.start()
        yield cluster
    finally:
        with contextlib.suppress(Exception):
            cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


@dataclass
class Redis:
    """One throw-away redis-server with nothing saved to disk."""

    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary is not None
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", HOST, "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection((HOST, self.port), 0.2):
                return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None

    @contextlib.contextmanager
    def frozen(self) -> Iterator[None]:
        """SIGSTOP for the block: Redis keeps its connections open and answers nothing."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)
        try:
            yield
        finally:
            self.process.send_signal(signal.SIGCONT)


@contextlib.contextmanager
def throwaway_redis() -> Iterator[Redis]:
    """A redis-server of the test's own, started; killed afterwards. Skipped without
    redis-server, unless APPWARD_REQUIRE_REDIS=1."""
    if shutil.which("redis-server") is None:
        _missing("redis-server", REQUIRE_REDIS)
    server = Redis(free_port())
    server.start()
    try:
        yield server
    finally:
        server.kill()
