"""A client assertion's jti is single-use across processes: two real server processes
(two workers each) on one database share the Redis replay store, so an assertion used on
one is refused on the other."""

from __future__ import annotations

import contextlib
import hashlib
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import redis

from appward.config import Settings
from tests.e2e.conftest import serving
from tests.factories import SERVICE, metadata
from tests.functional.conftest import REDIS_URL
from tests.functional.test_sessions import reachable_redis
from tests.keys import ec_key

pytestmark = pytest.mark.e2e

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ISSUER = "http://127.0.0.1:8000"


def admin_token(http: httpx.Client, admin: dict[str, Any]) -> dict[str, str]:
    response = http.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=(admin["client_id"], admin["client_secret"]),
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def assertion(client_id: str, jti: str) -> str:
    now = int(time.time())
    claims = {"iss": client_id, "sub": client_id, "aud": ISSUER, "iat": now, "exp": now + 60}
    key = ec_key()
    return jwt.encode({**claims, "jti": jti}, key.private, "ES256", headers={"kid": key.kid})


def client_credentials(http: httpx.Client, signed: str) -> httpx.Response:
    return http.post(
        "/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": JWT_BEARER,
            "client_assertion": signed,
        },
    )


def test_an_assertion_used_on_one_process_is_refused_on_another(
    settings: Settings, workdir: Path
) -> None:
    url = reachable_redis()
    assert url == REDIS_URL
    env = {"APPWARD_REDIS_URL": url, "APPWARD_ISSUER": ISSUER}
    other = workdir / "b"
    other.mkdir()
    with contextlib.ExitStack() as stack:
        base_a, admin = stack.enter_context(serving(settings, workdir, env))
        base_b, _ = stack.enter_context(serving(settings, other, env))
        assert base_a != base_b
        a = stack.enter_context(httpx.Client(base_url=base_a, timeout=10.0))
        b = stack.enter_context(httpx.Client(base_url=base_b, timeout=10.0))
        created = a.post(
            "/admin/v1/clients",
            json=metadata(
                SERVICE, token_endpoint_auth_method="private_key_jwt", jwks=ec_key().jwks()
            ),
            headers=admin_token(a, admin),
        )
        assert created.status_code == 201, created.text
        client_id = created.json()["client_id"]

        jti = uuid.uuid4().hex
        signed = assertion(client_id, jti)
        first = client_credentials(a, signed)
        assert first.status_code == 200, first.text
        for server in (b, a, b):  # whichever process and worker answers
            again = client_credentials(server, signed)
            assert again.status_code == 401, again.text
            assert again.json()["error"] == "invalid_client"
        # A fresh jti works on the other process; then it is spent there too.
        fresh = assertion(client_id, uuid.uuid4().hex)
        assert client_credentials(b, fresh).status_code == 200
        assert client_credentials(a, fresh).status_code == 401

    # The jti lived in Redis (db 3), under the client's namespace, until the assertion's exp.
    store = redis.Redis.from_url(url)
    try:
        key = f"appward:jti:{client_id}:{hashlib.sha256(jti.encode()).hexdigest()}"
        ttl = store.pttl(key)
        assert 0 < ttl <= 95_000
        store.delete(*store.keys(f"appward:jti:{client_id}:*"))
    finally:
        store.close()
