"""Graceful shutdown and rolling restarts: on SIGTERM `appward serve` stops accepting,
lets the requests in flight finish (for at most APPWARD_SHUTDOWN_TIMEOUT) and exits;
two instances behind Debian's nginx (docs/nginx-upstream.conf) are restarted one at a
time under load without a single failed request."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import re
import signal
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from appward.config import Settings
from tests.conftest import settings_env
from tests.e2e.conftest import (
    HOST,
    START_TIMEOUT,
    STOP_TIMEOUT,
    create_admin,
    environment,
    free_port,
    server_process,
    server_processes,
)
from tests.e2e.test_mtls_nginx import nginx_or_skip

pytestmark = pytest.mark.e2e

DOCS_CONFIG = Path(__file__).resolve().parents[2] / "docs" / "nginx-upstream.conf"
SHUTDOWN_TIMEOUT = 4  # seconds: APPWARD_SHUTDOWN_TIMEOUT of the first test's server
TOKEN_FORM = b"grant_type=client_credentials"
# After its graceful shutdown uvicorn raises the signal it caught again, so the process
# ends as SIGTERM's (systemd counts that a clean stop); a supervisor of workers exits 0.
STOPPED_BY_SIGTERM = {0, -signal.SIGTERM}


def _token_request_head(client_id: str, secret: str) -> bytes:
    credentials = base64.b64encode(f"{client_id}:{secret}".encode())
    return (
        b"POST /oauth2/token HTTP/1.1\r\nHost: x\r\nAuthorization: Basic "
        + credentials
        + b"\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: "
        + str(len(TOKEN_FORM)).encode()
        + b"\r\n\r\n"
    )


def _read_answer(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_sigterm_lets_requests_in_flight_finish_and_cuts_stalled_ones_off(
    settings: Settings, workdir: Path
) -> None:
    admin = create_admin(settings)
    env = environment({**settings_env(settings), "APPWARD_SHUTDOWN_TIMEOUT": str(SHUTDOWN_TIMEOUT)})
    head = _token_request_head(admin["client_id"], admin["client_secret"])
    # One worker: on a loaded machine a second can miss uvicorn's start-up health check
    # (with several, uvicorn's supervisor passes SIGTERM on to each, which does the same).
    with server_process(workdir, env, workers=1) as (base_url, process):
        host, port = base_url.removeprefix("http://").split(":")
        with (
            socket.create_connection((host, int(port)), timeout=30) as slow,
            socket.create_connection((host, int(port)), timeout=30) as stalled,
        ):
            # Each request is in flight: its head is in, its body only in part.
            slow.sendall(head + TOKEN_FORM[:5])
            stalled.sendall(head + TOKEN_FORM[:5])
            time.sleep(1.0)  # read by a worker, even on a loaded machine
            process.send_signal(signal.SIGTERM)
            signalled = time.monotonic()
            time.sleep(1.0)
            assert process.poll() is None, "exited with a request in flight"
            slow.sendall(TOKEN_FORM[5:])
            answer = _read_answer(slow)
            assert answer.startswith(b"HTTP/1.1 200 OK"), answer
            assert b'"access_token"' in answer
            # The stalled one never sends the rest: cut off once the timeout is over.
            assert b"200 OK" not in _read_answer(stalled)
            process.wait(timeout=SHUTDOWN_TIMEOUT + STOP_TIMEOUT)
            waited = time.monotonic() - signalled
    assert process.returncode in STOPPED_BY_SIGTERM, process.returncode
    assert SHUTDOWN_TIMEOUT - 0.5 <= waited <= SHUTDOWN_TIMEOUT + STOP_TIMEOUT, waited
    log = (workdir / "server.log").read_text()
    assert "timeout graceful shutdown exceeded" in log


# --- a rolling restart behind nginx ---

MAIN_CONFIG = """\
daemon off;
master_process on;
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log notice;
events {{ worker_connections 256; }}
http {{
    log_format upstreams '$status $upstream_addr';
    access_log {root}/access.log upstreams;
    client_body_temp_path {root}/client_body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    include {root}/appward-upstream.conf;
}}
"""
LOAD_CONCURRENCY = 8
LOAD_AFTER_RESTART = 2.0  # seconds of load once the restarted instance is back
# Seconds: the load stops by then whatever happens. It outlasts a restart, which on a
# loaded machine can take most of START_TIMEOUT.
TEST_BOUND = START_TIMEOUT + 30.0


@dataclass
class Nginx:
    root: Path
    process: subprocess.Popen[bytes]
    url: str
    port: int

    def configure(self, a: str, b: str) -> None:
        _write_config(self.root, self.port, a, b)

    def reload(self, a: str, b: str) -> None:
        """Rewrites the upstreams and reloads; returns once the old worker has finished
        what it was passing on, and exited."""
        exited = self._log().count("exited with code 0")
        self.configure(a, b)
        os.kill(self.process.pid, signal.SIGHUP)
        deadline = time.monotonic() + 20
        while self._log().count("exited with code 0") <= exited:
            assert time.monotonic() < deadline, self._log()
            assert self.process.poll() is None, self._log()
            time.sleep(0.05)

    def _log(self) -> str:
        return (self.root / "error.log").read_text()


def _write_config(root: Path, port: int, a: str, b: str) -> None:
    """The shipped config with its placeholders filled; every placeholder must be."""
    text = DOCS_CONFIG.read_text()
    values = {"LISTEN": f"{HOST}:{port}", "INSTANCE_A": a, "INSTANCE_B": b}
    for name, value in values.items():
        assert f"__{name}__" in text, f"docs/nginx-upstream.conf has no __{name}__"
        text = text.replace(f"__{name}__", value)
    assert not re.findall(r"__[A-Z_]+__", text)
    (root / "appward-upstream.conf").write_text(text)


@contextlib.contextmanager
def nginx(root: Path, a: str, b: str) -> Iterator[Nginx]:
    binary = nginx_or_skip()
    port = free_port()
    (root / "nginx.conf").write_text(MAIN_CONFIG.format(root=root))
    (root / "error.log").touch()
    _write_config(root, port, a, b)
    with (root / "nginx.out").open("wb") as out:
        process = subprocess.Popen(
            [binary, "-p", str(root), "-c", str(root / "nginx.conf"), "-e", "/dev/stderr"],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Nginx(root, process, f"http://{HOST}:{port}", port)
    try:
        deadline = time.monotonic() + 15
        while True:
            assert process.poll() is None, (root / "nginx.out").read_text()
            with contextlib.suppress(OSError), socket.create_connection((HOST, port), 0.5):
                break
            assert time.monotonic() < deadline, "nginx did not listen"
            time.sleep(0.1)
        yield server
    finally:
        process.send_signal(signal.SIGQUIT)  # graceful: the workers finish, then exit
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


@dataclass
class Load:
    """Token requests through nginx, LOAD_CONCURRENCY at a time, until stopped."""

    url: str
    client_id: str
    secret: str
    outcomes: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        asyncio.run(self._run())

    async def _run(self) -> None:
        # A new connection to nginx for every request: this test restarts an instance,
        # not nginx, and nginx's reload closes its idle client connections, which an
        # HTTP/1.1 client can race (that would be nginx's loss, not the instance's).
        limits = httpx.Limits(max_keepalive_connections=0)
        deadline = time.monotonic() + TEST_BOUND
        async with httpx.AsyncClient(base_url=self.url, timeout=30.0, limits=limits) as http:

            async def keep_asking() -> None:
                while not self.stopping.is_set() and time.monotonic() < deadline:
                    try:
                        answer = await http.post(
                            "/oauth2/token",
                            data={"grant_type": "client_credentials"},
                            auth=(self.client_id, self.secret),
                        )
                    except httpx.TransportError as exc:
                        self.failures.append(repr(exc))
                        continue
                    self.outcomes[str(answer.status_code)] += 1
                    if answer.status_code != 200:
                        self.failures.append(f"{answer.status_code} {answer.text[:200]}")

            await asyncio.gather(*(keep_asking() for _ in range(LOAD_CONCURRENCY)))

    def answered(self) -> int:
        return sum(self.outcomes.values())


def _answered_by(access_log: Path, instance: str) -> int:
    """Requests nginx logged as answered 200 by ``instance`` (the last upstream it tried)."""
    lines = access_log.read_text().splitlines()
    return sum(1 for line in lines if line.startswith("200 ") and line.endswith(instance))


def _wait_for_answers(load: Load, more: int) -> None:
    target = load.answered() + more
    deadline = time.monotonic() + 30
    while load.answered() < target:
        assert time.monotonic() < deadline, load
        time.sleep(0.05)


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_rolling_restart_of_one_of_two_instances_loses_no_request(
    settings: Settings, workdir: Path, tmp_path: Path
) -> None:
    """Drain at the load balancer (nginx: "down", reload), SIGTERM, start again, put
    back: under continuous token requests, not one fails."""
    admin = create_admin(settings)
    env = environment(settings_env(settings))
    port_a = free_port()
    root = tmp_path / "nginx"
    root.mkdir()
    with server_processes(workdir, env, ["a", "b"], workers=1, ports=[port_a, None]) as [
        (url_a, process_a),
        (url_b, _),
    ]:
        a, b = url_a.removeprefix("http://"), url_b.removeprefix("http://")
        with nginx(root, a, b) as proxy:
            load = Load(proxy.url, admin["client_id"], admin["client_secret"])
            loader = threading.Thread(target=load.run)
            loader.start()
            try:
                _wait_for_answers(load, 50)
                proxy.reload(f"{a} down", b)  # drain A
                process_a.send_signal(signal.SIGTERM)
                assert process_a.wait(timeout=STOP_TIMEOUT) in STOPPED_BY_SIGTERM
                served_before = _answered_by(root / "access.log", a)
                with server_process(workdir, env, workers=1, name="a", port=port_a):
                    proxy.reload(a, b)  # A is back
                    _wait_for_answers(load, 50)
                    time.sleep(LOAD_AFTER_RESTART)
                    load.stopping.set()
                    loader.join(timeout=30)
                    served_after = _answered_by(root / "access.log", a) - served_before
            finally:
                load.stopping.set()
                loader.join(timeout=30)
    answered_by_b = _answered_by(root / "access.log", b)
    print(  # the counts docs/deployment.md quotes (pytest -s shows them)
        f"\nrolling restart: {load.answered() + len(load.failures)} token requests through "
        f"nginx, {len(load.failures)} failed; A answered {served_before} before its restart "
        f"and {served_after} after it, B {answered_by_b}"
    )
    assert not load.failures, (load.failures[:5], load.outcomes)
    assert load.outcomes["200"] >= 100, load.outcomes
    # Both A's lives served some of it, and so did B.
    assert served_before > 0, served_before
    assert served_after > 0, served_after
    assert answered_by_b > 0
