"""The console's initial access tokens (/console/access-tokens): the list never shows a
token, a new one is shown once from the POST (no-store), revoke stops it at once."""

from __future__ import annotations

import re

import pytest

from appward.config import Settings
from tests.functional.console_helpers import (
    ESCAPED_SCRIPT,
    SCRIPT,
    csrf,
    field_error,
    notice,
    post,
    sign_in,
)

pytestmark = pytest.mark.anyio


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Registration with an initial access token on, so the tokens made here work."""
    return Settings(**{**settings.model_dump(), "dcr_modes": "initial_access_token"})


async def _tokens(api) -> list[dict]:
    return (await api.get("/admin/v1/initial-access-tokens")).json()["items"]


def _shown_token(html: str) -> str:
    found = re.search(r'id="token" type="text" value="(apwiat_[^"]+)" readonly', html)
    assert found, html
    return found.group(1)


async def _register(api, token: str):
    return await api.http.post(
        "/oauth2/register",
        json={"redirect_uris": ["https://partner.example/cb"], "client_name": "Partner"},
        headers={"Authorization": f"Bearer {token}"},
    )


async def test_create_shows_the_token_once_and_it_registers_a_client(api):
    await sign_in(api, "ada")
    form = await api.http.get("/console/access-tokens/new")
    assert form.status_code == 200
    response = await post(
        api.http,
        "/console/access-tokens",
        label="Partner Co",
        expires_in="86400",
        max_uses="1",
        grant_types="authorization_code",
    )
    assert response.status_code == 201
    assert response.headers["cache-control"] == "no-store"
    token = _shown_token(response.text)
    assert 'data-copy="#token"' in response.text
    assert notice(response.text).startswith("The token Partner Co was created.")
    (record,) = await _tokens(api)
    assert (record["label"], record["max_uses"], record["template"]) == (
        "Partner Co",
        1,
        {"grant_types": ["authorization_code"]},
    )
    assert record["created_by"].startswith("user:")
    listed = await api.http.get("/console/access-tokens")
    assert token not in listed.text
    assert "Partner Co" in listed.text
    assert "0 of 1" in listed.text
    assert "Active" in listed.text
    # The token works, once.
    assert (await _register(api, token)).status_code == 201
    listed = await api.http.get("/console/access-tokens")
    assert "1 of 1" in listed.text
    assert "Used up" in listed.text
    assert token not in listed.text


async def test_a_token_with_every_field_left_empty_uses_the_server_defaults(api):
    await sign_in(api, "ada")
    response = await post(api.http, "/console/access-tokens")
    assert response.status_code == 201
    (record,) = await _tokens(api)
    assert (record["label"], record["expires_at"], record["max_uses"], record["template"]) == (
        None,
        None,
        None,
        {},
    )
    listed = await api.http.get("/console/access-tokens")
    assert "never" in listed.text
    assert "server default" in listed.text


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        ({"label": "x" * 101}, "label", "at most 100 characters"),
        ({"label": "bell\x07"}, "label", "1 to 100 printable"),
        ({"expires_in": "soon"}, "expires_in", "valid integer"),
        ({"expires_in": "1.5"}, "expires_in", "valid integer"),
        ({"expires_in": "0"}, "expires_in", "must be 1..31536000 seconds"),
        ({"expires_in": "-5"}, "expires_in", "must be 1..31536000 seconds"),
        ({"expires_in": "31536001"}, "expires_in", "must be 1..31536000 seconds"),
        ({"max_uses": "many"}, "max_uses", "valid integer"),
        ({"max_uses": "0"}, "max_uses", "must be 1..1000000"),
        ({"grant_types": "password"}, "grant_types", "non-empty choice"),
        ({"scopes": "no:such"}, "scopes", "not in the registry: no:such"),
        ({"scopes": "appward:admin"}, "scopes", "admin-only"),
    ],
)
async def test_bad_input_is_shown_beside_the_field_and_nothing_is_stored(api, form, field, message):
    await sign_in(api, "ada")
    response = await post(api.http, "/console/access-tokens", **{"label": "kept", **form})
    assert response.status_code == 400
    assert message in (field_error(response.text, field) or ""), response.text
    assert "There is a problem" in response.text
    # The form is kept.
    assert f'name="{field}" type="text" value="{form[field]}"' in response.text
    assert "apwiat_" not in response.text
    assert await _tokens(api) == []


async def test_revoke_stops_the_token_at_once(api):
    created = await api.post("/admin/v1/initial-access-tokens", {"label": "old"})
    token_id, token = created.json()["id"], created.json()["token"]
    await sign_in(api, "ada")
    listed = await api.http.get("/console/access-tokens")
    assert (
        'data-confirm="Revoke the token old? Nobody can register a client with it any more."'
        in listed.text
    )
    response = await post(api.http, f"/console/access-tokens/{token_id}/revoke")
    assert response.headers["location"] == "/console/access-tokens?done=revoked"
    page = await api.http.get(response.headers["location"])
    assert notice(page.text) == "The token was revoked: it registers no more clients."
    assert "Revoked" in page.text
    assert f"/console/access-tokens/{token_id}/revoke" not in page.text
    assert (await _register(api, token)).status_code == 401


async def test_an_expired_token_says_so(api, clock):
    await api.post("/admin/v1/initial-access-tokens", {"label": "brief", "expires_in": 60})
    clock.advance(61)
    await sign_in(api, "ada")
    assert "Expired" in (await api.http.get("/console/access-tokens")).text


async def test_an_empty_list_says_so(api):
    await sign_in(api, "ada")
    page = await api.http.get("/console/access-tokens")
    assert "No initial access token has been created." in page.text


async def test_a_label_is_shown_as_text(api):
    await api.post("/admin/v1/initial-access-tokens", {"label": SCRIPT})
    await sign_in(api, "ada")
    page = await api.http.get("/console/access-tokens")
    assert SCRIPT not in page.text
    assert ESCAPED_SCRIPT in page.text
    created = await post(api.http, "/console/access-tokens", label=SCRIPT)
    assert SCRIPT not in created.text
    assert ESCAPED_SCRIPT in created.text


# --- who may do it ---


@pytest.fixture
async def token_id(api) -> str:
    return (await api.post("/admin/v1/initial-access-tokens", {"label": "t"})).json()["id"]


def _routes(token_id: str) -> list[tuple[str, str]]:
    return [
        ("GET", "/console/access-tokens"),
        ("GET", "/console/access-tokens/new"),
        ("POST", "/console/access-tokens"),
        ("POST", f"/console/access-tokens/{token_id}/revoke"),
    ]


@pytest.mark.parametrize("index", range(4))
async def test_anonymous_is_sent_to_sign_in(api, token_id, index):
    method, path = _routes(token_id)[index]
    response = await api.http.request(method, path)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=%2Fconsole%2Faccess-tokens")


@pytest.mark.parametrize("role", [None, "developer"])
@pytest.mark.parametrize("index", range(4))
async def test_an_end_user_or_developer_is_refused(api, token_id, role, index):
    method, path = _routes(token_id)[index]
    await sign_in(api, "nadia", role)
    data = {"csrf": await csrf(api.http)} if method == "POST" else None
    response = await api.http.request(method, path, data=data)
    assert response.status_code == 403
    assert "apwiat_" not in response.text
    (record,) = await _tokens(api)
    assert record["revoked_at"] is None


@pytest.mark.parametrize("token", [None, "wrong"])
@pytest.mark.parametrize("index", [2, 3])
async def test_a_post_without_the_right_csrf_token_changes_nothing(api, token_id, token, index):
    _, path = _routes(token_id)[index]
    await sign_in(api, "ada")
    response = await api.http.post(path, data={"csrf": token} if token else {})
    assert response.status_code == 400
    assert "Nothing was changed" in response.text
    (record,) = await _tokens(api)
    assert record["revoked_at"] is None


async def test_an_unknown_token_is_a_404_page(api):
    await sign_in(api, "ada")
    response = await post(api.http, "/console/access-tokens/0123456789abcdef/revoke")
    assert response.status_code == 404
    assert "Page not found" in response.text
