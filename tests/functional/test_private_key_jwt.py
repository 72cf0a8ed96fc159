"""private_key_jwt (RFC 7523 §2.2) through HTTP: the token endpoint (client_credentials),
introspection and revocation, on both databases. Every refusal is 401 invalid_client,
issues nothing, and leaves the replay store as it was (the same jti then works)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from sqlalchemy import func, select

from appward.auth.client_keys import key_uses
from appward.auth.models import UsedJti
from appward.clients.models import Client
from appward.clock import FrozenClock
from appward.config import Settings
from appward.services import unit_of_work
from tests.factories import SERVICE, SETUP_ACTOR, basic, metadata
from tests.functional.conftest import Api, open_api
from tests.keys import TestKey, ec_key, ed25519_key, rsa_key

pytestmark = pytest.mark.anyio

ISSUER = "http://127.0.0.1:8000"
TOKEN_URL = f"{ISSUER}/oauth2/token"
INTROSPECT_URL = f"{ISSUER}/oauth2/introspect"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@pytest.fixture
async def orders(api: Api) -> Api:
    created = await api.post("/admin/v1/scopes", {"name": "orders", "description": "Orders"})
    assert created.status_code == 201, created.text
    return api


async def register(api: Api, key: TestKey, **changes: Any) -> dict[str, Any]:
    """A private_key_jwt client_credentials client with ``key``'s public JWK."""
    fields = {
        "token_endpoint_auth_method": "private_key_jwt",
        "jwks": key.jwks(),
        "scope": "orders",
        **changes,
    }
    response = await api.post("/admin/v1/clients", metadata(SERVICE, **fields))
    assert response.status_code == 201, response.text
    return response.json()


def claims_for(client_id: str, clock: FrozenClock, **changes: Any) -> dict[str, Any]:
    now = int(clock.now().timestamp())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": ISSUER,
        "iat": now,
        "exp": now + 60,
        "jti": uuid.uuid4().hex,
        **changes,
    }
    return {k: v for k, v in claims.items() if v is not None}


def sign(key: TestKey, claims: dict[str, Any], alg: str | None = None, **header: Any) -> str:
    return jwt.encode(
        claims, key.private, algorithm=alg or key.alg, headers={"kid": key.kid, **header}
    )


def assertion_form(assertion: str, **extra: str) -> dict[str, str]:
    return {"client_assertion_type": JWT_BEARER, "client_assertion": assertion, **extra}


async def token(api: Api, assertion: str, **extra: str) -> Any:
    return await api.http.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials", **assertion_form(assertion, **extra)},
    )


def refused(response: Any) -> None:
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "invalid_client"
    assert "access_token" not in response.json()


async def jti_rows(api: Api) -> int:
    async with unit_of_work(api.app.state.appward, SETUP_ACTOR) as services:
        return int(await services.session.scalar(select(func.count()).select_from(UsedJti)) or 0)


# --- accepted ---


@pytest.mark.parametrize(
    ("key", "alg"),
    [(rsa_key(), "RS256"), (rsa_key(), "PS256"), (ec_key(), "ES256"), (ed25519_key(), "EdDSA")],
    ids=["RS256", "PS256", "ES256", "EdDSA"],
)
async def test_signed_assertion_gets_a_token(orders, clock, key, alg):
    client = await register(orders, key)
    assert "client_secret" not in client or client["client_secret"] is None
    response = await token(orders, sign(key, claims_for(client["client_id"], clock), alg))
    assert response.status_code == 200, response.text
    issued = jwt.decode(response.json()["access_token"], options={"verify_signature": False})
    assert issued["client_id"] == client["client_id"]
    assert await jti_rows(orders) == 1
    async with unit_of_work(orders.app.state.appward, SETUP_ACTOR) as services:
        pk = await services.session.scalar(
            select(Client.pk).where(Client.client_id == client["client_id"])
        )
        assert pk is not None
        assert set(await key_uses(services.session, pk)) == {key.kid}


async def test_assertion_without_kid_tries_each_key(orders, clock):
    key, other = rsa_key(), ec_key()
    client = await register(orders, key, jwks={"keys": [other.public_jwk(), key.public_jwk()]})
    assertion = jwt.encode(claims_for(client["client_id"], clock), key.private, algorithm="RS256")
    assert (await token(orders, assertion)).status_code == 200


# --- refused: a table of (case, how the assertion is made, registration changes) ---

Make = Callable[[dict[str, Any], FrozenClock], tuple[str, str | None]]


def _signed(key: TestKey, alg: str | None = None, **claim_changes: Any) -> Make:
    def make(client: dict[str, Any], clock: FrozenClock) -> tuple[str, str | None]:
        claims = claims_for(client["client_id"], clock, **claim_changes)
        return sign(key, claims, alg), claims.get("jti")

    return make


def _unsigned(client: dict[str, Any], clock: FrozenClock) -> tuple[str, str | None]:
    claims = claims_for(client["client_id"], clock)
    return jwt.encode(claims, None, algorithm="none", headers={"kid": "rsa-1"}), claims["jti"]


def _hmac_with_public_key(client: dict[str, Any], clock: FrozenClock) -> tuple[str, str | None]:
    # The classic confusion: an HS256 MAC keyed with the bytes of the client's public key.
    public = (
        rsa_key()
        .private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    claims = claims_for(client["client_id"], clock)
    header = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT","kid":"rsa-1"}').rstrip(b"=")
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=")
    mac = hmac.new(public, header + b"." + payload, hashlib.sha256).digest()
    signature = base64.urlsafe_b64encode(mac).rstrip(b"=")
    return (header + b"." + payload + b"." + signature).decode(), claims["jti"]


def _rsa_with_es256_header(client: dict[str, Any], clock: FrozenClock) -> tuple[str, str | None]:
    # Signed by the EC key, but the header names the RSA key's kid: no RSA key takes ES256.
    claims = claims_for(client["client_id"], clock)
    return sign(ec_key(), claims, "ES256", kid="rsa-1"), claims["jti"]


def _late(seconds: int, **changes: Any) -> Make:
    def make(client: dict[str, Any], clock: FrozenClock) -> tuple[str, str | None]:
        now = int(clock.now().timestamp())
        claims = claims_for(client["client_id"], clock, **{k: now + v for k, v in changes.items()})
        return sign(rsa_key(), claims), claims["jti"]

    return make


def _other_iss(client: dict[str, Any], clock: FrozenClock) -> tuple[str, str | None]:
    claims = claims_for(client["client_id"], clock, iss="someone-else")
    return sign(rsa_key(), claims), claims["jti"]


REFUSED: list[Any] = [
    pytest.param(_signed(ec_key("rsa-1"), "ES256"), {}, id="wrong-key"),
    pytest.param(_signed(rsa_key("rsa-other")), {}, id="unknown-kid"),
    pytest.param(_unsigned, {}, id="alg-none"),
    pytest.param(_hmac_with_public_key, {}, id="hmac-confusion"),
    pytest.param(_rsa_with_es256_header, {}, id="rsa-key-es256-header"),
    pytest.param(
        _signed(rsa_key(), "PS256"), {"jwks": rsa_key().jwks(alg="RS256")}, id="jwk-alg-mismatch"
    ),
    pytest.param(_late(0, iat=-400, exp=-100), {}, id="expired"),
    pytest.param(_late(0, nbf=120), {}, id="future-nbf"),
    pytest.param(_late(0, iat=120, exp=180), {}, id="future-iat"),
    pytest.param(_late(0, exp=400), {}, id="over-long"),
    pytest.param(_signed(rsa_key(), jti=None), {}, id="no-jti"),
    pytest.param(_signed(rsa_key(), jti=""), {}, id="empty-jti"),
    pytest.param(_signed(rsa_key(), exp=None), {}, id="no-exp"),
    pytest.param(_other_iss, {}, id="wrong-iss"),
    pytest.param(
        _signed(rsa_key(), "PS256"),
        {"token_endpoint_auth_signing_alg": "RS256"},
        id="signing-alg-narrowed",
    ),
    pytest.param(_signed(rsa_key(), aud="https://other.example.com/token"), {}, id="other-aud"),
]


@pytest.mark.parametrize(("make", "registration"), REFUSED)
async def test_refused_assertion_changes_nothing(orders, clock, make, registration):
    client = await register(orders, rsa_key(), **registration)
    assertion, jti = make(client, clock)
    refused(await token(orders, assertion))
    assert await jti_rows(orders) == 0  # the replay store is not polluted
    if jti:
        # The same jti, properly signed, is still usable: nothing recorded it.
        good = claims_for(client["client_id"], clock, jti=jti)
        algs = client.get("token_endpoint_auth_signing_alg") or "RS256"
        assert (await token(orders, sign(rsa_key(), good, algs))).status_code == 200


async def test_wrong_sub_names_another_client(orders, clock):
    mine = await register(orders, rsa_key())
    theirs = await register(orders, ec_key())
    claims = claims_for(mine["client_id"], clock, sub=theirs["client_id"])
    refused(await token(orders, sign(rsa_key(), claims)))
    refused(await token(orders, sign(ec_key(), claims)))  # iss is not theirs


async def test_client_id_differing_from_sub(orders, clock):
    mine = await register(orders, rsa_key())
    theirs = await register(orders, ec_key())
    assertion = sign(rsa_key(), claims_for(mine["client_id"], clock))
    refused(await token(orders, assertion, client_id=theirs["client_id"]))
    assert (await token(orders, assertion, client_id=mine["client_id"])).status_code == 200


async def test_replayed_jti_refused(orders, clock):
    client = await register(orders, rsa_key())
    assertion = sign(rsa_key(), claims_for(client["client_id"], clock))
    assert (await token(orders, assertion)).status_code == 200
    refused(await token(orders, assertion))
    # A new assertion reusing the jti is a replay too, until the first one expires.
    claims = claims_for(
        client["client_id"],
        clock,
        jti=jwt.decode(assertion, options={"verify_signature": False})["jti"],
    )
    refused(await token(orders, sign(rsa_key(), claims)))


async def test_expired_jti_no_longer_blocks(orders, clock):
    client = await register(orders, rsa_key())
    claims = claims_for(client["client_id"], clock, jti="reused")
    assert (await token(orders, sign(rsa_key(), claims))).status_code == 200
    clock.advance(400)
    again = claims_for(client["client_id"], clock, jti="reused")
    assert (await token(orders, sign(rsa_key(), again))).status_code == 200


async def test_secret_client_presenting_an_assertion(orders, clock):
    response = await orders.post(
        "/admin/v1/clients", metadata(SERVICE, scope="orders", jwks=rsa_key().jwks())
    )
    assert response.status_code == 201, response.text
    client = response.json()
    refused(await token(orders, sign(rsa_key(), claims_for(client["client_id"], clock))))
    assert await jti_rows(orders) == 0


async def test_private_key_jwt_client_presenting_a_secret(orders, clock):
    client = await register(orders, rsa_key())
    for headers, form in [
        (basic(client["client_id"], "aw_anything"), {}),
        ({}, {"client_id": client["client_id"], "client_secret": "aw_anything"}),
        ({}, {"client_id": client["client_id"]}),
    ]:
        response = await orders.http.post(
            "/oauth2/token", data={"grant_type": "client_credentials", **form}, headers=headers
        )
        refused(response)


async def test_no_secret_is_ever_issued(orders):
    client = await register(orders, rsa_key())
    assert not client.get("client_secret")
    cid = client["client_id"]
    listed = await orders.get(f"/admin/v1/clients/{cid}/secrets")
    assert listed.status_code == 200
    assert listed.json()["items"] == []
    rotated = await orders.post(f"/admin/v1/clients/{cid}/secrets", {})
    assert rotated.status_code in (400, 409, 422), rotated.text
    assert (await orders.get(f"/admin/v1/clients/{cid}/secrets")).json()["items"] == []
    # Switching a secret client to private_key_jwt leaves no usable secret behind.
    response = await orders.post(
        "/admin/v1/clients", metadata(SERVICE, scope="orders", jwks=rsa_key().jwks())
    )
    other = response.json()
    current = await orders.get(f"/admin/v1/clients/{other['client_id']}")
    patched = await orders.patch(
        f"/admin/v1/clients/{other['client_id']}",
        {"token_endpoint_auth_method": "private_key_jwt"},
        if_match=current.headers.get("ETag"),
    )
    assert patched.status_code == 200, patched.text
    assert not patched.json().get("client_secret")
    refused(await orders.client_credentials(other["client_id"], other["client_secret"]))


# --- audience: (aud, compat accepts, strict accepts) ---

AUDIENCES = [
    pytest.param(ISSUER, True, True, id="issuer"),
    pytest.param([ISSUER], True, False, id="issuer-in-list"),
    pytest.param(TOKEN_URL, True, False, id="token-endpoint"),
    pytest.param(
        [TOKEN_URL, "https://other.example.com"], True, False, id="token-endpoint-in-list"
    ),
    pytest.param(INTROSPECT_URL, False, False, id="introspection-url-at-token"),
    pytest.param("https://other.example.com/oauth2/token", False, False, id="other-url"),
]


# (server setting, client setting): the client's own setting wins over the server's.
MODES = [
    pytest.param("compat", None, "compat", id="compat-server"),
    pytest.param("strict", "compat", "compat", id="strict-server-compat-client"),
    pytest.param("strict", None, "strict", id="strict-server"),
    pytest.param("compat", "strict", "strict", id="compat-server-strict-client"),
]


@asynccontextmanager
async def server(settings: Settings, clock: FrozenClock, mode: str) -> AsyncIterator[Api]:
    async with open_api(settings.model_copy(update={"assertion_audience": mode}), clock) as api:
        created = await api.post("/admin/v1/scopes", {"name": "orders", "description": "O"})
        assert created.status_code == 201, created.text
        yield api


@pytest.mark.parametrize(("aud", "compat", "strict"), AUDIENCES)
@pytest.mark.parametrize(("server_mode", "client_mode", "effective"), MODES)
async def test_audience(settings, clock, aud, compat, strict, server_mode, client_mode, effective):
    async with server(settings, clock, server_mode) as api:
        changes = {} if client_mode is None else {"assertion_audience": client_mode}
        client = await register(api, rsa_key(), **changes)
        response = await token(
            api, sign(rsa_key(), claims_for(client["client_id"], clock, aud=aud))
        )
        if compat if effective == "compat" else strict:
            assert response.status_code == 200, response.text
        else:
            refused(response)


# --- introspection and revocation with the same authentication ---


async def test_introspect_and_revoke(orders, clock):
    client = await register(orders, rsa_key())
    cid = client["client_id"]
    issued = await token(orders, sign(rsa_key(), claims_for(cid, clock)))
    access = issued.json()["access_token"]
    # compat: the introspection URL is accepted as the audience at introspection.
    for aud in (ISSUER, INTROSPECT_URL):
        response = await orders.http.post(
            "/oauth2/introspect",
            data={
                "token": access,
                **assertion_form(sign(rsa_key(), claims_for(cid, clock, aud=aud))),
            },
        )
        assert response.status_code == 200, response.text
        assert response.json()["active"] is True
        assert response.json()["client_id"] == cid
    bad = await orders.http.post(
        "/oauth2/introspect",
        data={
            "token": access,
            **assertion_form(sign(ec_key("rsa-1"), claims_for(cid, clock), "ES256")),
        },
    )
    refused(bad)
    replay = sign(rsa_key(), claims_for(cid, clock))
    revoked = await orders.http.post(
        "/oauth2/revoke", data={"token": access, **assertion_form(replay)}
    )
    assert revoked.status_code == 200, revoked.text
    refused(
        await orders.http.post("/oauth2/revoke", data={"token": access, **assertion_form(replay)})
    )
    after = await orders.http.post(
        "/oauth2/introspect",
        data={"token": access, **assertion_form(sign(rsa_key(), claims_for(cid, clock)))},
    )
    assert after.json() == {"active": False}


async def test_introspection_url_refused_in_strict(settings, clock):
    async with server(settings, clock, "strict") as api:
        client = await register(api, rsa_key())
        cid = client["client_id"]
        access = (await token(api, sign(rsa_key(), claims_for(cid, clock)))).json()["access_token"]
        response = await api.http.post(
            "/oauth2/introspect",
            data={
                "token": access,
                **assertion_form(sign(rsa_key(), claims_for(cid, clock, aud=INTROSPECT_URL))),
            },
        )
        refused(response)


async def test_discovery_advertises_private_key_jwt(api):
    meta = (await api.http.get("/.well-known/oauth-authorization-server")).json()
    assert "private_key_jwt" in meta["token_endpoint_auth_methods_supported"]
    assert meta["token_endpoint_auth_signing_alg_values_supported"] == [
        "PS256",
        "ES256",
        "EdDSA",
        "RS256",
    ]
