"""Mutual TLS end to end: Debian's nginx, configured from the shipped
docs/nginx-mtls.conf, terminates TLS on loopback in front of a real app server process,
and httpx presents client certificates made with ``cryptography`` (RFC 8705)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from jwt.algorithms import ECAlgorithm

from appward.config import Settings
from tests.certificates import Issued, make_ca, make_leaf
from tests.e2e.conftest import HOST, free_port, serving
from tests.factories import SERVICE, metadata

pytestmark = pytest.mark.e2e

DOCS_CONFIG = Path(__file__).resolve().parents[2] / "docs" / "nginx-mtls.conf"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
# nginx connects to the app from this loopback address, the only trusted proxy; the
# test's own requests come from 127.0.0.1, like any other local process's.
PROXY_ADDRESS = "127.0.0.2"
HEADER = "X-SSL-Client-Cert"
DN = "CN=billing,O=Appward Tests,C=DE"
START_TIMEOUT = 15.0

# The main configuration around the shipped snippet: everything in the test's directory,
# one process in the foreground, killed at teardown.
MAIN_CONFIG = """\
daemon off;
master_process off;
pid {root}/nginx.pid;
error_log {root}/error.log info;
events {{ worker_connections 64; }}
http {{
    access_log {root}/access.log;
    client_body_temp_path {root}/client_body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    include {root}/appward-mtls.conf;
}}
"""


def nginx_or_skip() -> str:
    if Path(NGINX).exists():
        return NGINX
    if os.environ.get("APPWARD_REQUIRE_NGINX") == "1":
        pytest.fail("nginx is required (APPWARD_REQUIRE_NGINX=1) but not installed")
    pytest.skip("nginx is not installed (apt-get install nginx); the mTLS e2e tests need it")


def filled_docs_config(**values: str) -> str:
    """The shipped config with its placeholders filled; every placeholder must be."""
    text = DOCS_CONFIG.read_text()
    for name, value in values.items():
        placeholder = f"__{name}__"
        assert placeholder in text, f"docs/nginx-mtls.conf has no {placeholder}"
        text = text.replace(placeholder, value)
    left = re.findall(r"__[A-Z_]+__", text)
    assert not left, f"placeholders the test does not fill: {left}"
    return text


@contextlib.contextmanager
def nginx(root: Path, upstream: str, server: Issued) -> Iterator[str]:
    """Runs nginx from the docs config on a free loopback port; yields its https URL."""
    binary = nginx_or_skip()
    port = free_port()
    cert_path, key_path = server.write(root, "server")
    (root / "appward-mtls.conf").write_text(
        filled_docs_config(
            LISTEN=f"{HOST}:{port}",
            SERVER_NAME="localhost",
            SERVER_CERT=str(cert_path),
            SERVER_KEY=str(key_path),
            UPSTREAM=upstream,
            PROXY_ADDRESS=PROXY_ADDRESS,
        )
    )
    (root / "nginx.conf").write_text(MAIN_CONFIG.format(root=root))
    log = root / "nginx.out"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                binary,
                "-p",
                str(root),
                "-c",
                str(root / "nginx.conf"),
                "-e",
                str(root / "error.log"),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_for_port(port, process, root)
        yield f"https://localhost:{port}"
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def _wait_for_port(port: int, process: subprocess.Popen[bytes], root: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            logs = (root / "nginx.out").read_text() + (root / "error.log").read_text()
            pytest.fail(f"nginx exited with {process.returncode}:\n{logs}")
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=0.5):
            return
        time.sleep(0.1)
    pytest.fail(f"nginx did not listen within {START_TIMEOUT}s")


@dataclass
class Deployment:
    app_url: str  # the app itself, straight
    mtls_url: str  # through nginx
    admin: dict[str, str]  # a bearer header for /admin/v1
    root: Path
    server_ca: Issued
    client_ca: Issued
    now: datetime

    def tls(self, certificate: Issued | None) -> httpx.Client:
        """An httpx client that trusts the server's CA and presents ``certificate``."""
        context = ssl.create_default_context(cafile=str(self.root / "server-ca.pem"))
        if certificate is not None:
            cert_path, key_path = certificate.write(self.root, f"client-{id(certificate)}")
            context.load_cert_chain(cert_path, key_path)
        return httpx.Client(base_url=self.mtls_url, verify=context, timeout=10.0)

    def create(self, **fields: Any) -> dict[str, Any]:
        with httpx.Client(base_url=self.app_url, timeout=10.0) as http:
            created = http.post(
                "/admin/v1/clients", json=metadata(SERVICE, **fields), headers=self.admin
            )
        assert created.status_code == 201, created.text
        body: dict[str, Any] = created.json()
        return body


@pytest.fixture
def deployment(settings: Settings, workdir: Path, tmp_path: Path) -> Iterator[Deployment]:
    nginx_or_skip()
    now = datetime.now(UTC)
    root = tmp_path / "mtls"
    root.mkdir()
    server_ca, client_ca = make_ca("Test Server CA", now=now), make_ca("Test Client CA", now=now)
    (root / "server-ca.pem").write_bytes(server_ca.pem)
    (root / "client-ca.pem").write_bytes(client_ca.pem)
    server_certificate = make_leaf(
        server_ca, now=now, common_name="localhost", dns=("localhost",), ips=(HOST,), server=True
    )
    extra = {
        "APPWARD_MTLS_CERTIFICATE_HEADER": HEADER,
        "APPWARD_MTLS_CERTIFICATE_FORMAT": "nginx",
        "APPWARD_MTLS_CA_BUNDLE": str(root / "client-ca.pem"),
        "APPWARD_MTLS_TRUSTED_PROXIES": f"{PROXY_ADDRESS}/32",
    }
    with serving(settings, workdir, extra) as (app_url, admin):
        upstream = app_url.removeprefix("http://")
        with nginx(root, upstream, server_certificate) as mtls_url:
            with httpx.Client(base_url=app_url, timeout=10.0) as http:
                token = http.post(
                    "/oauth2/token",
                    data={"grant_type": "client_credentials"},
                    auth=(admin["client_id"], admin["client_secret"]),
                )
            assert token.status_code == 200, token.text
            bearer = {"Authorization": f"Bearer {token.json()['access_token']}"}
            yield Deployment(app_url, mtls_url, bearer, root, server_ca, client_ca, now)


def token_request(
    http: httpx.Client, client_id: str, headers: dict[str, str] | None = None
) -> httpx.Response:
    return http.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials", "client_id": client_id},
        headers=headers or {},
    )


def assert_invalid_client(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "invalid_client"
    assert "access_token" not in response.json()


def test_a_good_certificate_through_nginx_gets_a_bound_token(deployment: Deployment) -> None:
    client = deployment.create(
        token_endpoint_auth_method="tls_client_auth",
        tls_client_auth_subject_dn=DN,
        tls_client_certificate_bound_access_tokens=True,
    )
    good = make_leaf(deployment.client_ca, now=deployment.now, common_name="billing")
    with deployment.tls(good) as http:
        response = token_request(http, client["client_id"])
    assert response.status_code == 200, response.text
    claims = jwt.decode(response.json()["access_token"], options={"verify_signature": False})
    assert claims["cnf"] == {"x5t#S256": good.thumbprint}

    # self_signed_tls_client_auth too: nginx asks for a certificate but no CA
    # (optional_no_ca), so a self-signed one reaches the app, which matches its key.
    own = make_leaf(None, now=deployment.now, common_name="anything")
    jwk = {**json.loads(ECAlgorithm.to_jwk(own.key.public_key())), "kid": "k1"}  # type: ignore[arg-type]
    self_signed = deployment.create(
        token_endpoint_auth_method="self_signed_tls_client_auth", jwks={"keys": [jwk]}
    )
    with deployment.tls(own) as http:
        response = token_request(http, self_signed["client_id"])
    assert response.status_code == 200, response.text


def test_a_wrong_subject_through_nginx_is_invalid_client(deployment: Deployment) -> None:
    client = deployment.create(
        token_endpoint_auth_method="tls_client_auth", tls_client_auth_subject_dn=DN
    )
    payroll = make_leaf(deployment.client_ca, now=deployment.now, common_name="payroll")
    with deployment.tls(payroll) as http:
        assert_invalid_client(token_request(http, client["client_id"]))
    # A certificate of the right subject from another CA: refused as well.
    stranger_ca = make_ca("Stranger CA", now=deployment.now)
    lookalike = make_leaf(stranger_ca, now=deployment.now, common_name="billing")
    with deployment.tls(lookalike) as http:
        assert_invalid_client(token_request(http, client["client_id"]))


def test_a_forged_certificate_header_gets_nothing(deployment: Deployment) -> None:
    client = deployment.create(
        token_endpoint_auth_method="tls_client_auth", tls_client_auth_subject_dn=DN
    )
    good = make_leaf(deployment.client_ca, now=deployment.now, common_name="billing")
    forged = {HEADER: good.nginx_header()}
    # Straight to the app, from an address that is no trusted proxy: the header is ignored.
    with httpx.Client(base_url=deployment.app_url, timeout=10.0) as http:
        assert_invalid_client(token_request(http, client["client_id"], forged))
    # Through nginx with the header but no TLS certificate: nginx drops the client's.
    with deployment.tls(None) as http:
        assert_invalid_client(token_request(http, client["client_id"], forged))
        # In any spelling of its name.
        assert_invalid_client(
            token_request(http, client["client_id"], {HEADER.lower(): good.nginx_header()})
        )
    # Through nginx with another certificate: nginx replaces the header with that one.
    payroll = make_leaf(deployment.client_ca, now=deployment.now, common_name="payroll")
    with deployment.tls(payroll) as http:
        assert_invalid_client(token_request(http, client["client_id"], forged))
    # And the good certificate itself does work through nginx (the refusals above are
    # the header's, not a broken setup).
    with deployment.tls(good) as http:
        assert token_request(http, client["client_id"]).status_code == 200
