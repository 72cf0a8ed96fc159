"""Interoperability with a third-party OAuth client: Authlib's AsyncOAuth2Client drives the
app in-process, exactly as it would drive a deployed server."""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import jwt
import pytest
from fastapi import FastAPI

from appward.clock import FrozenClock
from appward.config import Settings
from appward.web.app import create_app
from tests.factories import NATIVE_APP, SERVICE, WEB_APP, basic, metadata
from tests.functional.conftest import create_admin
from tests.oauth_helpers import PASSWORD, Browser, query_of

with warnings.catch_warnings():
    # Authlib warns at import that it falls back to httpx when httpx2 is not installed;
    # httpx is what this project uses, so that fallback is the configuration under test.
    # authlib.deprecate installs an "always" filter for its warning on import, so the
    # "ignore" goes in after it.
    from authlib.deprecate import AuthlibDeprecationWarning

    warnings.simplefilter("ignore", AuthlibDeprecationWarning)
    from authlib.common.security import generate_token
    from authlib.integrations.base_client import OAuthError
    from authlib.integrations.httpx_client import AsyncOAuth2Client
    from authlib.oauth2.rfc6749.errors import MismatchingStateException

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]

BASE_URL = "http://testserver"
ISSUER = "http://127.0.0.1:8000"
REDIRECT = "https://app.example.com/callback"
AUTHORIZE_URL = f"{BASE_URL}/oauth2/authorize"
TOKEN_URL = f"{BASE_URL}/oauth2/token"
INTROSPECT_URL = f"{BASE_URL}/oauth2/introspect"
REVOKE_URL = f"{BASE_URL}/oauth2/revoke"


@dataclass
class Server:
    """The app behind an ASGI transport, and an admin client to set it up with."""

    app: FastAPI
    transport: httpx.ASGITransport
    admin: httpx.AsyncClient

    def oauth(self, client: dict, **kw: object) -> AsyncOAuth2Client:
        """An Authlib client for ``client``, talking to the app through the transport."""
        return AsyncOAuth2Client(
            client_id=client["client_id"],
            client_secret=client.get("client_secret"),
            token_endpoint_auth_method=client["metadata"]["token_endpoint_auth_method"],
            transport=self.transport,
            base_url=BASE_URL,
            **kw,
        )

    def browser(self) -> httpx.AsyncClient:
        """A user agent with its own cookie jar, on the same app."""
        return httpx.AsyncClient(transport=self.transport, base_url=BASE_URL)

    async def register(self, base: dict, **changes: object) -> dict:
        response = await self.admin.post("/admin/v1/clients", json=metadata(base, **changes))
        assert response.status_code == 201, response.text
        return response.json()


@pytest.fixture
async def server(settings: Settings, clock: FrozenClock) -> AsyncIterator[Server]:
    async with serve(settings, clock) as started:
        yield started


@pytest.fixture
async def dcr_server(settings: Settings, clock: FrozenClock) -> AsyncIterator[Server]:
    with_dcr = Settings(**{**settings.model_dump(), "dcr_modes": "open"})
    async with serve(with_dcr, clock) as started:
        yield started


@asynccontextmanager
async def serve(settings: Settings, clock: FrozenClock) -> AsyncIterator[Server]:
    app = create_app(settings, clock=clock)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.9", 4711))
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as admin:
            admin_id, admin_secret = await create_admin(app)
            token = await admin.post(
                "/oauth2/token",
                data={"grant_type": "client_credentials"},
                headers=basic(admin_id, admin_secret),
            )
            assert token.status_code == 200, token.text
            admin.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
            for name in ("profile", "orders"):
                created = await admin.post(
                    "/admin/v1/scopes", json={"name": name, "description": name}
                )
                assert created.status_code == 201, created.text
            user = await admin.post(
                "/admin/v1/users", json={"username": "alice", "password": PASSWORD}
            )
            assert user.status_code == 201, user.text
            yield Server(app, transport, admin)


async def authorize_as_alice(browser: httpx.AsyncClient, authorization_url: str) -> str:
    """Follows the authorization URL through login and consent; returns the final
    redirect to the client, as the user agent would deliver it."""
    b = Browser(browser)
    response = await browser.get(authorization_url)
    assert response.status_code == 303, response.text
    login_page = await b.follow(response)
    response = await b.follow(await b.login(login_page, "alice", PASSWORD))
    if response.status_code == 200 and 'name="decision"' in response.text:
        response = await b.decide(response, "allow")
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.startswith(REDIRECT + "?"), location
    return location


async def code_flow(server: Server, oauth: AsyncOAuth2Client, **params: str) -> dict:
    """Authorization code + PKCE S256 with Authlib on the client side; returns the token."""
    verifier = generate_token(48)
    url, state = oauth.create_authorization_url(AUTHORIZE_URL, code_verifier=verifier, **params)
    async with server.browser() as browser:
        redirect = await authorize_as_alice(browser, url)
    assert query_of(redirect)["iss"] == ISSUER  # RFC 9207 §2
    # Authlib compares the returned state with ours and raises on a mismatch.
    return await oauth.fetch_token(
        TOKEN_URL, authorization_response=redirect, state=state, code_verifier=verifier
    )


# --- discovery ---


async def test_discovery_document_reached_through_authlib(server):
    """RFC 8414 §3: a client finds the endpoints from the metadata document."""
    client = await server.register(SERVICE)
    async with server.oauth(client) as oauth:
        response = await oauth.request(
            "GET", "/.well-known/oauth-authorization-server", withhold_token=True
        )
    assert response.status_code == 200
    body = response.json()
    assert body["issuer"] == ISSUER
    assert body["token_endpoint"] == f"{ISSUER}/oauth2/token"
    assert "S256" in body["code_challenge_methods_supported"]


# --- client credentials ---


async def test_client_credentials_with_client_secret_basic(server):
    """RFC 6749 §4.4 with §2.3.1 Basic authentication, as Authlib sends it."""
    client = await server.register(SERVICE, scope="orders")
    async with server.oauth(client) as oauth:
        token = await oauth.fetch_token(TOKEN_URL, grant_type="client_credentials")
    assert token["token_type"] == "Bearer"
    assert token["scope"] == "orders"
    assert "refresh_token" not in token
    assert token["expires_at"] > 0  # Authlib derived it from expires_in
    claims = jwt.decode(token["access_token"], options={"verify_signature": False})
    assert claims["client_id"] == client["client_id"]


async def test_client_credentials_with_client_secret_post(server):
    """RFC 6749 §2.3.1: credentials in the request body, when registered that way."""
    client = await server.register(SERVICE, token_endpoint_auth_method="client_secret_post")
    async with server.oauth(client) as oauth:
        token = await oauth.fetch_token(TOKEN_URL, grant_type="client_credentials")
    assert token["access_token"]


async def test_client_credentials_with_a_wrong_secret_raises_invalid_client(server):
    """RFC 6749 §5.2: Authlib surfaces the server's invalid_client error."""
    client = await server.register(SERVICE)
    wrong = {**client, "client_secret": client["client_secret"][:-2] + "zz"}
    async with server.oauth(wrong) as oauth:
        with pytest.raises(OAuthError) as raised:
            await oauth.fetch_token(TOKEN_URL, grant_type="client_credentials")
    assert raised.value.error == "invalid_client"


async def test_authlib_client_calls_the_admin_api_with_its_token(server):
    """RFC 6750 §2.1: Authlib attaches the fetched token as a Bearer header."""
    admin = await server.register(SERVICE, scope="appward:admin")
    async with server.oauth(admin) as oauth:
        await oauth.fetch_token(TOKEN_URL, grant_type="client_credentials")
        response = await oauth.get("/admin/v1/clients")
    assert response.status_code == 200, response.text
    assert any(c["client_id"] == admin["client_id"] for c in response.json()["items"])


# --- authorization code with PKCE ---


async def test_authorization_code_with_pkce_s256(server):
    """RFC 6749 §4.1 with RFC 7636 S256, RFC 9207 iss and Authlib's state check."""
    client = await server.register(WEB_APP, scope="profile orders")
    async with server.oauth(
        client, redirect_uri=REDIRECT, scope="profile", code_challenge_method="S256"
    ) as oauth:
        token = await code_flow(server, oauth)
    assert token["scope"] == "profile"
    assert token["refresh_token"].startswith("apwrt_")
    claims = jwt.decode(token["access_token"], options={"verify_signature": False})
    assert claims["client_id"] == client["client_id"]
    assert claims["sub"] != client["client_id"]


async def test_public_client_code_flow_and_self_revocation(server):
    """RFC 8252 native client with PKCE and no secret; RFC 7009 §5 revocation with
    just client_id (Authlib's ``none`` method)."""
    client = await server.register(NATIVE_APP, scope="profile", redirect_uris=[REDIRECT])
    resource_server = await server.register(SERVICE)
    # A resource server may introspect other clients' tokens once an admin allows it.
    granted = await server.admin.post(
        f"/admin/v1/clients/{resource_server['client_id']}/grant-introspection"
    )
    assert granted.status_code == 200, granted.text
    async with server.oauth(client, redirect_uri=REDIRECT, code_challenge_method="S256") as oauth:
        token = await code_flow(server, oauth)
        async with server.oauth(resource_server) as rs:
            answer = await rs.introspect_token(INTROSPECT_URL, token=token["access_token"])
        assert answer.json()["active"] is True
        revoked = await oauth.revoke_token(REVOKE_URL, token=token["refresh_token"])
        assert revoked.status_code == 200
        with pytest.raises(OAuthError) as raised:
            await oauth.refresh_token(TOKEN_URL, refresh_token=token["refresh_token"])
    assert raised.value.error == "invalid_grant"
    async with server.oauth(resource_server) as rs:
        answer = await rs.introspect_token(INTROSPECT_URL, token=token["access_token"])
    assert answer.json() == {"active": False}


async def test_state_tampered_in_the_redirect_is_caught_by_the_client(server):
    """RFC 6749 §10.12: the server echoes state unchanged; a different state fails."""
    client = await server.register(WEB_APP, scope="profile")
    async with server.oauth(client, redirect_uri=REDIRECT, code_challenge_method="S256") as oauth:
        verifier = generate_token(48)
        url, state = oauth.create_authorization_url(AUTHORIZE_URL, code_verifier=verifier)
        async with server.browser() as browser:
            redirect = await authorize_as_alice(browser, url)
        assert query_of(redirect)["state"] == state
        with pytest.raises(MismatchingStateException):
            await oauth.fetch_token(
                TOKEN_URL,
                authorization_response=redirect,
                state=state + "x",
                code_verifier=verifier,
            )


async def test_wrong_code_verifier_is_invalid_grant(server):
    """RFC 7636 §4.6: the server refuses a verifier that does not match the challenge."""
    client = await server.register(WEB_APP, scope="profile")
    async with server.oauth(client, redirect_uri=REDIRECT, code_challenge_method="S256") as oauth:
        verifier = generate_token(48)
        url, state = oauth.create_authorization_url(AUTHORIZE_URL, code_verifier=verifier)
        async with server.browser() as browser:
            redirect = await authorize_as_alice(browser, url)
        with pytest.raises(OAuthError) as raised:
            await oauth.fetch_token(
                TOKEN_URL,
                authorization_response=redirect,
                state=state,
                code_verifier=generate_token(48),
            )
    assert raised.value.error == "invalid_grant"


# --- refresh ---


async def test_refresh_rotates_and_replaying_the_old_token_revokes_the_family(server):
    """RFC 6749 §6 with RFC 9700 §4.14.2: each refresh returns a new refresh token; the
    old one used again fails and takes the whole family with it."""
    client = await server.register(WEB_APP, scope="profile orders")
    async with server.oauth(
        client, redirect_uri=REDIRECT, scope="profile", code_challenge_method="S256"
    ) as oauth:
        first = dict(await code_flow(server, oauth))
        second = dict(await oauth.refresh_token(TOKEN_URL, refresh_token=first["refresh_token"]))
        assert second["refresh_token"] != first["refresh_token"]
        assert second["access_token"] != first["access_token"]
        assert second["scope"] == "profile"

        with pytest.raises(OAuthError) as raised:
            await oauth.refresh_token(TOKEN_URL, refresh_token=first["refresh_token"])
        assert raised.value.error == "invalid_grant"

        with pytest.raises(OAuthError) as again:
            await oauth.refresh_token(TOKEN_URL, refresh_token=second["refresh_token"])
        assert again.value.error == "invalid_grant"
        for token in (second["access_token"], second["refresh_token"], first["access_token"]):
            answer = await oauth.introspect_token(INTROSPECT_URL, token=token)
            assert answer.json() == {"active": False}, token


# --- introspection and revocation ---


async def test_introspect_and_revoke_through_authlib(server):
    """RFC 7662 §2 and RFC 7009 §2 with Authlib's helpers and token_type_hint."""
    client = await server.register(WEB_APP, scope="profile")
    async with server.oauth(client, redirect_uri=REDIRECT, code_challenge_method="S256") as oauth:
        token = await code_flow(server, oauth)
        answer = await oauth.introspect_token(
            INTROSPECT_URL, token=token["access_token"], token_type_hint="access_token"
        )
        assert answer.status_code == 200
        assert answer.headers["cache-control"] == "no-store"
        body = answer.json()
        assert body["active"] is True
        assert body["client_id"] == client["client_id"]
        assert body["scope"] == "profile"

        refresh_answer = await oauth.introspect_token(
            INTROSPECT_URL, token=token["refresh_token"], token_type_hint="refresh_token"
        )
        assert refresh_answer.json()["active"] is True

        revoked = await oauth.revoke_token(
            REVOKE_URL, token=token["access_token"], token_type_hint="access_token"
        )
        assert revoked.status_code == 200
        answer = await oauth.introspect_token(INTROSPECT_URL, token=token["access_token"])
        assert answer.json() == {"active": False}
        # Revoking the access token leaves the refresh token usable (RFC 7009 §2.1 MAY).
        refreshed = await oauth.refresh_token(TOKEN_URL, refresh_token=token["refresh_token"])
        assert refreshed["access_token"]

        revoked = await oauth.revoke_token(REVOKE_URL, token=refreshed["refresh_token"])
        assert revoked.status_code == 200
        answer = await oauth.introspect_token(INTROSPECT_URL, token=refreshed["access_token"])
        assert answer.json() == {"active": False}


async def test_client_secret_post_client_introspects_and_revokes(server):
    """RFC 7662 §2.1 / RFC 7009 §2.1 with client_secret_post on both sides."""
    client = await server.register(SERVICE, token_endpoint_auth_method="client_secret_post")
    async with server.oauth(client, revocation_endpoint_auth_method="client_secret_post") as oauth:
        token = await oauth.fetch_token(TOKEN_URL, grant_type="client_credentials")
        answer = await oauth.introspect_token(INTROSPECT_URL, token=token["access_token"])
        assert answer.json()["active"] is True
        revoked = await oauth.revoke_token(REVOKE_URL, token=token["access_token"])
        assert revoked.status_code == 200
        answer = await oauth.introspect_token(INTROSPECT_URL, token=token["access_token"])
        assert answer.json() == {"active": False}


# --- a client that registered itself ---


async def test_a_dynamically_registered_client_works_with_authlib(dcr_server):
    """RFC 7591: register over HTTP, then Authlib runs the code flow and refresh with the
    credentials the registration returned, within the scope it was granted."""
    async with dcr_server.browser() as anonymous:
        response = await anonymous.post(
            "/oauth2/register",
            json={
                "client_name": "Self-registered",
                "redirect_uris": [REDIRECT],
                "grant_types": ["authorization_code", "refresh_token"],
                "token_endpoint_auth_method": "client_secret_post",
                "scope": "profile orders appward:admin",
            },
        )
    assert response.status_code == 201, response.text
    registered = response.json()
    assert set(registered["scope"].split()) == {"profile", "orders"}
    client = {**registered, "metadata": registered}
    async with dcr_server.oauth(
        client, redirect_uri=REDIRECT, scope="profile", code_challenge_method="S256"
    ) as oauth:
        token = await code_flow(dcr_server, oauth)
        assert token["scope"] == "profile"
        refreshed = await oauth.refresh_token(TOKEN_URL, refresh_token=token["refresh_token"])
        assert refreshed["refresh_token"] != token["refresh_token"]
    async with dcr_server.oauth(
        client, redirect_uri=REDIRECT, scope="appward:admin", code_challenge_method="S256"
    ) as oauth:
        url, _ = oauth.create_authorization_url(AUTHORIZE_URL, code_verifier=generate_token(48))
        async with dcr_server.browser() as browser:
            refused = await browser.get(url)
        assert refused.status_code == 303
        assert query_of(refused.headers["location"])["error"] == "invalid_scope"
