"""Real processes: the installed ``appward`` command migrates, bootstraps and serves."""

from __future__ import annotations

import base64
import json
import select
import socket
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import (
    appward,
    environment,
)
from tests.factories import SERVICE

pytestmark = pytest.mark.e2e


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
    env = environment({})
    assert not (workdir / "var").exists()
    appward(workdir, env, "db", "upgrade")
    assert (workdir / "var" / "appward.db").is_file()

    first = appward(workdir, env, "admin", "create-client", "bootstrap-admin", "--if-none")
    assert first.startswith("admin client created: bootstrap-admin")
    second = appward(workdir, env, "admin", "create-client", "bootstrap-admin", "--if-none")
    assert second.strip() == "an admin client exists already; not creating another"

    [admin] = json.loads(appward(workdir, env, "clients", "list", "--json"))["items"]
    assert admin["metadata"]["client_name"] == "bootstrap-admin"
    assert admin["metadata"]["scope"] == "appward:admin"


def _read_responses(sock: socket.socket, count: int) -> list[tuple[bytes, bytes]]:
    """Reads ``count`` HTTP/1.1 responses with Content-Length; returns (head, body) pairs."""
    buffer = b""
    responses = []
    while len(responses) < count:
        while b"\r\n\r\n" not in buffer:
            chunk = sock.recv(65536)
            assert chunk, f"connection closed after {len(responses)} responses"
            buffer += chunk
        head, _, rest = buffer.partition(b"\r\n\r\n")
        length = int(
            next(
                line.split(b":", 1)[1]
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
        )
        while len(rest) < length:
            chunk = sock.recv(65536)
            assert chunk
            rest += chunk
        responses.append((head, rest[:length]))
        buffer = rest[length:]
    return responses


def test_pipelined_requests_are_answered_whole_and_in_order(
    server: tuple[str, dict[str, Any]],
) -> None:
    """The server gathers each response's writes (web/http_protocol.py): pipelined
    requests on one connection must still get complete answers, in order, and a
    request asking to close must be answered before the close."""
    base_url, admin = server
    host, port = base_url.removeprefix("http://").split(":")
    credentials = base64.b64encode(f"{admin['client_id']}:{admin['client_secret']}".encode())
    form = b"grant_type=client_credentials"
    token_request = (
        b"POST /oauth2/token HTTP/1.1\r\nHost: x\r\nAuthorization: Basic "
        + credentials
        + b"\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: "
        + str(len(form)).encode()
        + b"\r\n\r\n"
        + form
    )
    jwks_request = b"GET /oauth2/jwks HTTP/1.1\r\nHost: x\r\n\r\n"
    closing = (
        b"GET /.well-known/oauth-authorization-server HTTP/1.1\r\n"
        b"Host: x\r\nConnection: close\r\n\r\n"
    )
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(token_request + jwks_request + token_request + closing)
        answers = _read_responses(sock, 4)
        assert sock.recv(1) == b""  # closed after the last answer
    statuses = [head.split(b"\r\n", 1)[0] for head, _ in answers]
    assert statuses == [b"HTTP/1.1 200 OK"] * 4
    first, keys, second, metadata = (json.loads(body) for _, body in answers)
    assert first["access_token"] != second["access_token"]
    assert "keys" in keys
    assert metadata["issuer"]
    assert all(b"server:" not in head.lower() for head, _ in answers)


def _answer_to(base_url: str, request: bytes) -> bytes:
    """Sends ``request`` on a new connection; returns everything read until the server
    closes it (an over-limit head must be refused at once, then the connection closed)."""
    host, port = base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def _status(answer: bytes) -> bytes:
    return answer.split(b"\r\n", 1)[0]


def test_request_heads_over_the_limits_are_refused_on_every_route(
    server: tuple[str, dict[str, Any]],
) -> None:
    """APPWARD_MAX_HEADER_BYTES (16 KiB) and APPWARD_MAX_HEADERS (100) hold for the pages
    and for the token endpoint's fast path alike: 431, or 414 for the URL."""
    base_url, admin = server
    big = b"X-Filler: " + b"a" * (20 * 1024) + b"\r\n"
    many = b"".join(b"X-Field-%d: 1\r\n" % i for i in range(200))
    form = b"grant_type=client_credentials"
    token_head = (
        b"POST /oauth2/token HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: %d\r\n" % len(form)
    )
    for request in (
        b"GET /login HTTP/1.1\r\nHost: x\r\n" + big + b"\r\n",
        token_head + big + b"\r\n" + form,
        b"GET /login HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n",
        token_head + many + b"\r\n" + form,
    ):
        answer = _answer_to(base_url, request)
        assert _status(answer) == b"HTTP/1.1 431 Request Header Fields Too Large", answer[:200]
        assert answer.endswith(b"\r\n\r\nrequest header fields too large\n")

    long_url = b"GET /login?next=" + b"a" * (20 * 1024) + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    assert _status(_answer_to(base_url, long_url)).startswith(b"HTTP/1.1 414 ")

    # Within the limits: a sizeable head, and ordinary requests on one kept-alive connection.
    roomy = {f"X-Field-{i}": "b" * 100 for i in range(80)}
    with httpx.Client(base_url=base_url, timeout=10.0) as http:
        assert http.get("/login", headers=roomy).status_code == 200
        for _ in range(3):
            token = http.post(
                "/oauth2/token",
                data={"grant_type": "client_credentials"},
                auth=(admin["client_id"], admin["client_secret"]),
            )
            assert token.status_code == 200, token.text


def test_a_header_sent_a_little_at_a_time_is_counted_as_it_arrives(
    server: tuple[str, dict[str, Any]],
) -> None:
    """httptools keeps an unfinished header in its own buffer: one that never ends, sent
    in small pieces, must still be refused once the head passes the limit."""
    base_url, _ = server
    host, port = base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(b"GET /login HTTP/1.1\r\nHost: x\r\nX-Endless: ")
        sent = 0
        # Up to 4x the limit, one small piece per read; stop as soon as there is an answer.
        while sent < 64 * 1024 and not select.select([sock], [], [], 0.005)[0]:
            sock.sendall(b"a" * 256)
            sent += 256
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert _status(answer) == b"HTTP/1.1 431 Request Header Fields Too Large"
    assert sent < 20 * 1024  # refused near the limit, not after the whole header


def test_served_answers_carry_request_ids_and_refusals_log_their_detail(
    server: tuple[str, dict[str, Any]], workdir: Path
) -> None:
    base_url, admin = server
    wrong = admin["client_secret"][:-1] + ("A" if admin["client_secret"][-1] != "A" else "B")
    with httpx.Client(base_url=base_url, timeout=10.0) as http:
        ok = http.post(
            "/oauth2/token",
            data={"grant_type": "client_credentials"},
            auth=(admin["client_id"], admin["client_secret"]),
        )
        refused = http.post(
            "/oauth2/token",
            data={"grant_type": "client_credentials"},
            auth=(admin["client_id"], wrong),
        )
    assert (ok.status_code, refused.status_code) == (200, 401)
    request_id = refused.headers["x-request-id"]
    assert request_id != ok.headers["x-request-id"]
    log = workdir / "server.log"
    deadline = time.monotonic() + 5  # the worker logs once its answer is on its way
    while request_id not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    lines = [line for line in log.read_text().splitlines() if request_id in line]
    assert len(lines) == 1, log.read_text()
    assert "POST /oauth2/token -> 401 invalid_client" in lines[0]
    assert "mismatch" in lines[0]
    assert wrong not in log.read_text()
    assert ok.headers["x-request-id"] not in log.read_text()  # nothing logged on success
