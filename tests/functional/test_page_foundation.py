"""The pages' foundation: every HTML route's headers, the layout, the static assets, the
landing page, escaping, the login page naming the application and the consent page
naming the user, with "Not you?"."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from fastapi.routing import APIRoute
from starlette.routing import Mount, Route

from appward.web.static import ASSETS, IMMUTABLE, REVALIDATE, static_url
from tests.functional.conftest import open_api
from tests.oauth_helpers import PASSWORD, Browser, hidden_fields, pkce_pair

pytestmark = pytest.mark.anyio

XSS = "<script>alert(1)</script>"
# Pages served from elsewhere than templates/ (Swagger UI, ReDoc): their inline script is
# allowed by its hash and they put styles inline; they carry the same framing headers.
DOCS_PAGES = {"/docs", "/redoc"}
EXPECTED_HTML = {
    ("GET", "/"),
    ("GET", "/login"),
    ("POST", "/login"),
    ("GET", "/account"),
    ("POST", "/account/grants/{client_id}/revoke"),
    ("GET", "/oauth2/authorize"),
    ("POST", "/oauth2/authorize"),
    ("GET", "/docs"),
    ("GET", "/redoc"),
}


async def signed_in(api, username: str = "alice") -> Browser:
    await api.post("/admin/v1/users", {"username": username, "password": PASSWORD})
    b = Browser(api.http)
    response = await b.login(await api.http.get("/login"), username, PASSWORD)
    assert response.status_code == 303, response.text
    return b


def app_routes(app) -> list[tuple[str, str]]:
    """Every (method, path template) the app routes, mounts aside (static files).

    FastAPI 0.165 keeps an included router as one entry (its routes under
    ``original_router``, its prefix in ``include_context``); older versions copied the
    routes in: both are walked."""
    found: list[tuple[str, str]] = []

    def walk(routes, prefix: str) -> None:
        for route in routes:
            included = getattr(route, "original_router", None)
            if included is not None:
                walk(included.routes, prefix + route.include_context.prefix)
            elif isinstance(route, APIRoute | Route) and not isinstance(route, Mount):
                for method in sorted(route.methods or ()):
                    if method != "HEAD":
                        found.append((method, prefix + route.path))

    walk(app.routes, "")
    assert len(found) > 30, found  # the walk reached the included routers
    return found


async def html_answers(api) -> dict[tuple[str, str], httpx.Response]:
    """Requests every route, anonymous and then signed in (a GET bare, anything else with
    an empty form); returns each answer that is an HTML page."""
    pages = {}
    for session in ("anonymous", "signed in"):
        if session == "signed in":
            await signed_in(api)
        for method, path in app_routes(api.app):
            url = re.sub(r"\{[^}]+\}", "x", path)
            body = {} if method == "GET" else {"data": {}}
            response = await api.http.request(method, url, **body)
            if response.headers.get("content-type", "").startswith("text/html"):
                pages[(method, path)] = response
    return pages


async def test_every_html_route_has_the_security_headers(api):
    pages = await html_answers(api)
    assert set(pages) >= EXPECTED_HTML, EXPECTED_HTML - set(pages)
    for (method, path), response in pages.items():
        where = f"{method} {path}"
        headers = response.headers
        csp = headers["content-security-policy"]
        directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
        assert "'unsafe-inline'" not in directives["script-src"], where
        assert "'unsafe-eval'" not in directives["script-src"], where
        assert directives["frame-ancestors"] == "'none'", where
        assert directives["base-uri"] == "'none'", where
        assert headers["x-frame-options"] == "DENY", where
        assert headers["x-content-type-options"] == "nosniff", where
        assert headers["referrer-policy"] == "no-referrer", where
        if path not in DOCS_PAGES:
            assert directives["default-src"] == "'none'", where
            assert directives["script-src"] == "'self'", where
            assert directives["style-src"] == "'self'", where


async def test_no_page_has_inline_script_style_or_event_handler(api):
    """What the CSP would block anyway is not written in the first place."""
    for (method, path), response in (await html_answers(api)).items():
        if path in DOCS_PAGES:
            continue
        html = response.text
        where = f"{method} {path}"
        assert not re.search(r"<script(?![^>]*\ssrc=)", html), where
        assert not re.search(r"<style", html), where
        assert not re.search(r"\sstyle=", html), where
        assert not re.search(r"\son[a-z]+\s*=", html, re.IGNORECASE), where
        assert "javascript:" not in html.lower(), where


async def test_every_page_is_in_the_one_layout(api):
    for (method, path), response in (await html_answers(api)).items():
        if path in DOCS_PAGES:
            continue
        html = response.text
        where = f"{method} {path}"
        assert '<html lang="en">' in html, where
        assert '<a class="skip-link" href="#main">Skip to main content</a>' in html, where
        assert '<main id="main"' in html, where
        assert f'href="{static_url("appward.css")}"' in html, where
        assert f'src="{static_url("appward.js")}" defer' in html, where
        assert re.search(r"<title>[^<]+ · Appward</title>", html), where
        assert len(re.findall(r"<h1[ >]", html)) == 1, where


async def test_landing_page_links_sign_in_portal_and_console(api):
    response = await api.http.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    for href in ("/login", "/portal", "/console", "/docs"):
        assert f'href="{href}"' in response.text
    assert "<h1>Appward</h1>" in response.text


async def test_display_name_and_logo_come_from_the_settings(settings, clock):
    """The logo's origin, and no other, is added to every page's img-src."""
    configured = settings.model_copy(
        update={"display_name": "Acme <ID>", "logo_uri": "https://cdn.acme.example/logo.svg"}
    )
    async with open_api(configured, clock) as api:
        for url in ("/", "/login", "/oauth2/authorize"):
            response = await api.http.get(url)
            html = response.text
            assert "Acme &lt;ID&gt;" in html, url
            assert "Acme <ID>" not in html, url
            assert '<img class="header__logo" src="https://cdn.acme.example/logo.svg"' in html
            csp = response.headers["content-security-policy"]
            assert "img-src 'self' https://cdn.acme.example;" in csp, url


async def test_logo_served_here_adds_no_image_origin(settings, clock):
    configured = settings.model_copy(update={"logo_uri": "/static/favicon.svg"})
    async with open_api(configured, clock) as api:
        response = await api.http.get("/")
        assert 'src="/static/favicon.svg"' in response.text
        assert "img-src 'self';" in response.headers["content-security-policy"]


# --- static assets ---


@pytest.mark.parametrize("name", sorted(ASSETS))
async def test_static_asset_at_its_versioned_url_is_cached_as_immutable(api, name):
    response = await api.http.get(static_url(name))
    assert response.status_code == 200
    assert response.content == (ASSETS[name].content)
    assert response.headers["cache-control"] == IMMUTABLE
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-type"] == ASSETS[name].media_type


async def test_static_asset_without_the_current_version_is_revalidated(api):
    plain = await api.http.get("/static/appward.css")
    assert plain.status_code == 200
    assert plain.headers["cache-control"] == REVALIDATE
    stale = await api.http.get("/static/appward.css?v=000000000000")
    assert stale.headers["cache-control"] == REVALIDATE
    again = await api.http.get(
        "/static/appward.css", headers={"If-None-Match": plain.headers["etag"]}
    )
    assert again.status_code == 304
    assert again.content == b""


@pytest.mark.parametrize(
    "path",
    [
        "/static/nothing.css",
        "/static/..%2Fapp.py",
        "/static/%2e%2e/templates.py",
        "/static/../templates/base.html",
        "/static/",
        "/static/static.py",
    ],
)
async def test_only_the_known_static_files_are_served(api, path):
    response = await api.http.get(path)
    assert response.status_code in (404, 307), path
    assert b"import" not in response.content
    assert b"{%" not in response.content


def test_the_pages_assets_are_loaded():
    """What base.html links (the wheel carries them: hatchling takes every file under
    src/appward, checked by building one)."""
    assert {"appward.css", "appward.js", "favicon.svg"} <= set(ASSETS)


# --- escaping ---


async def _client(api, **metadata) -> dict:
    body = {
        "client_name": "Weather Widget",
        "redirect_uris": ["https://weather.example/cb"],
        **metadata,
    }
    response = await api.post("/admin/v1/clients", body)
    assert response.status_code == 201, response.text
    return response.json()


def _authorize_url(client_id: str, **extra: str) -> str:
    _, challenge = pkce_pair()
    query = {
        "response_type": "code",
        "client_id": client_id,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "state": "s1",
        **extra,
    }
    return f"/oauth2/authorize?{urlencode(query)}"


def _escaped(html: str) -> None:
    assert XSS not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


async def test_client_named_like_a_script_is_text_on_the_login_and_consent_pages(api):
    client = await _client(api, client_name=XSS)
    await api.post("/admin/v1/users", {"username": "mallory", "password": PASSWORD})
    login = await api.http.get("/login", params={"next": _authorize_url(client["client_id"])})
    assert login.status_code == 200
    _escaped(login.text)
    b = Browser(api.http)
    consent = await b.follow(await b.login(login, "mallory", PASSWORD))
    assert consent.status_code == 200
    _escaped(consent.text)
    assert '<h1 id="client-name">&lt;script&gt;' in consent.text


async def test_username_and_error_text_are_escaped_on_the_login_page(api):
    page = await api.http.get("/login")
    retry = await Browser(api.http).login(page, f'"><{XSS}', "wrong password!!")
    assert retry.status_code == 401
    assert XSS not in retry.text
    assert 'value="&#34;&gt;&lt;&lt;script&gt;' in retry.text


# --- the login page says which application ---


async def test_login_page_names_the_application_and_shows_its_logo(api):
    client = await _client(api, logo_uri="https://static.weather.example/logo.png")
    sent = await Browser(api.http).authorize(
        **dict(parse_qs_once(_authorize_url(client["client_id"])))
    )
    page = await api.http.get(sent.headers["location"])
    assert page.status_code == 200
    assert 'to continue to <strong id="continue-to-name">Weather Widget</strong>' in page.text
    assert 'src="https://static.weather.example/logo.png"' in page.text
    csp = page.headers["content-security-policy"]
    assert "img-src 'self' https://static.weather.example;" in csp
    assert "form-action 'self' https://weather.example;" in csp
    retry = await Browser(api.http).login(page, "nobody", "wrong password!!")
    assert "Weather Widget" in retry.text
    assert (
        "img-src 'self' https://static.weather.example;" in retry.headers["content-security-policy"]
    )


def parse_qs_once(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


async def test_login_page_shows_no_logo_that_is_not_https(api):
    """A client's logo is an image from elsewhere: over http it would be mixed content
    and readable in transit (the validator allows http for loopback logos alone), so
    the page names the application without it."""
    client = await _client(api, logo_uri="http://127.0.0.1:8081/logo.png")
    page = await api.http.get("/login", params={"next": _authorize_url(client["client_id"])})
    assert "Weather Widget" in page.text
    assert "127.0.0.1:8081" not in page.text
    assert "img-src 'self';" in page.headers["content-security-policy"]


@pytest.mark.parametrize(
    "next_url",
    ["/account", "/oauth2/authorize?client_id=nobody&response_type=code", None],
)
async def test_login_page_without_a_valid_request_names_no_application(api, next_url):
    await _client(api)
    params = {"next": next_url} if next_url else {}
    page = await api.http.get("/login", params=params)
    assert page.status_code == 200
    assert "to continue to" not in page.text


async def test_login_page_of_a_request_ending_in_an_error_names_no_application(api):
    client = await _client(api)
    url = _authorize_url(client["client_id"], response_type="token")
    page = await api.http.get("/login", params={"next": url})
    assert "to continue to" not in page.text
    assert "form-action 'self' https://weather.example;" in page.headers["content-security-policy"]


async def test_wrong_password_is_announced_in_the_summary_and_at_the_field(api):
    page = await api.http.get("/login")
    retry = await Browser(api.http).login(page, "nobody", "wrong password!!")
    html = retry.text
    assert "<title>Error: Sign in · Appward</title>" in html
    assert 'role="alert"' in html
    assert '<a href="#username">Wrong username or password.</a>' in html
    assert 'id="username-error"' in html
    assert 'aria-describedby="username-error" aria-invalid="true"' in html
    # The message comes before the input it is about (GOV.UK's order).
    assert html.index('id="username-error"') < html.index('<input class="input input--error"')


# --- the consent page says who is signed in; "Not you?" ---


async def _consent(api, username: str = "alice"):
    client = await _client(api)
    b = await signed_in(api, username)
    consent = await api.http.get(_authorize_url(client["client_id"]))
    assert consent.status_code == 200, consent.text
    return b, client, consent


async def test_consent_page_says_who_is_signed_in(api):
    _, _, consent = await _consent(api, "alice")
    assert 'Signed in as <strong id="signed-in-as">alice</strong>' in consent.text
    assert 'id="not-you"' in consent.text


async def test_not_you_signs_out_and_comes_back_to_the_same_request(api):
    _, client, consent = await _consent(api, "alice")
    await api.post("/admin/v1/users", {"username": "bob", "password": PASSWORD})
    form = re.search(r'<form method="post" action="/logout".*?</form>', consent.text, re.S)
    assert form is not None
    fields = hidden_fields(form.group())
    answer = await api.http.post("/logout", data=fields)
    assert answer.status_code == 303
    location = answer.headers["location"]
    back_to = parse_qs_once(location)["next"]
    assert urlsplit(location).path == "/login"
    assert parse_qs_once(back_to) == parse_qs_once(str(consent.request.url))
    # Signed out: the account page asks to sign in.
    assert (await api.http.get("/account")).status_code == 303
    login = await api.http.get(location)
    assert "Weather Widget" in login.text
    again = await Browser(api.http).follow(await Browser(api.http).login(login, "bob", PASSWORD))
    assert again.status_code == 200
    assert 'Signed in as <strong id="signed-in-as">bob</strong>' in again.text
    assert client["client_id"] in again.text


async def test_not_you_without_the_csrf_token_signs_nobody_out(api):
    """A POST with the session's CSRF token, not a GET link: another site cannot sign the
    user out (and back in as someone else) by linking or posting to it."""
    _, client, _consent_page = await _consent(api, "alice")
    answer = await api.http.post("/logout", data={"next": _authorize_url(client["client_id"])})
    assert answer.status_code == 303
    assert answer.headers["location"] == "/account"
    assert (await api.http.get("/account")).status_code == 200
    assert (await api.http.get("/logout")).status_code == 405


async def test_sign_out_with_an_unsafe_next_goes_to_the_login_page_alone(api):
    b = await signed_in(api)
    account = await api.http.get("/account")
    csrf = hidden_fields(account.text)["csrf"]
    answer = await api.http.post("/logout", data={"csrf": csrf, "next": "https://evil.example/"})
    assert answer.headers["location"] == "/login"
    assert b is not None
