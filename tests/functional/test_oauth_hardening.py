"""Regression tests from the OAuth core's security review."""

from __future__ import annotations

import asyncio
import re
from urllib.parse import urlencode

import httpx
import pytest
from sqlalchemy import update

from appward.users.models import User
from tests.factories import SERVICE, basic
from tests.functional.test_authorization_code import (
    REDIRECT,
    browser,
    exchange,
    refresh,
    register,
    tokens_for,
)
from tests.oauth_helpers import PASSWORD, hidden_fields, pkce_pair, query_of

pytestmark = pytest.mark.anyio


@pytest.fixture
async def setup(api):
    await api.post("/admin/v1/scopes", {"name": "profile", "description": "See your profile"})
    await api.post("/admin/v1/scopes", {"name": "orders", "description": "Manage your orders"})
    await api.post("/admin/v1/users", {"username": "alice", "password": PASSWORD})
    return api


async def test_code_issued_before_consent_was_withdrawn_is_refused(setup):
    api = setup
    client = await register(api)
    await tokens_for(api, client)  # consent given, first grant used
    verifier, challenge = pkce_pair()
    result = await browser(api).code_for(
        response_type="code",
        client_id=client["client_id"],
        code_challenge=challenge,
        code_challenge_method="S256",
    )
    account = await api.http.get("/account")
    await api.http.post(
        f"/account/grants/{client['client_id']}/revoke",
        data={"csrf": hidden_fields(account.text)["csrf"]},
    )
    response = await exchange(api, client, result["code"], verifier)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


async def disable_alice(api) -> None:
    state = api.app.state.appward
    async with state.sessions()() as session:
        await session.execute(
            update(User).where(User.username == "alice").values(disabled_at=state.clock.now())
        )
        await session.commit()


async def test_disabled_user_is_signed_out_and_loses_refresh(setup):
    api = setup
    client = await register(api)
    tokens = await tokens_for(api, client)
    await disable_alice(api)
    _, challenge = pkce_pair()
    again = await browser(api).authorize(
        response_type="code",
        client_id=client["client_id"],
        code_challenge=challenge,
        code_challenge_method="S256",
    )
    assert again.status_code == 303
    assert again.headers["location"].startswith("/login")
    refused = await refresh(api, client, tokens["refresh_token"])
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_grant"


async def test_prompt_login_requires_signing_in_again(setup):
    api = setup
    client = await register(api)
    b = browser(api)
    _, challenge = pkce_pair()
    params = {
        "response_type": "code",
        "client_id": client["client_id"],
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    await b.code_for(**params)  # signed in, consent given
    forced = await b.authorize(prompt="login", **params)
    assert forced.headers["location"].startswith("/login")
    # Skipping the login form and going straight back is not enough.
    skipped = await b.authorize(**params)
    assert skipped.headers["location"].startswith("/login")
    login_page = await b.follow(skipped)
    after = await b.follow(await b.login(login_page, "alice", PASSWORD))
    assert "code" in query_of(after.headers["location"])


async def test_prompt_consent_survives_signing_in(setup):
    """prompt=consent from a user not yet signed in: the consent page still comes after
    the login, though consent was given before (OIDC Core §3.1.2.1)."""
    api = setup
    client = await register(api)
    _, challenge = pkce_pair()
    params = {
        "response_type": "code",
        "client_id": client["client_id"],
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    await browser(api).code_for(**params)  # consent given
    api.http.cookies.clear()
    b = browser(api)
    sent = await b.authorize(prompt="consent", **params)
    assert sent.headers["location"].startswith("/login")
    asked = await b.follow(await b.login(await b.follow(sent), "alice", PASSWORD))
    assert asked.status_code == 200
    assert 'name="decision"' in asked.text
    answered = query_of((await b.decide(asked, "allow")).headers["location"])
    assert "code" in answered


async def test_two_tabs_allowing_at_once_do_not_fail(setup):
    api = setup
    client = await register(api)
    b = browser(api)
    consent = await b.consent_page(client["client_id"])
    fields = {**hidden_fields(consent.text), "decision": "allow"}
    answers = await asyncio.gather(
        *(api.http.post("/oauth2/authorize", data=fields) for _ in range(4))
    )
    assert {a.status_code for a in answers} == {303}
    assert all(a.headers["location"].startswith(REDIRECT) for a in answers)


async def test_form_endpoints_work_under_a_root_path(api):
    created = (await api.post("/admin/v1/clients", SERVICE)).json()
    transport = httpx.ASGITransport(app=api.app, root_path="/auth")
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        response = await http.post(
            "/auth/oauth2/token",
            data={"grant_type": "client_credentials"},
            headers=basic(created["client_id"], created["client_secret"]),
        )
    assert response.status_code == 200, response.text


async def test_first_party_grants_show_on_account_and_can_be_revoked(setup):
    api = setup
    client = await register(api, skip_consent=True, client_name="Our Own App")
    tokens = await tokens_for(api, client)
    account = await api.http.get("/account")
    assert "Our Own App" in account.text
    await api.http.post(
        f"/account/grants/{client['client_id']}/revoke",
        data={"csrf": hidden_fields(account.text)["csrf"]},
    )
    assert "Our Own App" not in (await api.http.get("/account")).text
    assert (await refresh(api, client, tokens["refresh_token"])).status_code == 400


async def test_prompt_consent_asks_even_a_first_party_client(setup):
    api = setup
    client = await register(api, skip_consent=True)
    b = browser(api)
    _, challenge = pkce_pair()
    params = {
        "response_type": "code",
        "client_id": client["client_id"],
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    await b.code_for(**params)
    asked = await b.authorize(prompt="consent", **params)
    assert asked.status_code == 200
    assert 'name="decision"' in asked.text


# RFC 6749 §5.2: error_description "MUST NOT include characters outside the set
# %x20-21 / %x23-5B / %x5D-7E": quotes, backslashes, newlines and non-ASCII echoed from
# the request are replaced, in JSON bodies and in the redirect of /authorize alike.
DESCRIPTION_SET = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]*")
HOSTILE = 'x"y\\z\nété'


FORM = "application/x-www-form-urlencoded"


@pytest.mark.parametrize(
    ("pairs", "error"),
    [
        ((("grant_type", HOSTILE),), "unsupported_grant_type"),
        ((("grant_type", "client_credentials"), ("scope", HOSTILE)), "invalid_scope"),
        (((HOSTILE, "1"), (HOSTILE, "2")), "invalid_request"),
    ],
    ids=["grant_type", "scope", "parameter_name"],
)
async def test_token_error_description_keeps_to_the_rfc_character_set(api, pairs, error):
    response = await api.http.post(
        "/oauth2/token",
        content=urlencode(pairs),
        headers={**basic(api.admin_id, api.admin_secret), "Content-Type": FORM},
    )
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error"] == error
    assert DESCRIPTION_SET.fullmatch(body["error_description"]), body["error_description"]
    assert "x%22y" in body["error_description"]  # still says what was sent


async def test_authorize_redirect_error_description_keeps_to_the_rfc_character_set(setup):
    api = setup
    client = await register(api)
    _, challenge = pkce_pair()
    response = await browser(api).authorize(
        response_type="code",
        client_id=client["client_id"],
        code_challenge=challenge,
        code_challenge_method="S256",
        scope=f"profile {HOSTILE}",
    )
    assert response.status_code == 303
    assert response.headers["location"].startswith(REDIRECT)
    query = query_of(response.headers["location"])
    assert query["error"] == "invalid_scope"
    assert DESCRIPTION_SET.fullmatch(query["error_description"]), query["error_description"]
    assert "%C3%A9t%C3%A9" in query["error_description"]


async def test_disabled_users_tokens_introspect_as_inactive(setup):
    """RFC 7662 §2.2: ``active`` says whether the token is currently usable. Once its user
    is disabled, a refresh is refused (invalid_grant), so neither that refresh token nor
    an access token issued on the user's behalf may be reported active to a resource
    server."""
    api = setup
    client = await register(api)
    tokens = await tokens_for(api, client)
    resource = (await api.post("/admin/v1/clients", SERVICE)).json()
    # A resource server: an admin let it introspect other clients' tokens.
    await api.post(f"/admin/v1/clients/{resource['client_id']}/grant-introspection")
    as_resource = basic(resource["client_id"], resource["client_secret"])
    as_client = basic(client["client_id"], client["client_secret"])

    async def introspect(token: str, headers: dict[str, str]) -> dict:
        response = await api.http.post("/oauth2/introspect", data={"token": token}, headers=headers)
        assert response.status_code == 200, response.text
        return response.json()

    assert (await introspect(tokens["access_token"], as_resource))["active"] is True
    assert (await introspect(tokens["refresh_token"], as_client))["active"] is True
    await disable_alice(api)
    assert await introspect(tokens["access_token"], as_resource) == {"active": False}
    assert await introspect(tokens["refresh_token"], as_client) == {"active": False}
    # The client's own token (no user behind it) is unaffected.
    own = await api.client_credentials(resource["client_id"], resource["client_secret"])
    assert (await introspect(own.json()["access_token"], as_resource))["active"] is True
