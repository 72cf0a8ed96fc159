"""The console's Policy and Token preview tabs of a client (web/console/client_policy.py):
the policy form with the server's bounds, saved at a revision, and the preview of the
access token the policy would issue, issuing nothing."""

from __future__ import annotations

import json
import re
from html import unescape
from urllib.parse import quote

import pytest

from tests.factories import NATIVE_APP, SERVICE, WEB_APP, metadata
from tests.functional.conftest import Api, audit_trail, open_api
from tests.functional.console_tabs import (
    csrf,
    element,
    field_error,
    long_sessions,
    request,
    signed_in,
)
from tests.oauth_helpers import PASSWORD, hidden_fields

pytestmark = pytest.mark.anyio


@pytest.fixture
async def api(settings, clock):
    async with open_api(long_sessions(settings), clock) as opened:
        for name in ("read", "write"):
            created = await opened.post("/admin/v1/scopes", {"name": name, "description": name})
            assert created.status_code == 201, created.text
        yield opened


async def new_client(api: Api, base: dict[str, object] = WEB_APP, **changes: object) -> str:
    response = await api.post("/admin/v1/clients", metadata(base, **changes))
    assert response.status_code == 201, response.text
    client_id: str = response.json()["client_id"]
    return client_id


async def record(api: Api, client_id: str) -> dict[str, object]:
    response = await api.get(f"/admin/v1/clients/{client_id}")
    assert response.status_code == 200
    body: dict[str, object] = response.json()
    return body


def url(client_id: str, tab: str) -> str:
    return f"/console/clients/{quote(client_id)}/{tab}"


def policy_form(page: str) -> dict[str, str]:
    """The policy form as a browser would post it unchanged: hidden fields, checked
    boxes, and the numbers."""
    form = hidden_fields(page)
    for name in re.findall(r'type="checkbox" id="[^"]+" name="([^"]+)" value="on" checked', page):
        form[unescape(name)] = "on"
    for name, value in re.findall(r'name="([a-z_]+_ttl)" type="number" value="([^"]*)"', page):
        form[name] = value
    return form


# --- Policy ---


async def test_the_policy_tab_shows_the_policy_with_the_servers_bounds(api):
    client_id = await new_client(api, scope="read", access_token_ttl=900)
    await signed_in(api)

    page = await api.http.get(url(client_id, "policy"))

    assert page.status_code == 200
    assert 'aria-current="page">Policy' in page.text
    form = policy_form(page.text)
    assert form["grant_types.authorization_code"] == form["grant_types.refresh_token"] == "on"
    assert "grant_types.client_credentials" not in form
    assert form["scope.read"] == "on"
    assert "scope.write" not in form
    assert form["access_token_ttl"] == "900"
    assert form["issue_refresh_tokens"] == form["rotate_refresh_tokens"] == "on"
    assert form["require_pkce"] == "on"
    assert "skip_consent" not in form
    assert form["revision"] == "1"
    bounds = api.app.state.appward.settings.lifetime_bounds
    access = element(page.text, "access_token_ttl-hint")
    assert f"{bounds.access_token_min} to {bounds.access_token_max} s" in access
    sliding = element(page.text, "refresh_token_ttl-hint")
    assert f"at most {bounds.refresh_token_max} s" in sliding
    absolute = element(page.text, "refresh_token_absolute_ttl-hint")
    assert f"at most {bounds.refresh_token_absolute_max} s" in absolute


async def test_saving_the_policy_stores_it_and_says_so(api):
    client_id = await new_client(api, scope="read")
    await signed_in(api)
    form = policy_form((await api.http.get(url(client_id, "policy"))).text)
    form.pop("rotate_refresh_tokens")
    form.pop("scope.read")
    form.update(
        {
            "scope.write": "on",
            "access_token_ttl": "300",
            "refresh_token_ttl": "3600",
            "refresh_token_absolute_ttl": "86400",
            "skip_consent": "on",
        }
    )

    saved = await api.http.post(url(client_id, "policy"), data=form)

    assert saved.status_code == 303
    assert saved.headers["location"] == f"{url(client_id, 'policy')}?done=saved"
    shown = await api.http.get(saved.headers["location"])
    assert element(shown.text, "notice") == "The policy was saved."
    stored = (await record(api, client_id))["metadata"]
    assert isinstance(stored, dict)
    assert stored["scope"] == "write"
    assert stored["access_token_ttl"] == 300
    assert stored["refresh_token_ttl"] == 3600
    assert stored["refresh_token_absolute_ttl"] == 86400
    assert stored["rotate_refresh_tokens"] is False
    assert stored["skip_consent"] is True
    assert stored["redirect_uris"] == WEB_APP["redirect_uris"]  # the rest is untouched
    assert policy_form(shown.text)["revision"] == "2"


async def test_changing_the_grant_types_through_the_form(api):
    client_id = await new_client(api)
    await signed_in(api)
    form = policy_form((await api.http.get(url(client_id, "policy"))).text)
    for name in ("grant_types.authorization_code", "grant_types.refresh_token"):
        form.pop(name)
    form.pop("issue_refresh_tokens")
    form["grant_types.client_credentials"] = "on"

    assert (await api.http.post(url(client_id, "policy"), data=form)).status_code == 303

    stored = (await record(api, client_id))["metadata"]
    assert isinstance(stored, dict)
    assert stored["grant_types"] == ["client_credentials"]
    assert stored["response_types"] == []


async def test_an_empty_lifetime_is_the_servers_default(api):
    client_id = await new_client(api, access_token_ttl=900)
    await signed_in(api)
    form = policy_form((await api.http.get(url(client_id, "policy"))).text)
    form["access_token_ttl"] = ""
    assert (await api.http.post(url(client_id, "policy"), data=form)).status_code == 303
    stored = (await record(api, client_id))["metadata"]
    assert isinstance(stored, dict)
    default = api.app.state.appward.settings.lifetime_bounds.access_token_default
    assert stored["access_token_ttl"] == default


async def test_a_stale_revision_keeps_the_form_and_stores_nothing(api):
    client_id = await new_client(api)
    await signed_in(api)
    form = policy_form((await api.http.get(url(client_id, "policy"))).text)
    # Someone else saves first.
    etag = (await api.get(f"/admin/v1/clients/{client_id}")).headers["etag"]
    changed = await api.patch(
        f"/admin/v1/clients/{client_id}", {"client_name": "Renamed"}, if_match=etag
    )
    assert changed.status_code == 200
    form["access_token_ttl"] = "450"

    refused = await api.http.post(url(client_id, "policy"), data=form)

    assert refused.status_code == 412
    assert "Someone else changed this client" in element(refused.text, "error-summary")
    assert policy_form(refused.text)["access_token_ttl"] == "450"  # the edit is not lost
    stored = await record(api, client_id)
    assert stored["revision"] == 2
    assert isinstance(stored["metadata"], dict)
    assert stored["metadata"]["access_token_ttl"] != 450


async def test_a_form_without_its_revision_is_refused(api):
    client_id = await new_client(api)
    await signed_in(api)
    form = policy_form((await api.http.get(url(client_id, "policy"))).text)
    form.pop("revision")
    refused = await api.http.post(url(client_id, "policy"), data=form)
    assert refused.status_code == 400
    assert "revision" in element(refused.text, "error-summary")
    assert (await record(api, client_id))["revision"] == 1


async def test_a_policy_form_without_its_csrf_token_changes_nothing(api):
    client_id = await new_client(api)
    await signed_in(api)
    form = policy_form((await api.http.get(url(client_id, "policy"))).text)
    form.pop("csrf")
    form["access_token_ttl"] = "450"
    assert (await api.http.post(url(client_id, "policy"), data=form)).status_code == 400
    assert (await record(api, client_id))["revision"] == 1


BAD_POLICY = [
    # (client, form changes (None drops the field), the field, part of its message)
    (WEB_APP, {"access_token_ttl": "abc"}, "access_token_ttl", "valid integer"),
    (WEB_APP, {"access_token_ttl": "1"}, "access_token_ttl", "must be between"),
    (WEB_APP, {"access_token_ttl": "99999999"}, "access_token_ttl", "must be between"),
    (WEB_APP, {"refresh_token_ttl": "0"}, "refresh_token_ttl", "must be between 1 and"),
    (WEB_APP, {"refresh_token_ttl": "99999999"}, "refresh_token_ttl", "must be between 1 and"),
    (
        WEB_APP,
        {"refresh_token_ttl": "7200", "refresh_token_absolute_ttl": "3600"},
        "refresh_token_absolute_ttl",
        "must not be shorter than refresh_token_ttl",
    ),
    (
        WEB_APP,
        {"refresh_token_absolute_ttl": "999999999"},
        "refresh_token_absolute_ttl",
        "must be between 1 and",
    ),
    (
        WEB_APP,
        {"grant_types.refresh_token": None},
        "issue_refresh_tokens",
        "needs the refresh_token grant type",
    ),
    (
        WEB_APP,
        {"grant_types.authorization_code": None},
        "grant_types",
        "refresh_token is only issued with authorization_code",
    ),
    (
        WEB_APP,
        {
            "grant_types.authorization_code": None,
            "grant_types.refresh_token": None,
            "issue_refresh_tokens": None,
        },
        "grant_types",
        "at least one grant type is required",
    ),
    (WEB_APP, {"grant_types.password": "on"}, "grant_types", "authorization_code"),
    (WEB_APP, {"scope.nope": "on"}, "scope", "not in the scope registry: nope"),
    (NATIVE_APP, {"require_pkce": None}, "require_pkce", "public clients always require PKCE"),
    (
        NATIVE_APP,
        {"grant_types.client_credentials": "on"},
        "grant_types",
        "cannot use client_credentials",
    ),
]


@pytest.mark.parametrize(("base", "changes", "field", "message"), BAD_POLICY)
async def test_bad_policy_input_is_shown_by_its_field_and_stores_nothing(
    api, base, changes, field, message
):
    client_id = await new_client(api, base)
    await signed_in(api)
    form = policy_form((await api.http.get(url(client_id, "policy"))).text)
    for name, value in changes.items():
        if value is None:
            form.pop(name, None)
        else:
            form[name] = value
    before = await record(api, client_id)
    trail = await audit_trail(api)

    refused = await api.http.post(url(client_id, "policy"), data=form)

    assert refused.status_code == 400
    assert message in field_error(refused.text, field)
    kept = policy_form(refused.text)
    for name, value in changes.items():  # the form is kept as posted
        if name.endswith("_ttl"):
            assert kept[name] == value
        elif value is None:
            assert name not in kept
    assert await record(api, client_id) == before
    assert await audit_trail(api) == trail


async def test_a_client_without_redirect_uris_cannot_take_the_code_grant(api):
    client_id = await new_client(api, SERVICE)
    await signed_in(api)
    form = policy_form((await api.http.get(url(client_id, "policy"))).text)
    form["grant_types.authorization_code"] = "on"
    refused = await api.http.post(url(client_id, "policy"), data=form)
    assert refused.status_code == 400
    # The form has no redirect URI input: the message goes to the form, named.
    assert "redirect_uris: at least one is required" in element(refused.text, "error-summary")
    assert (await record(api, client_id))["revision"] == 1


# --- Token preview ---


def claims_of(page: str) -> dict[str, object]:
    shown = re.search(r'<pre class="claims" id="claims"[^>]*>(.*?)</pre>', page, re.S)
    assert shown, "the claims are shown in #claims"
    claims: dict[str, object] = json.loads(unescape(shown.group(1)))
    return claims


async def test_the_preview_shows_the_claims_and_lifetime_of_a_clients_own_token(api, clock):
    client_id = await new_client(api, SERVICE, scope="read write", access_token_ttl=900)
    await signed_in(api)
    page = await api.http.get(url(client_id, "preview"))
    assert page.status_code == 200
    assert 'id="user"' not in page.text  # a client_credentials client: no user to pick
    trail = await audit_trail(api)

    shown = await api.http.post(
        url(client_id, "preview"),
        data={"csrf": hidden_fields(page.text)["csrf"], "scope.read": "on"},
    )

    assert shown.status_code == 200
    assert shown.headers["cache-control"] == "no-store"
    assert element(shown.text, "preview-grant-type") == "client_credentials"
    assert element(shown.text, "preview-lifetime") == "900 s (15 min)"
    claims = claims_of(shown.text)
    assert claims["scope"] == "read"
    assert claims["sub"] == claims["client_id"] == client_id
    assert claims["exp"] == claims["iat"] + 900
    assert claims["iat"] == int(clock.now().timestamp())
    assert claims["jti"] == "<a new random id per token>"
    assert "&lt;a new random id per token&gt;" in shown.text  # escaped
    assert await audit_trail(api) == trail  # nothing issued, nothing recorded


async def test_the_preview_without_scopes_shows_all_the_clients_scopes(api):
    client_id = await new_client(api, SERVICE, scope="read write")
    await signed_in(api)
    shown = await api.http.post(url(client_id, "preview"), data={"csrf": await csrf(api)})
    assert claims_of(shown.text)["scope"] == "read write"


async def test_the_preview_for_a_user_shows_the_token_on_their_behalf(api):
    created = await api.post("/admin/v1/users", {"username": "alice", "password": PASSWORD})
    public_id = created.json()["id"]
    client_id = await new_client(api, scope="read")
    await signed_in(api)
    page = await api.http.get(url(client_id, "preview"))
    assert 'id="user"' in page.text

    shown = await api.http.post(
        url(client_id, "preview"),
        data={"csrf": hidden_fields(page.text)["csrf"], "scope.read": "on", "user": "Alice"},
    )

    assert shown.status_code == 200
    assert element(shown.text, "preview-grant-type") == "authorization_code"
    claims = claims_of(shown.text)
    assert claims["sub"] == public_id
    assert claims["scope"] == "read"
    assert 'value="Alice"' in shown.text  # the form is kept


@pytest.mark.parametrize(
    ("base", "form", "field", "status", "message"),
    [
        (SERVICE, {"scope.write": "on"}, "scope", 400, "scope not allowed for this client: write"),
        (WEB_APP, {"scope.nope": "on", "user": "alice"}, "scope", 400, "not allowed"),
        (WEB_APP, {"user": "nobody"}, "user", 404, "no user 'nobody'"),
        (WEB_APP, {"user": "x" * 101}, "user", 400, "a username or an account id"),
        (WEB_APP, {}, "user", 400, "may not use the client_credentials grant"),
    ],
)
async def test_the_preview_shows_the_domains_refusal_by_its_field(
    api, base, form, field, status, message
):
    await api.post("/admin/v1/users", {"username": "alice", "password": PASSWORD})
    client_id = await new_client(api, base, scope="read")
    await signed_in(api)

    refused = await api.http.post(url(client_id, "preview"), data={"csrf": await csrf(api), **form})

    assert refused.status_code == status
    assert message in field_error(refused.text, field)
    assert 'id="claims"' not in refused.text


# --- who may ---


ROUTES = [
    ("GET", "/policy"),
    ("POST", "/policy"),
    ("GET", "/preview"),
    ("POST", "/preview"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
async def test_anonymous_is_sent_to_sign_in(api, method, path):
    client_id = await new_client(api)
    target = f"/console/clients/{client_id}{path}"
    response = await request(api.http, method, target, "")
    assert response.status_code == 303
    assert response.headers["location"] == f"/login?next={quote(target, safe='')}"


@pytest.mark.parametrize("role", [None, "developer"])
@pytest.mark.parametrize(("method", "path"), ROUTES)
async def test_an_account_that_is_no_admin_is_refused(api, role, method, path):
    client_id = await new_client(api)
    await signed_in(api, "nadia", role)
    response = await request(api.http, method, f"/console/clients/{client_id}{path}", "")
    assert response.status_code == 403
    assert "administrator" in response.text
    assert (await record(api, client_id))["revision"] == 1


@pytest.mark.parametrize(("method", "path"), ROUTES)
async def test_an_unknown_client_is_a_404_page(api, method, path):
    await signed_in(api)
    token = await csrf(api)
    response = await request(api.http, method, f"/console/clients/nosuchclient{path}", token)
    assert response.status_code == 404
    assert "No such client" in response.text
    assert response.headers["content-type"].startswith("text/html")


async def test_a_client_name_is_shown_as_text(api):
    client_id = await new_client(api, client_name="<script>alert(1)</script>")
    await signed_in(api)
    for tab in ("policy", "preview"):
        page = await api.http.get(url(client_id, tab))
        assert "<script>alert(1)</script>" not in page.text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
