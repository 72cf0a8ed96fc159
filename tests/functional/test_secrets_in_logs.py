"""No secret a run produces reaches a log line, the audit table or the database file.

Every flow runs through the app with JSON logging at DEBUG captured (Appward's loggers
and every library's, through the root logger) and the request log on: client
credentials, the authorization code with PKCE and a refresh, introspection, revocation,
dynamic registration with its registration access token, a secret's rotation,
private_key_jwt, sign-in with a password and a TOTP code. Then every secret, token,
code, verifier, assertion, password, session id and TOTP seed the run saw is searched
for in the captured lines, the audit events and (on SQLite) the database's files.
"""

from __future__ import annotations

import io
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from appward.clock import FrozenClock
from appward.config import Settings
from appward.logs import APP_LOGGER, JsonFormatter, configure_logging
from tests.auth_helpers import audit_text, create_account, enrol, sign_in
from tests.factories import SERVICE, WEB_APP, basic, metadata
from tests.functional.conftest import Api, open_api
from tests.keys import ec_key
from tests.log_capture import CapturedLog
from tests.oauth_helpers import PASSWORD, Browser, pkce_pair

pytestmark = pytest.mark.anyio

ISSUER = "http://127.0.0.1:8000"
REDIRECT = WEB_APP["redirect_uris"][0]
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """Every log line of the run, as JSON, at DEBUG: Appward's and every library's."""
    stream = CapturedLog()
    app_logger, root = logging.getLogger(APP_LOGGER), logging.getLogger()
    saved = (list(app_logger.handlers), app_logger.level, app_logger.propagate, root.level)
    configure_logging("json", "DEBUG", stream, replace=True)
    everything = logging.StreamHandler(stream)
    everything.setFormatter(JsonFormatter())
    root.addHandler(everything)
    root.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        root.removeHandler(everything)
        root.setLevel(saved[3])
        app_logger.handlers[:] = saved[0]
        app_logger.setLevel(saved[1])
        app_logger.propagate = saved[2]


def ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json() if response.content else {}
    return body


async def client_credentials_flow(api: Api, found: list[str]) -> None:
    service = ok(await api.post("/admin/v1/clients", SERVICE), 201)
    found.append(service["client_secret"])
    token = ok(await api.client_credentials(service["client_id"], service["client_secret"]))
    found.append(token["access_token"])
    wrong = "apwcs_" + "Wrong" * 8 + "abc"
    found.append(wrong)
    assert (await api.client_credentials(service["client_id"], wrong)).status_code == 401
    # Rotation: a new secret, the old one revoked, the new one used.
    added = ok(await api.post(f"/admin/v1/clients/{service['client_id']}/secrets", {}), 201)
    found.append(added["client_secret"])
    ok(await api.client_credentials(service["client_id"], added["client_secret"]))


async def code_flow(api: Api, found: list[str]) -> None:
    web = ok(await api.post("/admin/v1/clients", WEB_APP), 201)
    client_id, secret = web["client_id"], web["client_secret"]
    found.append(secret)
    await create_account(api, "alice")
    found.append(PASSWORD)
    verifier, challenge = pkce_pair()
    found.append(verifier)
    result = await Browser(api.http).code_for(
        "alice",
        response_type="code",
        client_id=client_id,
        redirect_uri=REDIRECT,
        code_challenge=challenge,
        code_challenge_method="S256",
        state="st-" + uuid.uuid4().hex,
    )
    found.append(result["code"])
    found.extend(value for value in api.http.cookies.values() if len(value) >= 16)
    tokens = ok(
        await api.http.post(
            "/oauth2/token",
            data={
                "grant_type": "authorization_code",
                "code": result["code"],
                "code_verifier": verifier,
                "redirect_uri": REDIRECT,
            },
            headers=basic(client_id, secret),
        )
    )
    found.extend([tokens["access_token"], tokens["refresh_token"]])
    refreshed = ok(
        await api.http.post(
            "/oauth2/token",
            data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
            headers=basic(client_id, secret),
        )
    )
    found.extend([refreshed["access_token"], refreshed["refresh_token"]])
    introspected = ok(
        await api.http.post(
            "/oauth2/introspect",
            data={"token": refreshed["access_token"]},
            headers=basic(client_id, secret),
        )
    )
    assert introspected["active"] is True
    ok(
        await api.http.post(
            "/oauth2/revoke",
            data={"token": refreshed["refresh_token"]},
            headers=basic(client_id, secret),
        )
    )
    # The code again: refused (the family goes), its refusal logged with its detail.
    again = await api.http.post(
        "/oauth2/token",
        data={
            "grant_type": "authorization_code",
            "code": result["code"],
            "code_verifier": verifier,
            "redirect_uri": REDIRECT,
        },
        headers=basic(client_id, secret),
    )
    assert again.status_code == 400


async def registration_flow(api: Api, found: list[str]) -> None:
    registered = ok(
        await api.http.post(
            "/oauth2/register",
            json={"client_name": "Partner", "redirect_uris": [REDIRECT]},
        ),
        201,
    )
    found.extend([registered["client_secret"], registered["registration_access_token"]])
    bearer = {"Authorization": f"Bearer {registered['registration_access_token']}"}
    uri = f"/oauth2/register/{registered['client_id']}"
    ok(await api.http.get(uri, headers=bearer))
    updated = ok(
        await api.http.put(
            uri,
            json={
                "client_id": registered["client_id"],
                "client_name": "Partner 2",
                "redirect_uris": [REDIRECT],
            },
            headers=bearer,
        )
    )
    found.extend(
        updated[name] for name in ("client_secret", "registration_access_token") if name in updated
    )


async def private_key_jwt_flow(api: Api, clock: FrozenClock, found: list[str]) -> None:
    key = ec_key()
    fields = {"token_endpoint_auth_method": "private_key_jwt", "jwks": key.jwks()}
    client = ok(await api.post("/admin/v1/clients", metadata(SERVICE, **fields)), 201)
    now = int(clock.now().timestamp())
    claims = {
        "iss": client["client_id"],
        "sub": client["client_id"],
        "aud": ISSUER,
        "iat": now,
        "exp": now + 60,
        "jti": uuid.uuid4().hex,
    }
    assertion = jwt.encode(claims, key.private, algorithm=key.alg, headers={"kid": key.kid})
    found.append(assertion)
    pem = key.private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    found.append("".join(pem.splitlines()[1:-1])[:64])
    form = {"grant_type": "client_credentials", "client_assertion_type": JWT_BEARER}
    token = ok(await api.http.post("/oauth2/token", data={**form, "client_assertion": assertion}))
    found.append(token["access_token"])
    replayed = await api.http.post("/oauth2/token", data={**form, "client_assertion": assertion})
    assert replayed.status_code == 401


async def totp_flow(api: Api, clock: FrozenClock, found: list[str]) -> None:
    await create_account(api, "bob")
    seed, recovery_codes = await enrol(api.app, "bob", clock)
    found.append(seed)
    found.extend(recovery_codes)
    transport = httpx.ASGITransport(app=api.app, client=("127.0.0.9", 4712))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as browser:
        await sign_in(browser, "bob", seed=seed, clock=clock)
        found.extend(value for value in browser.cookies.values() if len(value) >= 16)


def database_files(settings: Settings) -> list[Path]:
    if not settings.database_url.startswith("sqlite"):
        return []
    path = Path(settings.database_url.split("///", 1)[1])
    return [p for p in (path, Path(f"{path}-wal"), Path(f"{path}-journal")) if p.exists()]


async def test_no_secret_of_any_flow_is_logged_audited_or_stored(
    settings: Settings, clock: FrozenClock, captured: io.StringIO
) -> None:
    observed = Settings(
        **{
            **settings.model_dump(),
            "dcr_modes": "open",
            "request_log": True,
            "log_format": "json",
            "log_level": "DEBUG",
        }
    )
    found: list[str] = []
    async with open_api(observed, clock) as api:
        found.extend([api.admin_secret, api.admin_token])
        await client_credentials_flow(api, found)
        await code_flow(api, found)
        await registration_flow(api, found)
        await private_key_jwt_flow(api, clock, found)
        await totp_flow(api, clock, found)
        audit = await audit_text(api.app)
        files = {path.name: path.read_bytes() for path in database_files(observed)}

    log = captured.getvalue()
    # The capture is real: the run's requests and their refusals are in it.
    assert '"logger":"appward.request"' in log
    assert '"error":"invalid_client"' in log
    assert '"error":"invalid_grant"' in log
    if files:
        assert any(b"client:secret:added" in data for data in files.values())
    assert len(found) >= 20
    for value in found:
        assert value not in log, f"a secret of the run is in the log: {value[:6]}..."
        assert value not in audit, f"a secret of the run is in the audit log: {value[:6]}..."
        # A token's distinctive part too: a JWT's signature, a secret after its prefix.
        tail = value.rsplit(".", 1)[-1].split("_", 1)[-1]
        for name, data in files.items():
            assert value.encode() not in data, f"{value[:6]}... is stored in {name}"
            if len(tail) >= 16:
                assert tail.encode() not in data, f"{value[:6]}... is stored in {name}"
