"""Client assertions made by a third-party client: Authlib's PrivateKeyJWT (RS256, ES256)
and ClientSecretJWT (RFC 7523) on AsyncOAuth2Client, driving the app in-process for
client_credentials, introspection and revocation.

What Authlib sends, and what follows:
- ``aud`` is the URL of the endpoint it posts to (the token endpoint for fetch_token, the
  introspection or revocation endpoint for those), unless the method object is given a
  ``token_endpoint``: accepted in ``compat`` (the default), refused in ``strict``; with
  ``PrivateKeyJWT(issuer)`` Authlib sends the issuer identifier, accepted in both.
- ``exp`` is ``iat`` + 3600 s, which the default assertion_max_lifetime (300 s) refuses:
  raise it (APPWARD_ASSERTION_MAX_LIFETIME=3600) or have Authlib sign shorter-lived
  assertions (``ShortLived`` below passes ``expires_in`` through Authlib's own signer).
- ``claims=`` given to the method object is kept and Authlib writes the jti it generates
  into that dict, so every later assertion reuses it and is refused as a replay.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi import FastAPI

from appward.clock import SystemClock
from appward.config import Settings
from appward.web.app import create_app
from tests.factories import SERVICE, basic, metadata
from tests.functional.conftest import create_admin

with warnings.catch_warnings():
    # As in test_authlib_interop.py: Authlib's httpx fallback warning is expected here.
    from authlib.deprecate import AuthlibDeprecationWarning

    warnings.simplefilter("ignore", AuthlibDeprecationWarning)
    from authlib.integrations.base_client import OAuthError
    from authlib.integrations.httpx_client import AsyncOAuth2Client
    from authlib.oauth2.rfc7523 import ClientSecretJWT, PrivateKeyJWT
    from authlib.oauth2.rfc7523.assertion import client_secret_jwt_sign, private_key_jwt_sign
    from joserfc.jwk import ECKey, OctKey, RSAKey

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]

# Authlib's aud is the URL it calls: the app must be reached at its issuer identifier.
ISSUER = "http://127.0.0.1:8000"
TOKEN_URL = f"{ISSUER}/oauth2/token"
INTROSPECT_URL = f"{ISSUER}/oauth2/introspect"
REVOKE_URL = f"{ISSUER}/oauth2/revoke"
LIFETIME = 300  # the default assertion_max_lifetime


class ShortLived(PrivateKeyJWT):  # type: ignore[misc]
    """Authlib's PrivateKeyJWT with exp = iat + 300 s instead of its 3600 s, through
    Authlib's own signer (its ``expires_in``), everything else as Authlib does it."""

    def sign(self, auth: Any, token_endpoint: str) -> str:
        key = auth.client_secret
        return str(
            private_key_jwt_sign(
                key if isinstance(key, ECKey | RSAKey) else RSAKey.import_key(key),
                client_id=auth.client_id,
                token_endpoint=token_endpoint,
                header=self.headers,
                alg=self.alg,
                expires_in=LIFETIME,
            )
        )


class ShortLivedSecret(ClientSecretJWT):  # type: ignore[misc]
    """Authlib's ClientSecretJWT with exp = iat + 300 s, as ShortLived."""

    def sign(self, auth: Any, token_endpoint: str) -> str:
        return str(
            client_secret_jwt_sign(
                OctKey.import_key(auth.client_secret),  # as ClientSecretJWT.sign does
                client_id=auth.client_id,
                token_endpoint=token_endpoint,
                header=self.headers,
                alg=self.alg,
                expires_in=LIFETIME,
            )
        )


@dataclass(frozen=True)
class KeyPair:
    private: Any  # what Authlib signs with (a joserfc key)
    public_jwk: dict[str, Any]  # what the client registers


def key_pair(alg: str, kid: str | None = None) -> KeyPair:
    if alg == "ES256":
        key: Any = ec.generate_private_key(ec.SECP256R1())
        to_jwk, joserfc_key = jwt.algorithms.ECAlgorithm.to_jwk, ECKey
    else:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        to_jwk, joserfc_key = jwt.algorithms.RSAAlgorithm.to_jwk, RSAKey
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = json.loads(to_jwk(key.public_key()))
    if kid is not None:
        public["kid"] = kid
    return KeyPair(joserfc_key.import_key(pem), public)


@dataclass
class Server:
    app: FastAPI
    transport: httpx.ASGITransport
    admin: httpx.AsyncClient

    async def register(self, **fields: Any) -> dict[str, Any]:
        response = await self.admin.post(
            "/admin/v1/clients", json=metadata(SERVICE, scope="orders", **fields)
        )
        assert response.status_code == 201, response.text
        registered: dict[str, Any] = response.json()
        return registered

    def oauth(self, client_id: str, secret: Any, method: Any) -> AsyncOAuth2Client:
        """An Authlib client authenticating with ``method`` at every endpoint."""
        oauth = AsyncOAuth2Client(
            client_id=client_id,
            client_secret=secret,
            token_endpoint_auth_method=method.name,
            revocation_endpoint_auth_method=method.name,
            transport=self.transport,
            base_url=ISSUER,
        )
        oauth.register_client_auth_method(method)
        return oauth


@asynccontextmanager
async def serve(settings: Settings) -> AsyncIterator[Server]:
    # The real clock: Authlib stamps iat and exp from the time of day.
    app = create_app(settings, clock=SystemClock())
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.9", 4711))
        async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as admin:
            admin_id, admin_secret = await create_admin(app)
            token = await admin.post(
                "/oauth2/token",
                data={"grant_type": "client_credentials"},
                headers=basic(admin_id, admin_secret),
            )
            assert token.status_code == 200, token.text
            admin.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
            created = await admin.post(
                "/admin/v1/scopes", json={"name": "orders", "description": "orders"}
            )
            assert created.status_code == 201, created.text
            yield Server(app, transport, admin)


def with_settings(settings: Settings, **changes: Any) -> Settings:
    return Settings(**{**settings.model_dump(), **changes})


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[Server]:
    async with serve(settings) as started:
        yield started


@pytest.fixture
async def strict_server(settings: Settings) -> AsyncIterator[Server]:
    async with serve(with_settings(settings, assertion_audience="strict")) as started:
        yield started


async def use_everywhere(oauth: AsyncOAuth2Client, client_id: str) -> None:
    """client_credentials, then introspection and revocation of the token, each request
    with a new assertion; the token is this client's, active, then revoked."""
    token = await oauth.fetch_token(TOKEN_URL, grant_type="client_credentials")
    assert token["token_type"] == "Bearer"
    assert token["scope"] == "orders"
    claims = jwt.decode(token["access_token"], options={"verify_signature": False})
    assert claims["client_id"] == client_id
    answer = await oauth.introspect_token(INTROSPECT_URL, token=token["access_token"])
    assert answer.status_code == 200, answer.text
    assert answer.json()["active"] is True
    assert answer.json()["client_id"] == client_id
    revoked = await oauth.revoke_token(REVOKE_URL, token=token["access_token"])
    assert revoked.status_code == 200, revoked.text
    answer = await oauth.introspect_token(INTROSPECT_URL, token=token["access_token"])
    assert answer.json() == {"active": False}


async def refused(oauth: AsyncOAuth2Client) -> OAuthError:
    with pytest.raises(OAuthError) as raised:
        await oauth.fetch_token(TOKEN_URL, grant_type="client_credentials")
    assert raised.value.error == "invalid_client"
    return raised.value


# --- private_key_jwt ---


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
@pytest.mark.parametrize("kid", [None, "key-1"], ids=["no-kid", "kid"])
async def test_private_key_jwt_in_compat_with_the_endpoint_url_as_aud(
    server: Server, alg: str, kid: str | None
) -> None:
    """Authlib's default aud (the URL called) at the token, introspection and revocation
    endpoints: accepted in compat."""
    keys = key_pair(alg, kid)
    client = await server.register(
        token_endpoint_auth_method="private_key_jwt", jwks={"keys": [keys.public_jwk]}
    )
    headers = {"kid": kid} if kid else None
    method = ShortLived(headers=headers, alg=alg)
    async with server.oauth(client["client_id"], keys.private, method) as oauth:
        await use_everywhere(oauth, client["client_id"])


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
async def test_private_key_jwt_in_strict_refuses_the_endpoint_url_as_aud(
    strict_server: Server, alg: str
) -> None:
    """The same Authlib client in strict: its token endpoint aud is invalid_client."""
    keys = key_pair(alg)
    client = await strict_server.register(
        token_endpoint_auth_method="private_key_jwt", jwks={"keys": [keys.public_jwk]}
    )
    async with strict_server.oauth(client["client_id"], keys.private, ShortLived(alg=alg)) as oa:
        await refused(oa)


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
async def test_private_key_jwt_in_strict_with_the_issuer_as_aud(
    strict_server: Server, alg: str
) -> None:
    """PrivateKeyJWT(issuer): Authlib's aud is then the issuer identifier, which strict
    accepts at every endpoint."""
    keys = key_pair(alg)
    client = await strict_server.register(
        token_endpoint_auth_method="private_key_jwt", jwks={"keys": [keys.public_jwk]}
    )
    method = ShortLived(ISSUER, alg=alg)
    async with strict_server.oauth(client["client_id"], keys.private, method) as oauth:
        await use_everywhere(oauth, client["client_id"])


async def test_a_client_set_to_strict_refuses_the_endpoint_url_on_a_compat_server(
    server: Server,
) -> None:
    """A client's own assertion_audience overrides the server's."""
    keys = key_pair("ES256")
    client = await server.register(
        token_endpoint_auth_method="private_key_jwt",
        jwks={"keys": [keys.public_jwk]},
        assertion_audience="strict",
    )
    async with server.oauth(client["client_id"], keys.private, ShortLived(alg="ES256")) as oa:
        await refused(oa)
    async with server.oauth(
        client["client_id"], keys.private, ShortLived(ISSUER, alg="ES256")
    ) as oa:
        token = await oa.fetch_token(TOKEN_URL, grant_type="client_credentials")
    assert token["access_token"]


async def test_authlib_as_shipped_signs_for_an_hour_which_the_default_refuses(
    server: Server, settings: Settings
) -> None:
    """Authlib's own PrivateKeyJWT (exp = iat + 3600 s) is over the default 300 s."""
    keys = key_pair("RS256")
    client = await server.register(
        token_endpoint_auth_method="private_key_jwt", jwks={"keys": [keys.public_jwk]}
    )
    async with server.oauth(client["client_id"], keys.private, PrivateKeyJWT()) as oauth:
        await refused(oauth)


async def test_authlib_as_shipped_works_with_a_max_lifetime_of_an_hour(settings: Settings) -> None:
    """APPWARD_ASSERTION_MAX_LIFETIME=3600: Authlib's PrivateKeyJWT as it is, end to end."""
    async with serve(with_settings(settings, assertion_max_lifetime=3600)) as server:
        keys = key_pair("RS256")
        client = await server.register(
            token_endpoint_auth_method="private_key_jwt", jwks={"keys": [keys.public_jwk]}
        )
        async with server.oauth(client["client_id"], keys.private, PrivateKeyJWT()) as oauth:
            await use_everywhere(oauth, client["client_id"])


@pytest.mark.parametrize(
    "case",
    ["unregistered key", "RSA key for an ES256 client", "replayed jti"],
)
async def test_private_key_jwt_refusals_through_authlib(server: Server, case: str) -> None:
    """What Authlib can be made to send that must be invalid_client (and nothing issued)."""
    keys = key_pair("ES256")
    client = await server.register(
        token_endpoint_auth_method="private_key_jwt", jwks={"keys": [keys.public_jwk]}
    )
    client_id = client["client_id"]
    if case == "unregistered key":
        async with server.oauth(client_id, key_pair("ES256").private, ShortLived(alg="ES256")) as o:
            await refused(o)
    elif case == "RSA key for an ES256 client":
        async with server.oauth(client_id, key_pair("RS256").private, ShortLived(alg="RS256")) as o:
            await refused(o)
    else:
        # What Authlib's own classes do when given claims=: every assertion the same jti.
        async with server.oauth(client_id, keys.private, FixedJti(alg="ES256")) as oauth:
            first = await oauth.fetch_token(TOKEN_URL, grant_type="client_credentials")
            assert first["access_token"]
            await refused(oauth)


class FixedJti(ShortLived):
    """ShortLived with Authlib's ``claims`` behaviour: one jti for every assertion."""

    jti = "the-same-jti-every-time"

    def sign(self, auth: Any, token_endpoint: str) -> str:
        return str(
            private_key_jwt_sign(
                auth.client_secret,
                client_id=auth.client_id,
                token_endpoint=token_endpoint,
                claims={"jti": self.jti},
                alg=self.alg,
                expires_in=LIFETIME,
            )
        )


# --- client_secret_jwt ---


@pytest.mark.parametrize("alg", ["HS256", "HS512"])
async def test_client_secret_jwt_in_compat_with_the_endpoint_url_as_aud(
    server: Server, alg: str
) -> None:
    """Authlib's ClientSecretJWT with the registered secret, at every endpoint."""
    client = await server.register(token_endpoint_auth_method="client_secret_jwt")
    method = ShortLivedSecret(alg=alg)
    async with server.oauth(client["client_id"], client["client_secret"], method) as oauth:
        await use_everywhere(oauth, client["client_id"])


async def test_client_secret_jwt_in_strict(strict_server: Server) -> None:
    """strict: the endpoint URL as aud is refused, the issuer accepted."""
    client = await strict_server.register(token_endpoint_auth_method="client_secret_jwt")
    secret = client["client_secret"]
    async with strict_server.oauth(client["client_id"], secret, ShortLivedSecret()) as oauth:
        await refused(oauth)
    async with strict_server.oauth(client["client_id"], secret, ShortLivedSecret(ISSUER)) as oauth:
        await use_everywhere(oauth, client["client_id"])


async def test_client_secret_jwt_with_a_wrong_secret_is_invalid_client(server: Server) -> None:
    client = await server.register(token_endpoint_auth_method="client_secret_jwt")
    wrong = client["client_secret"][:-2] + ("aa" if client["client_secret"][-2:] != "aa" else "bb")
    async with server.oauth(client["client_id"], wrong, ShortLivedSecret()) as oauth:
        await refused(oauth)
