"""Login sessions are kept on the server (the database, or Redis when configured), so
they end when they are ended: by signing out, "sign out everywhere", an admin, or a
disabled account. They age by the app's clock (AppState.clock), like every expiry."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
import redis
from sqlalchemy import select

from appward.hashing import token_hash
from appward.services import unit_of_work
from appward.users.models import UserSession
from appward.web.sessions import SESSION_COOKIE
from tests.functional.conftest import REDIS_URL, Api, open_api
from tests.oauth_helpers import PASSWORD, Browser, hidden_fields, pkce_pair, query_of

pytestmark = pytest.mark.anyio

REDIRECT_URI = "https://app.example.com/callback"


@pytest.fixture(params=["database", "redis"])
async def web(request, settings, clock) -> AsyncIterator[Api]:
    """The app with its sessions in the database, or in Redis."""
    if request.param == "redis":
        settings = settings.model_copy(update={"redis_url": reachable_redis()})
    async with open_api(settings, clock) as api:
        yield api


def reachable_redis() -> str:
    """The test Redis's URL, or a skip (a failure under APPWARD_REQUIRE_REDIS=1)."""
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.RedisError as exc:
        if os.environ.get("APPWARD_REQUIRE_REDIS") == "1":
            pytest.fail(f"Redis is required but unreachable: {exc}")
        pytest.skip(f"Redis unreachable at {REDIS_URL}: {exc}")
    finally:
        client.close()
    return REDIS_URL


@asynccontextmanager
async def other_browser(api: Api) -> AsyncIterator[httpx.AsyncClient]:
    """A second browser (its own cookie jar) on the same app."""
    transport = httpx.ASGITransport(app=api.app, client=("127.0.0.9", 4712))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


async def create_user(api: Api, username: str) -> str:
    created = await api.post("/admin/v1/users", {"username": username, "password": PASSWORD})
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


async def sign_in(http: httpx.AsyncClient, username: str) -> str:
    """Signs in; returns the session cookie the browser then holds."""
    response = await Browser(http).login(await http.get("/login"), username, PASSWORD)
    assert response.status_code == 303, response.text
    assert (await http.get("/account")).status_code == 200
    return str(http.cookies[SESSION_COOKIE])


async def is_signed_in(http: httpx.AsyncClient) -> bool:
    return (await http.get("/account")).status_code == 200


async def prompt_none(http: httpx.AsyncClient, client_id: str) -> dict[str, str]:
    _, challenge = pkce_pair()
    response = await Browser(http).authorize(
        response_type="code",
        client_id=client_id,
        redirect_uri=REDIRECT_URI,
        code_challenge=challenge,
        code_challenge_method="S256",
        prompt="none",
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"].startswith(REDIRECT_URI)
    return query_of(response.headers["location"])


async def skip_consent_client(api: Api) -> str:
    created = await api.post(
        "/admin/v1/clients",
        {
            "client_name": "First Party",
            "redirect_uris": [REDIRECT_URI],
            "grant_types": ["authorization_code"],
            "skip_consent": True,
        },
    )
    assert created.status_code == 201, created.text
    return str(created.json()["client_id"])


async def sign_out(http: httpx.AsyncClient) -> None:
    account = await http.get("/account")
    response = await http.post("/logout", data={"csrf": hidden_fields(account.text)["csrf"]})
    assert response.status_code == 303
    assert response.headers["location"] == "/login"


# --- the bug: a signed-out cookie kept working ---


async def test_a_cookie_replayed_after_sign_out_gets_nothing_and_prompt_none_is_login_required(
    web,
):
    """Signing out ends the session on the server: the old cookie, sent again, signs no
    one in, and prompt=none answers login_required instead of issuing a code."""
    client_id = await skip_consent_client(web)
    await create_user(web, "replay")
    old_cookie = await sign_in(web.http, "replay")
    assert "code" in await prompt_none(web.http, client_id)

    await sign_out(web.http)
    web.http.cookies.set(SESSION_COOKIE, old_cookie)

    assert not await is_signed_in(web.http)
    answer = await prompt_none(web.http, client_id)
    assert answer["error"] == "login_required"
    assert "code" not in answer


async def test_sign_in_always_starts_a_new_session_id(web):
    """Session fixation: the cookie a browser brings (an anonymous one, or a session of
    before) is never the id of the new session, and a session of before ends."""
    await create_user(web, "fixed")
    await web.http.get("/login")
    anonymous = web.http.cookies[SESSION_COOKIE]
    first = await sign_in(web.http, "fixed")
    assert first != anonymous
    second = await sign_in(web.http, "fixed")
    assert second != first
    web.http.cookies.set(SESSION_COOKIE, first)
    assert not await is_signed_in(web.http)


async def test_the_server_keeps_the_session_ids_hash_never_the_id(settings, clock):
    async with open_api(settings, clock) as api:
        await create_user(api, "hashed")
        cookie = await sign_in(api.http, "hashed")
        async with unit_of_work(api.app.state.appward, None) as services:
            rows = list(await services.session.scalars(select(UserSession)))
    assert [row.id_hash for row in rows] == [token_hash(cookie)]
    assert all(cookie not in str(value) for row in rows for value in vars(row).values())


async def test_the_session_cookie_is_httponly_samesite_lax_and_lasts_the_session_ttl(web, settings):
    await create_user(web, "cookie")
    response = await Browser(web.http).login(await web.http.get("/login"), "cookie", PASSWORD)
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert f"Max-Age={settings.session_ttl}" in cookie
    assert "Secure" not in cookie  # the test issuer is http


async def test_an_https_issuer_makes_the_cookie_secure(settings, clock):
    async with open_api(settings.model_copy(update={"issuer": "https://id.example"}), clock) as api:
        await create_user(api, "secure")
        page = await api.http.get("/login")
        assert "; Secure" in page.headers["set-cookie"]


# --- lifetimes ---


async def test_a_session_ends_at_session_ttl_however_active(web, settings, clock):
    await create_user(web, "frank")
    await sign_in(web.http, "frank")
    step = settings.session_idle_timeout - 1
    elapsed = 0
    while elapsed + step < settings.session_ttl:
        clock.advance(step)
        elapsed += step
        assert await is_signed_in(web.http), elapsed
    clock.advance(settings.session_ttl - elapsed)
    expired = await web.http.get("/account")
    assert expired.status_code == 303
    assert expired.headers["location"].startswith("/login")


async def test_a_session_idle_past_the_idle_timeout_ends(web, settings, clock):
    await create_user(web, "idle")
    await sign_in(web.http, "idle")
    clock.advance(settings.session_idle_timeout - 1)
    assert await is_signed_in(web.http)
    clock.advance(settings.session_idle_timeout - 1)  # seen a moment ago: still alive
    assert await is_signed_in(web.http)
    clock.advance(settings.session_idle_timeout + 1)
    assert not await is_signed_in(web.http)


async def test_the_idle_timeout_is_a_setting(settings, clock):
    async with open_api(settings.model_copy(update={"session_idle_timeout": 600}), clock) as api:
        await create_user(api, "short")
        await sign_in(api.http, "short")
        clock.advance(601)
        assert not await is_signed_in(api.http)


# --- ending sessions ---


async def test_sign_out_everywhere_ends_every_session_of_the_account(web):
    await create_user(web, "everywhere")
    await create_user(web, "bystander")
    async with other_browser(web) as phone, other_browser(web) as someone_else:
        await sign_in(web.http, "everywhere")
        await sign_in(phone, "everywhere")
        await sign_in(someone_else, "bystander")
        account = await web.http.get("/account")
        assert "Signed in on 2 browsers" in account.text
        response = await web.http.post(
            "/account/sessions/end", data={"csrf": hidden_fields(account.text)["csrf"]}
        )
        assert response.status_code == 303
        assert not await is_signed_in(web.http)
        assert not await is_signed_in(phone)
        assert await is_signed_in(someone_else)
    events = (await web.get("/admin/v1/audit-events?action=account:sessions:ended")).json()
    assert [(e["target"], e["changes"]["sessions_ended"]) for e in events["items"]] == [
        ("everywhere", 2)
    ]
    assert events["items"][0]["actor"].startswith("user:")


async def test_sign_out_everywhere_needs_the_forms_csrf_token(web):
    await create_user(web, "forged")
    await sign_in(web.http, "forged")
    response = await web.http.post("/account/sessions/end", data={"csrf": "forged"})
    assert response.status_code == 400
    assert await is_signed_in(web.http)


async def test_sign_out_everywhere_signed_out_only_goes_to_the_login_page(web):
    response = await web.http.post("/account/sessions/end", data={})
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")


async def test_an_admin_ends_a_users_sessions(web):
    public_id = await create_user(web, "ended")
    async with other_browser(web) as browser:
        await sign_in(browser, "ended")
        response = await web.post(f"/admin/v1/users/{public_id}/end-sessions")
        assert response.status_code == 200, response.text
        assert response.json() == {"sessions_ended": 1}
        assert not await is_signed_in(browser)
        again = await web.post(f"/admin/v1/users/{public_id}/end-sessions")
        assert again.json() == {"sessions_ended": 0}


async def test_disabling_an_account_ends_its_sessions_and_it_cannot_sign_in(web):
    client_id = await skip_consent_client(web)
    public_id = await create_user(web, "disabled")
    async with other_browser(web) as browser:
        await sign_in(browser, "disabled")
        disabled = await web.post(f"/admin/v1/users/{public_id}/disable")
        assert disabled.status_code == 200, disabled.text
        assert disabled.json()["disabled_at"] is not None
        assert not await is_signed_in(browser)
        assert (await prompt_none(browser, client_id))["error"] == "login_required"
        refused = await Browser(browser).login(await browser.get("/login"), "disabled", PASSWORD)
        assert refused.status_code == 401
        assert (await web.post(f"/admin/v1/users/{public_id}/enable")).status_code == 200
        await sign_in(browser, "disabled")


async def test_a_session_of_a_deleted_account_signs_no_one_in(web):
    public_id = await create_user(web, "deleted")
    cookie = await sign_in(web.http, "deleted")
    assert (await web.delete(f"/admin/v1/users/{public_id}")).status_code == 204
    web.http.cookies.set(SESSION_COOKIE, cookie)
    assert not await is_signed_in(web.http)


async def test_a_cookie_that_is_no_session_id_is_not_looked_up(web):
    for value in ("", "x", "a" * 44, "../../etc", "a" * 42 + "!"):
        web.http.cookies.set(SESSION_COOKIE, value)
        assert not await is_signed_in(web.http)
