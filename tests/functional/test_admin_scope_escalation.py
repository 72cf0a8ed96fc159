"""The admin scope belongs to a confidential client's own client_credentials token only.

An attacker's probe found that an admin could give ``appward:admin`` to a public client,
and an end user could then consent to it at /authorize and use the code's token on the
admin API. Each path there is closed, and each is pinned here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select, update

from appward.clients.models import Client, ClientScope
from appward.tokens.access import AccessTokenRequest, issue_access_token
from appward.tokens.models import Grant
from tests.factories import NATIVE_APP, SERVICE, WEB_APP, basic, metadata
from tests.functional.conftest import (
    ADMIN_ROUTES,
    admin_request,
    audit_trail,
    create_admin_targets,
)
from tests.oauth_helpers import PASSWORD, Browser, pkce_pair, query_of

pytestmark = pytest.mark.anyio

ADMIN = "appward:admin"
REDIRECT = "https://app.example.com/callback"
LOOPBACK = "http://127.0.0.1/callback"


@pytest.fixture
async def api_with_user(api):
    await api.post("/admin/v1/scopes", {"name": "profile", "description": "See your profile"})
    created = await api.post("/admin/v1/users", {"username": "alice", "password": PASSWORD})
    assert created.status_code == 201, created.text
    return api


async def bearer_get(api, token: str, url: str = "/admin/v1/clients"):
    return await api.http.get(url, headers={"Authorization": f"Bearer {token}"})


async def redeem(api, client: dict, code: str, verifier: str, redirect_uri: str = REDIRECT):
    """The code exchange, authenticated as the client registered (Basic, or public)."""
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "code_verifier": verifier,
        "redirect_uri": redirect_uri,
    }
    if client.get("client_secret"):
        headers = basic(client["client_id"], client["client_secret"])
        return await api.http.post("/oauth2/token", data=form, headers=headers)
    return await api.http.post("/oauth2/token", data={**form, "client_id": client["client_id"]})


# --- registration: no public client may hold the scope ---


@pytest.mark.parametrize(
    "client",
    [
        metadata(NATIVE_APP, scope=ADMIN),
        metadata(NATIVE_APP, scope=f"profile {ADMIN}"),
        metadata(WEB_APP, token_endpoint_auth_method="none", scope=ADMIN),
    ],
)
async def test_admin_api_refuses_the_admin_scope_for_a_public_client(api_with_user, client):
    api = api_with_user
    before = (await api.get("/admin/v1/clients")).json()["items"]
    response = await api.post("/admin/v1/clients", client)
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid_client_metadata"
    assert any(e["field"] == "scope" for e in body["errors"]), body
    assert (await api.get("/admin/v1/clients")).json()["items"] == before


async def test_admin_scope_needs_the_client_credentials_grant(api_with_user):
    api = api_with_user
    response = await api.post("/admin/v1/clients", metadata(WEB_APP, scope=f"profile {ADMIN}"))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_client_metadata"
    assert "client_credentials" in response.json()["detail"]


async def test_a_public_client_cannot_be_patched_into_the_admin_scope(api_with_user):
    api = api_with_user
    created = (await api.post("/admin/v1/clients", metadata(NATIVE_APP, scope="profile"))).json()
    url = f"/admin/v1/clients/{created['client_id']}"
    etag = (await api.get(url)).headers["etag"]
    response = await api.patch(url, {"scope": f"profile {ADMIN}"}, if_match=etag)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_client_metadata"
    assert (await api.get(url)).json()["metadata"]["scope"] == "profile"


async def test_a_confidential_client_cannot_turn_public_while_holding_the_admin_scope(api):
    created = (await api.post("/admin/v1/clients", metadata(SERVICE, scope=ADMIN))).json()
    url = f"/admin/v1/clients/{created['client_id']}"
    etag = (await api.get(url)).headers["etag"]
    response = await api.patch(
        url,
        {
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code"],
            "redirect_uris": [REDIRECT],
        },
        if_match=etag,
    )
    assert response.status_code == 400
    assert (await api.get(url)).json()["metadata"][
        "token_endpoint_auth_method"
    ] == "client_secret_basic"


# --- /authorize: never on a user's behalf ---


async def admin_web_client(api) -> dict:
    """A confidential client allowed both the code flow and its own admin token."""
    response = await api.post(
        "/admin/v1/clients",
        metadata(
            WEB_APP,
            grant_types=["authorization_code", "refresh_token", "client_credentials"],
            scope=f"profile {ADMIN}",
        ),
    )
    assert response.status_code == 201, response.text
    return response.json()


async def test_authorize_refuses_the_admin_scope(api_with_user):
    api = api_with_user
    client = await admin_web_client(api)
    _, challenge = pkce_pair()
    response = await Browser(api.http).authorize(
        response_type="code",
        client_id=client["client_id"],
        redirect_uri=REDIRECT,
        scope=f"profile {ADMIN}",
        state="s1",
        code_challenge=challenge,
        code_challenge_method="S256",
    )
    assert response.status_code == 303
    query = query_of(response.headers["location"])
    assert query["error"] == "invalid_scope"
    assert query["state"] == "s1"


async def test_authorize_without_a_scope_leaves_the_admin_scope_out(api_with_user):
    """RFC 6749 §3.3 lets the server pick the default scope: never the admin one."""
    api = api_with_user
    client = await admin_web_client(api)
    verifier, challenge = pkce_pair()
    result = await Browser(api.http).code_for(
        response_type="code",
        client_id=client["client_id"],
        redirect_uri=REDIRECT,
        code_challenge=challenge,
        code_challenge_method="S256",
    )
    token = await redeem(api, client, result["code"], verifier)
    assert token.status_code == 200, token.text
    assert token.json()["scope"] == "profile"
    denied = await bearer_get(api, token.json()["access_token"])
    assert denied.status_code == 403
    assert denied.json()["error"] == "insufficient_scope"

    refreshed = await api.http.post(
        "/oauth2/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": token.json()["refresh_token"],
            "scope": ADMIN,
        },
        headers=basic(client["client_id"], client["client_secret"]),
    )
    assert refreshed.status_code == 400
    assert refreshed.json()["error"] == "invalid_scope"

    # The same client's own token still administers: the scope is not taken from it.
    own = await api.client_credentials(client["client_id"], client["client_secret"], scope=ADMIN)
    assert own.status_code == 200
    assert (await bearer_get(api, own.json()["access_token"])).status_code == 200


# --- what was stored before the fix: legacy grants, scopes and tokens ---


async def legacy_public_admin_client(api) -> dict:
    """A public client holding the admin scope, as the registry allowed before the fix."""
    created = (await api.post("/admin/v1/clients", metadata(NATIVE_APP, scope="profile"))).json()
    async with api.app.state.appward.sessions()() as session:
        pk = await session.scalar(select(Client.pk).where(Client.client_id == created["client_id"]))
        await session.execute(insert(ClientScope).values(client_pk=pk, scope_name=ADMIN))
        await session.commit()
    return created


async def test_a_legacy_public_admin_client_gets_no_admin_token_through_authorize(
    api_with_user,
):
    api = api_with_user
    client = await legacy_public_admin_client(api)
    verifier, challenge = pkce_pair()
    params = {
        "response_type": "code",
        "client_id": client["client_id"],
        "redirect_uri": LOOPBACK,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    refused = await Browser(api.http).code_for(**params, scope=ADMIN)
    assert refused["error"] == "invalid_scope"

    result = await Browser(api.http).code_for(**params)
    token = await redeem(api, client, result["code"], verifier, LOOPBACK)
    assert token.status_code == 200, token.text
    assert token.json()["scope"] == "profile"
    assert (await bearer_get(api, token.json()["access_token"])).status_code == 403


@dataclass(frozen=True)
class UserTokens:
    """An end user's tokens from the code flow of a client that holds the admin scope."""

    client: dict[str, Any]
    issued: dict[str, Any]  # the code exchange's answer: scope profile
    legacy: str  # signed by this server on the user's behalf, carrying the admin scope


async def user_tokens(api) -> UserTokens:
    """The user consents to what /authorize allows; then the grant is widened to the admin
    scope, as a consent stored before the fix would be, and a token issued for it."""
    client = await admin_web_client(api)
    verifier, challenge = pkce_pair()
    result = await Browser(api.http).code_for(
        response_type="code",
        client_id=client["client_id"],
        redirect_uri=REDIRECT,
        scope="profile",
        code_challenge=challenge,
        code_challenge_method="S256",
    )
    issued = await redeem(api, client, result["code"], verifier)
    assert issued.status_code == 200, issued.text
    state = api.app.state.appward
    async with state.sessions()() as session:
        grant = await session.scalar(select(Grant))
        assert grant is not None
        grant_id, user_id = grant.id, grant.user_id
        await session.execute(
            update(Grant).where(Grant.id == grant_id).values(scopes=["profile", ADMIN])
        )
        await session.commit()
    legacy = issue_access_token(
        state.key_ring(),
        AccessTokenRequest(
            client_id=client["client_id"],
            subject=str(user_id),
            scopes=["profile", ADMIN],
            lifetime=600,
            audience=state.settings.issuer,
            grant_id=grant_id,
        ),
        issuer=state.settings.issuer,
        now=state.clock.now() - timedelta(seconds=1),
    )
    return UserTokens(client, issued.json(), legacy)


async def test_a_user_token_never_passes_the_admin_check_whatever_its_scope(api_with_user):
    """A token signed by this server before the fix, on a user's behalf and carrying the
    admin scope of a client that still holds it, is refused by the admin API."""
    api = api_with_user
    tokens = await user_tokens(api)
    client = tokens.client
    introspected = await api.http.post(
        "/oauth2/introspect",
        data={"token": tokens.legacy},
        headers=basic(client["client_id"], client["client_secret"]),
    )
    assert introspected.json()["active"] is True  # a valid token, just not an admin one
    denied = await bearer_get(api, tokens.legacy)
    assert denied.status_code == 403
    assert denied.json()["error"] == "insufficient_scope"

    # A refresh of that grant does not hand the scope out again either.
    refreshed = await api.http.post(
        "/oauth2/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens.issued["refresh_token"]},
        headers=basic(client["client_id"], client["client_secret"]),
    )
    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.json()["scope"] == "profile"


@pytest.mark.parametrize(("method", "path"), ADMIN_ROUTES)
async def test_every_admin_route_refuses_an_end_users_token(api_with_user, method, path):
    """Whatever the user consented to, and even with the admin scope in it, a token on a
    user's behalf administers nothing."""
    api = api_with_user
    targets = await create_admin_targets(api)
    tokens = await user_tokens(api)
    before = await audit_trail(api)
    for token in (tokens.issued["access_token"], tokens.legacy):
        response = await admin_request(
            api, method, targets.url(path), {"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 403, response.text
        assert response.json()["error"] == "insufficient_scope"
    assert await audit_trail(api) == before
