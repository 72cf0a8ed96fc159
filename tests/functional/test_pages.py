"""The login session cookie and the consent page's notices."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from appward.services import unit_of_work
from appward.web.templates import content_security_policy
from tests.factories import SETUP_ACTOR
from tests.oauth_helpers import PASSWORD, Browser, pkce_pair

pytestmark = pytest.mark.anyio


async def test_session_cookie_is_httponly_and_samesite_lax(api):
    await api.post("/admin/v1/users", {"username": "carol", "password": PASSWORD})
    b = Browser(api.http)
    page = await api.http.get("/login")
    response = await b.login(page, "carol", PASSWORD)
    assert response.status_code == 303
    cookie = response.headers["set-cookie"].lower()
    assert "appward_session=" in cookie
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    assert "secure" not in cookie  # the test issuer is http; https issuers add Secure


async def test_logout_ends_the_session(api):
    await api.post("/admin/v1/users", {"username": "dave", "password": PASSWORD})
    b = Browser(api.http)
    await b.login(await api.http.get("/login"), "dave", PASSWORD)
    account = await api.http.get("/account")
    assert account.status_code == 200
    from tests.oauth_helpers import hidden_fields

    await api.http.post("/logout", data={"csrf": hidden_fields(account.text)["csrf"]})
    assert (await api.http.get("/account")).status_code == 303


async def test_self_registered_client_shows_unverified_notice(api):
    await api.post("/admin/v1/users", {"username": "erin", "password": PASSWORD})
    async with unit_of_work(api.app.state.appward, SETUP_ACTOR) as services:
        change = await services.clients.create(
            {"client_name": "Stranger App", "redirect_uris": ["https://stranger.example/cb"]},
            registration_source="dcr",
        )
    b = Browser(api.http)
    consent = await b.consent_page(change.client.client_id, "erin")
    assert "Unverified application" in consent.text
    assert "Stranger App" in consent.text


async def test_login_next_parameter_is_no_open_redirect(api):
    await api.post("/admin/v1/users", {"username": "frank", "password": PASSWORD})
    page = await api.http.get("/login?next=https://evil.example/")
    from tests.oauth_helpers import hidden_fields

    assert hidden_fields(page.text)["next"] == "/account"
    response = await api.http.post(
        "/login",
        data={
            **hidden_fields(page.text),
            "username": "frank",
            "password": PASSWORD,
            "next": "//evil.example/",
        },
    )
    assert response.headers["location"] == "/account"


async def test_consent_page_lets_its_form_redirect_only_to_the_client(api):
    """CSP form-action also governs the redirect answering the consent form (Chromium
    enforces it): it names the client's redirect origin, and nothing else."""
    await api.post("/admin/v1/users", {"username": "gina", "password": PASSWORD})
    client = (
        await api.post(
            "/admin/v1/clients",
            {"client_name": "Gallery", "redirect_uris": ["https://gallery.example:8443/cb"]},
        )
    ).json()
    b = Browser(api.http)
    consent = await b.consent_page(client["client_id"], "gina")
    csp = consent.headers["content-security-policy"]
    assert "form-action 'self' https://gallery.example:8443;" in csp
    assert "frame-ancestors 'none'" in csp


async def test_repeated_failed_sign_ins_are_throttled(api, clock):
    """After 10 failures within 5 minutes, even the right password is refused (429) until
    the window has passed: password guessing is slowed to a trickle."""
    await api.post("/admin/v1/users", {"username": "hank", "password": PASSWORD})
    b = Browser(api.http)
    page = await api.http.get("/login")
    for _ in range(10):
        assert (await b.login(page, "hank", "wrong password!!")).status_code == 401
    throttled = await b.login(page, "hank", PASSWORD)
    assert throttled.status_code == 429
    assert "too many failed sign-ins" in throttled.text
    clock.advance(301)
    assert (await b.login(page, "hank", PASSWORD)).status_code == 303


async def _gallery(api, **changes) -> dict:
    response = await api.post(
        "/admin/v1/clients",
        {
            "client_name": "Gallery",
            "redirect_uris": ["https://gallery.example:8443/cb"],
            **changes,
        },
    )
    assert response.status_code == 201, response.text
    return response.json()


def _authorize_next(**params: str) -> str:
    return f"/oauth2/authorize?{urlencode(params)}"


async def test_login_page_lets_its_form_redirect_on_to_the_requesting_client(api):
    """Chromium applies form-action to the whole chain answering the login form (login ->
    /oauth2/authorize -> client, when no consent page comes between): the login page of
    an authorization request names that client's redirect origin, and nothing else; so
    does the page re-rendered after a wrong password."""
    await api.post("/admin/v1/users", {"username": "ivan", "password": PASSWORD})
    client = await _gallery(api)
    _, challenge = pkce_pair()
    sent = await Browser(api.http).authorize(
        response_type="code",
        client_id=client["client_id"],
        code_challenge=challenge,
        code_challenge_method="S256",
    )
    login_page = await api.http.get(sent.headers["location"])
    assert login_page.status_code == 200
    expected = "form-action 'self' https://gallery.example:8443;"
    assert expected in login_page.headers["content-security-policy"]
    retry = await Browser(api.http).login(login_page, "ivan", "wrong password!!")
    assert retry.status_code == 401
    assert expected in retry.headers["content-security-policy"]


async def test_login_page_names_the_client_even_when_its_request_ends_in_an_error(api):
    """An error after the redirect URI is established goes to that URI (RFC 6749
    §4.1.2.1): the chain still ends there, so the login page names it."""
    client = await _gallery(api)
    page = await api.http.get(
        "/login", params={"next": _authorize_next(client_id=client["client_id"])}
    )
    assert (
        "form-action 'self' https://gallery.example:8443;"
        in (page.headers["content-security-policy"])
    )


@pytest.mark.parametrize(
    "next_url",
    [
        "/account",
        "//evil.example/",
        "https://evil.example/",
        "/oauth2/authorize?",
        "/oauth2/authorize?client_id=nobody&response_type=code",
        "/oauth2/authorize?client_id={id}&redirect_uri=https%3A%2F%2Fevil.example%2Fcb",
        "/oauth2/authorize?client_id={id}&client_id={id}",
        "/oauth2/authorize/../authorize?client_id={id}",
        "/oauth2/authorizeX?client_id={id}",
    ],
)
async def test_login_page_for_any_other_next_lets_its_form_go_only_to_itself(api, next_url):
    """Nothing but a valid client's registered redirect URI widens form-action: a crafted
    next (unknown client, unregistered redirect URI, not the authorize endpoint) cannot
    add an origin of its choosing."""
    client = await _gallery(api)
    page = await api.http.get("/login", params={"next": next_url.format(id=client["client_id"])})
    assert page.status_code == 200
    assert page.headers["content-security-policy"] == content_security_policy()


async def test_login_page_of_a_disabled_client_lets_its_form_go_only_to_itself(api):
    client = await _gallery(api)
    disabled = await api.post(f"/admin/v1/clients/{client['client_id']}/disable")
    assert disabled.status_code == 200, disabled.text
    page = await api.http.get(
        "/login",
        params={"next": _authorize_next(client_id=client["client_id"], response_type="code")},
    )
    assert page.headers["content-security-policy"] == content_security_policy()


async def test_sign_in_finds_the_account_whatever_the_case(api):
    await api.post("/admin/v1/users", {"username": "Iris", "password": PASSWORD})
    for spelling in ("Iris", "iris", "IRIS"):
        b = Browser(api.http)
        response = await b.login(await api.http.get("/login"), spelling, PASSWORD)
        assert response.status_code == 303, spelling
        account = await api.http.get("/account")
        assert "Iris" in account.text
        api.http.cookies.clear()
    # A lookalike outside the allowed characters (the Kelvin sign lowers to "k" in
    # Python) is no spelling of anyone's name.
    await api.post("/admin/v1/users", {"username": "kim", "password": PASSWORD})
    b = Browser(api.http)
    assert (await b.login(await api.http.get("/login"), "\u212aim", PASSWORD)).status_code == 401


async def test_a_sign_in_without_a_second_factor_is_audited_once(api):
    """The password step and the recorded sign-in are separate calls now (the second
    factor comes between for an account that has one): without one, still one event."""
    from sqlalchemy import select

    from appward.audit import AuditEvent

    await api.post("/admin/v1/users", {"username": "vera", "password": PASSWORD})
    b = Browser(api.http)
    response = await b.login(await api.http.get("/login"), "vera", PASSWORD)
    assert response.headers["location"] == "/account"
    async with unit_of_work(api.app.state.appward, SETUP_ACTOR) as services:
        actions = list(
            await services.session.scalars(
                select(AuditEvent.action).where(AuditEvent.target == "vera")
            )
        )
    assert actions == ["user:created", "account:signed_in"]


async def test_the_login_page_offers_the_password_reset_and_shows_its_result(api):
    page = await api.http.get("/login")
    assert 'href="/password-reset" id="forgot-password"' in page.text  # the log mailer
    done = await api.http.get("/login?done=password_reset")
    assert "Your password was changed. Sign in with the new one." in done.text
    other = await api.http.get("/login?done=%3Cscript%3E")
    assert 'id="notice"' not in other.text
