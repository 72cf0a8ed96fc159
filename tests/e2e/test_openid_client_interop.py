"""Interoperability with a client library from another ecosystem: panva's openid-client
(v6, Node; tests/e2e/openid_client_pkjwt.mjs, pinned in tests/e2e/package.json) discovers
a served Appward from its issuer identifier and authenticates with private_key_jwt for
client_credentials, introspection and revocation. openid-client signs its assertions with
``aud`` = the issuer identifier and a 60-second lifetime, so it works in both audience
modes."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from appward.config import Settings
from appward.migrations import upgrade
from tests.conftest import POSTGRES_URL, settings_env
from tests.conftest import _pg_execute as pg_execute
from tests.e2e.conftest import (
    APPWARD,
    HOST,
    appward,
    environment,
    free_port,
    module_settings,
    stop,
    wait_until_serving,
)
from tests.factories import SERVICE, metadata

pytestmark = pytest.mark.e2e

HERE = Path(__file__).parent
SCRIPT = HERE / "openid_client_pkjwt.mjs"
OPENID_CLIENT = HERE / "node_modules" / "openid-client" / "package.json"


def node() -> str:
    """Returns the node binary, once openid-client is installed; skips (fails where the
    browser tests are required, as in CI) otherwise."""
    found = shutil.which("node")
    problem = None
    if found is None:
        problem = "node is not installed"
    elif not OPENID_CLIENT.exists():
        problem = f"openid-client is not installed at {OPENID_CLIENT}: run `make browser-deps`"
    if problem is not None:
        if os.environ.get("APPWARD_REQUIRE_BROWSER") == "1":
            pytest.fail(problem)
        pytest.skip(problem)
    assert found is not None
    return found


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def issuer_and_admin(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    sqlite_template: Path,
) -> Iterator[tuple[str, str]]:
    """One served app per database for the module (as conftest's module_server, each test
    with clients of its own), at an issuer identifier that is its own URL, as
    openid-client's discovery requires. Yields the issuer and an admin access token."""
    root = tmp_path_factory.mktemp("openid-client")
    workdir = root / "work"
    workdir.mkdir()
    if request.param == "sqlite":
        path = root / "appward.db"
        shutil.copy(sqlite_template, path)
        with served(module_settings(f"sqlite+aiosqlite:///{path}", None, root), workdir) as s:
            yield s
        return
    request.getfixturevalue("postgres_schema")  # skips or fails as the database fixture does
    assert POSTGRES_URL
    schema = f"appward_openid_{os.getpid()}_{secrets.token_hex(3)}"
    pg_execute(f"CREATE SCHEMA {schema}")
    try:
        upgrade(POSTGRES_URL, schema)
        with served(module_settings(POSTGRES_URL, schema, root), workdir) as s:
            yield s
    finally:
        pg_execute(f"DROP SCHEMA {schema} CASCADE")


@contextlib.contextmanager
def served(settings: Settings, workdir: Path) -> Iterator[tuple[str, str]]:
    """Serves the app with its issuer identifier at its own loopback port: one worker,
    which uvicorn runs without the supervisor whose start-up health check can kill a slow
    worker on a loaded machine (replay across processes is tested elsewhere).
    Yields the issuer and an admin access token."""
    port = free_port()
    issuer = f"http://{HOST}:{port}"
    env = environment({**settings_env(settings), "APPWARD_ISSUER": issuer})
    appward(workdir, env, "db", "upgrade")
    admin = json.loads(appward(workdir, env, "admin", "create-client", "boot", "--json"))
    appward(workdir, env, "scopes", "create", "orders", "Orders")
    log = workdir / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(APPWARD), "serve", "--host", HOST, "--port", str(port), "--workers", "1"],
            cwd=workdir,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_until_serving(issuer, process, log)
        token = httpx.post(
            f"{issuer}/oauth2/token",
            data={"grant_type": "client_credentials"},
            auth=(admin["client_id"], admin["client_secret"]),
        )
        assert token.status_code == 200, token.text
        yield issuer, token.json()["access_token"]
    finally:
        stop(process)


def key_pair(alg: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Returns a new private JWK (for the client) and its public JWK (to register)."""
    if alg == "ES256":
        key: Any = ec.generate_private_key(ec.SECP256R1())
        to_jwk = jwt.algorithms.ECAlgorithm.to_jwk
    else:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        to_jwk = jwt.algorithms.RSAAlgorithm.to_jwk
    kid = f"{alg.lower()}-1"
    private = {**json.loads(to_jwk(key)), "kid": kid, "alg": alg}
    public = {**json.loads(to_jwk(key.public_key())), "kid": kid, "alg": alg, "use": "sig"}
    return private, public


def register(issuer: str, bearer: str, **fields: Any) -> str:
    response = httpx.post(
        f"{issuer}/admin/v1/clients",
        json=metadata(SERVICE, scope="orders", **fields),
        headers={"Authorization": f"Bearer {bearer}"},
    )
    assert response.status_code == 201, response.text
    client_id: str = response.json()["client_id"]
    return client_id


def openid_client(issuer: str, client_id: str, private_jwk: dict[str, Any]) -> dict[str, Any]:
    """Runs the Node client once; returns what it printed."""
    done = subprocess.run(
        [node(), str(SCRIPT)],
        env={
            **environment({}),
            "ISSUER": issuer,
            "CLIENT_ID": client_id,
            "PRIVATE_JWK": json.dumps(private_jwk),
            "SCOPE": "orders",
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.parametrize(
    ("alg", "audience_mode"),
    [("ES256", "compat"), ("RS256", "compat"), ("ES256", "strict"), ("PS256", "strict")],
)
def test_openid_client_private_key_jwt_client_credentials(
    issuer_and_admin: tuple[str, str], alg: str, audience_mode: str
) -> None:
    """RFC 7523 §2.2 through openid-client: a token, its introspection (active, this
    client's) and its revocation (then inactive), each call with a new assertion; the
    client's audience mode is ``audience_mode``."""
    node()
    issuer, bearer = issuer_and_admin
    private, public = key_pair(alg)
    client_id = register(
        issuer,
        bearer,
        token_endpoint_auth_method="private_key_jwt",
        jwks={"keys": [public]},
        assertion_audience=audience_mode,
    )
    result = openid_client(issuer, client_id, private)
    assert "error" not in result, result
    assert result["token"]["token_type"].lower() == "bearer"
    assert result["token"]["scope"] == "orders"
    claims = jwt.decode(result["token"]["access_token"], options={"verify_signature": False})
    assert claims["client_id"] == client_id
    assert result["introspection"]["active"] is True
    assert result["introspection"]["client_id"] == client_id
    assert result["after_revocation"] == {"active": False}


def test_openid_client_with_an_unregistered_key_gets_invalid_client(
    issuer_and_admin: tuple[str, str],
) -> None:
    """The same library signing with a key the client did not register (the same kid):
    refused, 401."""
    node()
    issuer, bearer = issuer_and_admin
    _, registered = key_pair("ES256")
    other, _ = key_pair("ES256")
    client_id = register(
        issuer,
        bearer,
        token_endpoint_auth_method="private_key_jwt",
        jwks={"keys": [registered]},
    )
    result = openid_client(issuer, client_id, other)
    assert result["error"] == "invalid_client", result
    assert result["status"] == 401
