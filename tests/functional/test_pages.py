"""The login session cookie and the consent page's notices."""

from __future__ import annotations

import pytest

from appward.audit import Actor, AuditLog
from appward.clients.secrets import Argon2Hasher
from appward.clients.service import ClientService
from tests.oauth_helpers import PASSWORD, Browser

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


async def test_self_registered_client_shows_unverified_notice(api, settings, clock):
    await api.post("/admin/v1/users", {"username": "erin", "password": PASSWORD})
    state = api.app.state.appward
    async with state.sessions()() as session:
        service = ClientService(
            session,
            clock,
            Argon2Hasher(settings.argon2),
            settings.lifetime_bounds,
            settings.secret_policy,
            AuditLog(session, clock, Actor("test")),
        )
        change = await service.create(
            {"client_name": "Stranger App", "redirect_uris": ["https://stranger.example/cb"]},
            registration_source="dcr",
        )
        await session.commit()
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
