"""The credential cache across processes: a change made anywhere on the host reaches
every worker's cache before its next answer.

Each request goes over a connection of its own, and each answer is traced to the worker
process that accepted it (Linux /proc: the process holding the server end of that TCP
connection), so every phase is seen answered by both workers, not by whichever one a
keep-alive connection happened to reach."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import httpx
import pytest

from appward.config import Settings
from tests.conftest import settings_env
from tests.e2e.conftest import appward, environment, serving

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux /proc"),
]

WORKERS = 2
MAX_REQUESTS = 200  # the kernel hands connections to workers unevenly: retry until both


def _established_inode(server_port: int, client_port: int) -> str | None:
    """The socket inode of the server end of the connection from ``client_port``."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, state, inode = fields[1], fields[2], fields[3], fields[9]
        if (
            state == "01"  # ESTABLISHED
            and int(local.rsplit(":", 1)[1], 16) == server_port
            and int(remote.rsplit(":", 1)[1], 16) == client_port
        ):
            return inode
    return None


def _pid_holding(inode: str) -> int | None:
    target = f"socket:[{inode}]"
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            for fd in (entry / "fd").iterdir():
                if os.readlink(fd) == target:
                    return int(entry.name)
        except OSError:  # gone, or not ours to read
            continue
    return None


def answer_and_worker(base_url: str, client_id: str, secret: str) -> tuple[int, int]:
    """POSTs to the token endpoint over a new connection; returns the status and the pid
    of the worker that answered."""
    with httpx.Client(base_url=base_url, timeout=10.0) as http:
        response = http.post(
            "/oauth2/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)
        )
        stream = response.extensions["network_stream"]
        _, client_port = stream.get_extra_info("client_addr")
        _, server_port = stream.get_extra_info("server_addr")
        # The connection is still open (keep-alive), so the worker still holds its end.
        inode = _established_inode(server_port, client_port)
        assert inode is not None, "the server end of the connection is not in /proc/net/tcp"
        pid = _pid_holding(inode)
        assert pid is not None, "no process holds the server end of the connection"
        return response.status_code, pid


def statuses_from_every_worker(base_url: str, client_id: str, secret: str) -> set[int]:
    """Requests over new connections until every worker has answered; returns the set of
    statuses seen."""
    answers: Counter[tuple[int, int]] = Counter()
    workers: set[int] = set()
    for _ in range(MAX_REQUESTS):
        status, pid = answer_and_worker(base_url, client_id, secret)
        answers[status, pid] += 1
        workers.add(pid)
        if len(workers) == WORKERS and sum(answers.values()) >= 10:
            break
    assert len(workers) == WORKERS, f"only {workers} answered: {answers}"
    return {status for status, _ in answers}


# The refusals below are failed authentications, as many as it takes the kernel to hand
# connections to both workers (up to MAX_REQUESTS a phase): past the failed client
# authentication throttle's limit they would be 429s, which say nothing of the cache.
UNTHROTTLED = {
    "APPWARD_CLIENT_AUTH_FAILURES_PER_CLIENT": "100000",
    "APPWARD_CLIENT_AUTH_FAILURES_PER_ADDRESS": "100000",
}


def test_cli_changes_reach_every_running_worker_at_once(settings: Settings, workdir: Path) -> None:
    with serving(settings, workdir, UNTHROTTLED) as (base_url, _):  # two workers, two caches
        check_cli_changes_reach_every_worker(base_url, settings, workdir)


def check_cli_changes_reach_every_worker(base_url: str, settings: Settings, workdir: Path) -> None:
    env = environment(settings_env(settings))
    created = json.loads(
        appward(
            workdir, env, "clients", "create", "svc", "--grant-type", "client_credentials", "--json"
        )
    )
    cid, secret = created["client_id"], created["client_secret"]
    # Both workers now hold it cached.
    assert statuses_from_every_worker(base_url, cid, secret) == {200}

    appward(workdir, env, "clients", "disable", cid)
    assert statuses_from_every_worker(base_url, cid, secret) == {401}
    appward(workdir, env, "clients", "enable", cid)
    assert statuses_from_every_worker(base_url, cid, secret) == {200}

    # Used moments ago: safe revoke needs --confirm.
    appward(workdir, env, "secrets", "revoke", cid, created["client_secret_id"], "--confirm")
    assert statuses_from_every_worker(base_url, cid, secret) == {401}
