"""Authorize, login, consent, code exchange, refresh: RFC 6749 §4.1 as OAuth 2.1 tightens it."""

from __future__ import annotations

import jwt
import pytest

from tests.factories import basic, metadata
from tests.oauth_helpers import PASSWORD, Browser, pkce_pair

pytestmark = pytest.mark.anyio

ISSUER = "http://127.0.0.1:8000"
REDIRECT = "https://app.example.com/callback"


@pytest.fixture
async def setup(api):
    await api.post("/admin/v1/scopes", {"name": "profile", "description": "See your profile"})
    await api.post("/admin/v1/scopes", {"name": "orders", "description": "Manage your orders"})
    user = await api.post("/admin/v1/users", {"username": "alice", "password": PASSWORD})
    assert user.status_code == 201, user.text
    await api.post("/admin/v1/users", {"username": "bob", "password": PASSWORD})
    return api


async def register(api, **changes) -> dict:
    body = metadata(
        {
            "client_name": "Shop",
            "redirect_uris": [REDIRECT],
            "grant_types": ["authorization_code", "refresh_token"],
            "scope": "profile orders",
            "client_uri": "https://app.example.com",
            "logo_uri": "https://app.example.com/logo.png",
        },
        **changes,
    )
    response = await api.post("/admin/v1/clients", body)
    assert response.status_code == 201, response.text
    return response.json()


def browser(api) -> Browser:
    return Browser(api.http)


async def exchange(api, client, code, verifier, **extra) -> dict:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "code_verifier": verifier,
        "redirect_uri": REDIRECT,
        **extra,
    }
    if client.get("client_secret"):
        response = await api.http.post(
            "/oauth2/token", data=form, headers=basic(client["client_id"], client["client_secret"])
        )
    else:
        response = await api.http.post(
            "/oauth2/token", data={**form, "client_id": client["client_id"]}
        )
    return response


async def test_full_flow_with_consent_and_pkce(setup):
    api = setup
    client = await register(api)
    verifier, challenge = pkce_pair()
    result = await browser(api).code_for(
        response_type="code",
        client_id=client["client_id"],
        redirect_uri=REDIRECT,
        scope="profile",
        state="xyz-123",
        code_challenge=challenge,
        code_challenge_method="S256",
    )
    assert result["state"] == "xyz-123"
    assert result["iss"] == ISSUER  # RFC 9207
    assert result["code"].startswith("apwac_")

    response = await exchange(api, client, result["code"], verifier)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    tokens = response.json()
    assert tokens["scope"] == "profile"
    assert tokens["refresh_token"].startswith("apwrt_")
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    assert claims["client_id"] == client["client_id"]
    assert claims["sub"] != client["client_id"]  # the user, not the client


async def test_consent_page_shows_who_is_asking(setup):
    api = setup
    client = await register(api, policy_uri="https://app.example.com/privacy")
    b = browser(api)
    consent = await b.consent_page(client["client_id"])
    assert consent.status_code == 200
    page = consent.text
    assert "Shop" in page
    assert 'src="https://app.example.com/logo.png"' in page
    assert "https://app.example.com/privacy" in page
    assert "See your profile" in page
    assert "Manage your orders" in page
    assert "Unverified application" not in page  # registered by an admin
    assert consent.headers["x-frame-options"] == "DENY"


async def test_http_logo_is_not_shown(setup):
    api = setup
    client = await register(api, logo_uri="http://127.0.0.1/logo.png")
    b = browser(api)
    consent = await b.consent_page(client["client_id"])
    assert "logo.png" not in consent.text


async def test_consent_is_remembered_per_scope_set(setup):
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
    await b.code_for(scope="profile", **params)
    again = await b.authorize(scope="profile", **params)
    assert again.status_code == 303
    assert again.headers["location"].startswith(REDIRECT)  # no consent page this time
    wider = await b.authorize(scope="profile orders", **params)
    assert wider.status_code == 200
    assert 'name="decision"' in wider.text  # new scope: asked again


async def test_denied_consent_redirects_access_denied(setup):
    api = setup
    client = await register(api)
    _, challenge = pkce_pair()
    result = await browser(api).code_for(
        consent="deny",
        response_type="code",
        client_id=client["client_id"],
        state="s1",
        code_challenge=challenge,
        code_challenge_method="S256",
    )
    assert result == {
        "error": "access_denied",
        "error_description": result["error_description"],
        "state": "s1",
        "iss": ISSUER,
    }


async def test_skip_consent_goes_straight_through(setup):
    api = setup
    client = await register(api, skip_consent=True)
    b = browser(api)
    _, challenge = pkce_pair()
    response = await b.authorize(
        response_type="code",
        client_id=client["client_id"],
        code_challenge=challenge,
        code_challenge_method="S256",
    )
    login_page = await b.follow(response)
    after_login = await b.follow(await b.login(login_page, "alice", PASSWORD))
    assert after_login.status_code == 303
    assert "code=" in after_login.headers["location"]


async def test_wrong_password_stays_on_login(setup):
    api = setup
    client = await register(api)
    b = browser(api)
    _, challenge = pkce_pair()
    login_page = await b.follow(
        await b.authorize(
            response_type="code",
            client_id=client["client_id"],
            code_challenge=challenge,
            code_challenge_method="S256",
        )
    )
    failed = await b.login(login_page, "alice", "wrong password!")
    assert failed.status_code == 401
    assert "Wrong username or password" in failed.text
    unknown = await b.login(login_page, "mallory", PASSWORD)
    assert unknown.status_code == 401


async def test_login_requires_csrf_token(setup):
    api = setup
    await api.http.get("/login")
    response = await api.http.post("/login", data={"username": "alice", "password": PASSWORD})
    assert response.status_code == 400
    assert "session" not in response.headers.get("set-cookie", "") or "uid" not in response.text


async def test_consent_decision_requires_csrf(setup):
    api = setup
    client = await register(api)
    b = browser(api)
    consent = await b.consent_page(client["client_id"])
    from tests.oauth_helpers import hidden_fields

    fields = hidden_fields(consent.text)
    fields["csrf"] = "forged"
    response = await api.http.post("/oauth2/authorize", data={**fields, "decision": "allow"})
    assert response.status_code == 400
    assert "code=" not in response.headers.get("location", "")


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"client_id": "nope"}, "unknown client"),
        ({}, "missing client"),
        ({"redirect_uri": "https://evil.example.com/cb"}, "unregistered redirect"),
        ({"redirect_uri": "https://app.example.com/callback/"}, "trailing slash"),
        ({"redirect_uri": "https://APP.example.com/callback"}, "case differs"),
        ({"redirect_uri": "https://app.example.com/callback?x=1"}, "extra query"),
    ],
)
async def test_errors_before_the_redirect_is_trusted_show_a_page(setup, params, reason):
    """RFC 6749 §4.1.2.1: never redirect to an unverified redirect URI."""
    api = setup
    client = await register(api)
    query = {"response_type": "code", "client_id": client["client_id"], **params}
    if "client_id" not in params and reason == "missing client":
        query.pop("client_id")
    response = await browser(api).authorize(**query)
    assert response.status_code == 400, reason
    assert "location" not in response.headers
    assert "cannot be completed" in response.text


async def test_disabled_client_gets_an_error_page(setup):
    api = setup
    client = await register(api)
    await api.post(f"/admin/v1/clients/{client['client_id']}/disable")
    response = await browser(api).authorize(response_type="code", client_id=client["client_id"])
    assert response.status_code == 400
    assert "location" not in response.headers


async def test_repeated_parameter_is_refused_without_redirect(setup):
    """RFC 6749 §3.1: request parameters MUST NOT be included more than once."""
    api = setup
    client = await register(api)
    response = await api.http.get(
        f"/oauth2/authorize?response_type=code&client_id={client['client_id']}"
        f"&client_id={client['client_id']}"
    )
    assert response.status_code == 400
    assert "location" not in response.headers


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"response_type": None}, "invalid_request"),
        ({"scope": "admin"}, "invalid_scope"),
        ({"scope": "appward:admin"}, "invalid_scope"),
        ({"code_challenge": None, "code_challenge_method": None}, "invalid_request"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge": "short"}, "invalid_request"),
        ({"prompt": "select_account"}, "invalid_request"),
    ],
)
async def test_errors_after_the_redirect_is_trusted_redirect_with_state_and_iss(
    setup, params, error
):
    api = setup
    client = await register(api)
    _, challenge = pkce_pair()
    query = {
        "response_type": "code",
        "client_id": client["client_id"],
        "state": "st",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **params,
    }
    query = {k: v for k, v in query.items() if v is not None}
    response = await browser(api).authorize(**query)
    assert response.status_code == 303, response.text
    from tests.oauth_helpers import query_of

    location = response.headers["location"]
    assert location.startswith(REDIRECT + "?")
    result = query_of(location)
    assert result["error"] == error
    assert result["state"] == "st"
    assert result["iss"] == ISSUER


async def test_unauthorized_client_for_code_grant(setup):
    api = setup
    service = await api.post(
        "/admin/v1/clients",
        {"client_name": "svc", "grant_types": ["client_credentials"], "redirect_uris": [REDIRECT]},
    )
    response = await browser(api).authorize(
        response_type="code", client_id=service.json()["client_id"], state="q"
    )
    from tests.oauth_helpers import query_of

    assert query_of(response.headers["location"])["error"] == "unauthorized_client"


async def test_loopback_redirect_accepts_any_port(setup):
    """RFC 8252 §7.3: the port of a loopback redirect URI is chosen at run time."""
    api = setup
    native = await register(
        api,
        application_type="native",
        token_endpoint_auth_method="none",
        redirect_uris=["http://127.0.0.1/callback", "http://[::1]:8080/cb"],
    )
    _, challenge = pkce_pair()
    b = browser(api)
    for uri in (
        "http://127.0.0.1:51234/callback",
        "http://[::1]:9/cb",
        "http://127.0.0.1/callback",
    ):
        result = await b.code_for(
            response_type="code",
            client_id=native["client_id"],
            redirect_uri=uri,
            code_challenge=challenge,
            code_challenge_method="S256",
        )
        assert "code" in result
    bad = await b.authorize(
        response_type="code",
        client_id=native["client_id"],
        redirect_uri="http://127.0.0.1:5000/other",
        code_challenge=challenge,
        code_challenge_method="S256",
    )
    assert bad.status_code == 400


async def test_prompt_none_without_login_is_login_required(setup):
    api = setup
    client = await register(api)
    _, challenge = pkce_pair()
    response = await browser(api).authorize(
        response_type="code",
        client_id=client["client_id"],
        prompt="none",
        code_challenge=challenge,
        code_challenge_method="S256",
    )
    from tests.oauth_helpers import query_of

    assert query_of(response.headers["location"])["error"] == "login_required"


async def test_code_is_single_use_and_reuse_revokes_tokens(setup):
    api = setup
    client = await register(api)
    verifier, challenge = pkce_pair()
    result = await browser(api).code_for(
        response_type="code",
        client_id=client["client_id"],
        code_challenge=challenge,
        code_challenge_method="S256",
    )
    first = (await exchange(api, client, result["code"], verifier)).json()
    second = await exchange(api, client, result["code"], verifier)
    assert second.status_code == 400
    assert second.json()["error"] == "invalid_grant"
    # The tokens from the first exchange are dead now.
    introspection = await introspect(api, client, first["access_token"])
    assert introspection == {"active": False}
    refreshed = await refresh(api, client, first["refresh_token"])
    assert refreshed.status_code == 400


async def test_code_expires(setup, clock):
    api = setup
    client = await register(api)
    verifier, challenge = pkce_pair()
    result = await browser(api).code_for(
        response_type="code",
        client_id=client["client_id"],
        code_challenge=challenge,
        code_challenge_method="S256",
    )
    clock.advance(61)
    response = await exchange(api, client, result["code"], verifier)
    assert response.json()["error"] == "invalid_grant"


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"code_verifier": "x" * 50}, "invalid_grant"),
        ({"code_verifier": "bad verifier with spaces and length fine 12345"}, "invalid_request"),
        ({"redirect_uri": "https://app.example.com/other"}, "invalid_grant"),
        ({"code": "apwac_nonsense"}, "invalid_grant"),
    ],
)
async def test_code_exchange_errors(setup, change, error):
    api = setup
    client = await register(api)
    verifier, challenge = pkce_pair()
    result = await browser(api).code_for(
        response_type="code",
        client_id=client["client_id"],
        redirect_uri=REDIRECT,
        code_challenge=challenge,
        code_challenge_method="S256",
    )
    form = {"code": result["code"], "code_verifier": verifier, **change}
    response = await exchange(api, client, form.pop("code"), form.pop("code_verifier"), **form)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == error


async def test_code_of_another_client_is_invalid_grant(setup):
    api = setup
    a = await register(api)
    b = await register(api)
    verifier, challenge = pkce_pair()
    result = await browser(api).code_for(
        response_type="code",
        client_id=a["client_id"],
        code_challenge=challenge,
        code_challenge_method="S256",
    )
    response = await exchange(api, b, result["code"], verifier)
    assert response.json()["error"] == "invalid_grant"


async def test_confidential_client_without_require_pkce_may_skip_it(setup):
    api = setup
    client = await register(api, require_pkce=False)
    result = await browser(api).code_for(response_type="code", client_id=client["client_id"])
    response = await api.http.post(
        "/oauth2/token",
        data={"grant_type": "authorization_code", "code": result["code"]},
        headers=basic(client["client_id"], client["client_secret"]),
    )
    assert response.status_code == 200, response.text


async def introspect(api, client, token) -> dict:
    response = await api.http.post(
        "/oauth2/introspect",
        data={"token": token},
        headers=basic(client["client_id"], client["client_secret"]),
    )
    assert response.status_code == 200, response.text
    return response.json()


async def refresh(api, client, token, **extra):
    if client.get("client_secret"):
        return await api.http.post(
            "/oauth2/token",
            data={"grant_type": "refresh_token", "refresh_token": token, **extra},
            headers=basic(client["client_id"], client["client_secret"]),
        )
    return await api.http.post(
        "/oauth2/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": token,
            "client_id": client["client_id"],
            **extra,
        },
    )


async def tokens_for(api, client, **params) -> dict:
    verifier, challenge = pkce_pair()
    result = await browser(api).code_for(
        response_type="code",
        client_id=client["client_id"],
        code_challenge=challenge,
        code_challenge_method="S256",
        **params,
    )
    response = await exchange(api, client, result["code"], verifier)
    assert response.status_code == 200, response.text
    return response.json()


async def test_refresh_rotates_and_reuse_revokes_the_family(setup):
    """RFC 9700 §4.14.2: a rotated refresh token used again revokes the whole family."""
    api = setup
    client = await register(api)
    first = await tokens_for(api, client)
    second = (await refresh(api, client, first["refresh_token"])).json()
    assert second["refresh_token"] != first["refresh_token"]
    third = (await refresh(api, client, second["refresh_token"])).json()
    replay = await refresh(api, client, first["refresh_token"])
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"
    # The newest token of the family is dead too, and so is its access token.
    assert (await refresh(api, client, third["refresh_token"])).status_code == 400
    assert (await introspect(api, client, third["access_token"])) == {"active": False}


async def test_refresh_without_rotation_keeps_the_token(setup):
    api = setup
    client = await register(api, rotate_refresh_tokens=False)
    first = await tokens_for(api, client)
    again = (await refresh(api, client, first["refresh_token"])).json()
    assert "refresh_token" not in again
    assert (await refresh(api, client, first["refresh_token"])).status_code == 200


async def test_refresh_can_narrow_but_not_widen_scope(setup):
    api = setup
    client = await register(api)
    first = await tokens_for(api, client, scope="profile")
    narrowed = await refresh(api, client, first["refresh_token"], scope="profile")
    assert narrowed.json()["scope"] == "profile"
    wider = await refresh(api, client, narrowed.json()["refresh_token"], scope="profile orders")
    assert wider.status_code == 400
    assert wider.json()["error"] == "invalid_scope"


async def test_refresh_sliding_and_absolute_lifetime(setup, clock):
    api = setup
    client = await register(
        api, refresh_token_ttl=100, refresh_token_absolute_ttl=250, rotate_refresh_tokens=False
    )
    first = await tokens_for(api, client)
    token = first["refresh_token"]
    for _ in range(2):
        clock.advance(90)  # within the sliding window each time
        assert (await refresh(api, client, token)).status_code == 200
    clock.advance(90)  # 270 s after issue: past the absolute lifetime
    expired = await refresh(api, client, token)
    assert expired.status_code == 400
    assert expired.json()["error"] == "invalid_grant"


async def test_disabling_client_kills_refresh_tokens_at_once(setup):
    api = setup
    client = await register(api)
    first = await tokens_for(api, client)
    await api.post(f"/admin/v1/clients/{client['client_id']}/disable")
    response = await refresh(api, client, first["refresh_token"])
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


async def test_public_client_always_rotates(setup):
    api = setup
    native = await register(
        api,
        application_type="native",
        token_endpoint_auth_method="none",
        redirect_uris=[REDIRECT],
        rotate_refresh_tokens=False,
    )
    first = await tokens_for(api, native)
    second = await refresh(api, native, first["refresh_token"])
    assert second.status_code == 200, second.text
    assert second.json()["refresh_token"] != first["refresh_token"]


async def test_client_without_refresh_grant_gets_no_refresh_token(setup):
    api = setup
    client = await register(api, grant_types=["authorization_code"])
    tokens = await tokens_for(api, client)
    assert "refresh_token" not in tokens


async def test_account_page_lists_and_revokes_grants(setup):
    api = setup
    client = await register(api)
    tokens = await tokens_for(api, client)
    page = await api.http.get("/account")
    assert page.status_code == 200
    assert "Shop" in page.text
    from tests.oauth_helpers import hidden_fields

    csrf = hidden_fields(page.text)["csrf"]
    revoked = await api.http.post(
        f"/account/grants/{client['client_id']}/revoke", data={"csrf": csrf}
    )
    assert revoked.status_code == 303
    assert "Shop" not in (await api.http.get("/account")).text
    assert (await refresh(api, client, tokens["refresh_token"])).status_code == 400
    assert (await introspect(api, client, tokens["access_token"])) == {"active": False}
