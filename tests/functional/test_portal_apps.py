"""A developer's apps on the portal (web/portal/apps.py, app_credentials.py,
co_owners.py): register, see the state, edit, delete, secrets and co-owners, each rule
through HTTP and the HTML."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.functional.conftest import Api, audit_trail
from tests.oauth_helpers import code_flow_tokens, hidden_fields
from tests.portal_helpers import (
    WEB_APP_FORM,
    browser_on,
    create_account,
    post_form,
    register_app,
    sign_in,
)

pytestmark = pytest.mark.anyio


@pytest.fixture
async def dev(api: Api) -> AsyncIterator[httpx.AsyncClient]:
    """A verified developer, signed in on their own browser."""
    await create_account(api, "dana")
    async with browser_on(api) as http:
        await sign_in(http, "dana")
        yield http


async def _apps(api: Api) -> list[dict[str, object]]:
    items = (await api.get("/admin/v1/clients?limit=100&source=portal")).json()
    return [await _app(api, c["client_id"]) for c in items["items"]]


async def _app(api: Api, client_id: str) -> dict[str, object]:
    """The client's record with its metadata flattened in."""
    record = (await api.get(f"/admin/v1/clients/{client_id}")).json()
    return {**record, **record.pop("metadata")}


async def test_a_web_app_is_registered_with_its_secret_shown_once(api, dev):
    response = await post_form(
        dev,
        "/portal/apps",
        {**WEB_APP_FORM, "logo_uri": "https://weather.example/logo.png"},
    )
    assert response.status_code == 201
    assert response.headers["cache-control"] == "no-store"
    assert "shown only this once" in response.text
    assert 'data-copy="#client-secret"' in response.text
    [app] = await _apps(api)
    assert app["client_name"] == "Weather Widget"
    assert app["token_endpoint_auth_method"] == "client_secret_basic"
    assert app["owner"] == "dana"
    assert app["approval"] == "approved"
    listing = await dev.get("/portal/apps")
    assert "Weather Widget" in listing.text
    page = await dev.get(f"/portal/apps/{app['client_id']}")
    assert page.status_code == 200
    assert "Not verified" in page.text
    assert 'src="https://weather.example/logo.png"' in page.text
    assert "img-src 'self' https://weather.example" in page.headers["content-security-policy"]
    # The secret is in no later page.
    secret = response.text.split('id="client-secret" type="text" value="')[1].split('"')[0]
    assert secret not in page.text
    assert secret not in (await dev.get(f"/portal/apps/{app['client_id']}/secrets")).text


@pytest.mark.parametrize(("app_type", "method"), [("spa", "none"), ("native", "none")])
async def test_public_apps_get_no_secret(api, dev, app_type, method):
    redirect = "https://spa.example/cb" if app_type == "spa" else "http://127.0.0.1/cb"
    client_id, secret = await register_app(dev, app_type=app_type, redirect_uris=redirect)
    assert secret is None
    app = await _app(api, client_id)
    assert app["token_endpoint_auth_method"] == method
    secrets_page = await dev.get(f"/portal/apps/{client_id}/secrets")
    assert 'id="no-secrets"' in secrets_page.text
    assert 'id="add-secret"' not in secrets_page.text


BAD_FIELDS = [
    ({"client_name": ""}, "client_name"),
    ({"app_type": "mainframe"}, "app_type"),
    ({"app_type": ""}, "app_type"),
    ({"redirect_uris": "not a uri"}, "redirect_uris"),
    ({"redirect_uris": "https://ok.example/cb\nhttps://frag.example/cb#x"}, "redirect_uris"),
    ({"logo_uri": "javascript:alert(1)"}, "logo_uri"),
    ({"client_uri": "ftp://x"}, "client_uri"),
    ({"policy_uri": "nope"}, "policy_uri"),
    ({"tos_uri": "nope"}, "tos_uri"),
    ({"scope": "no:such:scope"}, "scope"),
    ({"scope": "appward:admin"}, "scope"),
]


@pytest.mark.parametrize(("change", "field"), BAD_FIELDS)
async def test_each_invalid_field_gets_its_message_and_nothing_is_stored(api, dev, change, field):
    before = await audit_trail(api)
    response = await post_form(dev, "/portal/apps", {**WEB_APP_FORM, **change})
    assert response.status_code == 400, response.text
    assert f'id="{field}-error"' in response.text
    assert f'href="#{field}"' in response.text  # the summary links to it
    assert response.text.count('class="error-message"') >= 1
    if field != "client_name":
        assert 'value="Weather Widget"' in response.text  # the form is kept
    assert await _apps(api) == []
    assert await audit_trail(api) == before


async def test_a_script_for_a_name_is_text(api, dev):
    client_id, _ = await register_app(dev, client_name="<script>alert(1)</script>")
    for path in ("/portal/apps", f"/portal/apps/{client_id}", f"/portal/apps/{client_id}/edit"):
        text = (await dev.get(path)).text
        assert "<script>alert(1)</script>" not in text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text


async def test_a_sensitive_scope_puts_the_app_in_review_and_shows_the_reason(api, dev):
    scope = await api.post(
        "/admin/v1/scopes", {"name": "health:read", "description": "Health", "sensitive": True}
    )
    assert scope.status_code == 201, scope.text
    client_id, secret = await register_app(dev, scope="health:read")
    assert secret is not None
    page = await dev.get(f"/portal/apps/{client_id}")
    assert "Waiting for review" in page.text
    token = await api.client_credentials(client_id, secret)
    assert token.status_code != 200  # a pending app gets no tokens
    rejected = await api.post(
        f"/admin/v1/clients/{client_id}/reject", {"reason": "Tell us <why> you need it"}
    )
    assert rejected.status_code == 200, rejected.text
    page = await dev.get(f"/portal/apps/{client_id}")
    assert "Rejected" in page.text
    assert "Tell us &lt;why&gt; you need it" in page.text


async def test_an_approved_portal_app_shows_the_unverified_notice_on_consent(api, dev):
    await create_account(api, "alice", role=None)
    client_id, secret = await register_app(dev)
    assert secret is not None
    async with browser_on(api) as user:
        from tests.oauth_helpers import Browser

        page = await Browser(user).consent_page(client_id)
        assert page.status_code == 200
        assert 'id="unverified"' in page.text
        assert "Weather Widget" in page.text
    await api.post(f"/admin/v1/clients/{client_id}/verify")
    async with browser_on(api) as user:
        from tests.oauth_helpers import Browser

        page = await Browser(user).consent_page(client_id)
        assert 'id="unverified"' not in page.text
    async with browser_on(api) as user:
        tokens = await code_flow_tokens(user, client_id, secret, "https://weather.example/cb")
        assert "access_token" in tokens


async def test_editing_an_app_changes_it_and_keeps_its_kind(api, dev):
    client_id, _ = await register_app(dev)
    form = await dev.get(f"/portal/apps/{client_id}/edit")
    assert form.status_code == 200
    fields = hidden_fields(form.text)
    response = await dev.post(
        f"/portal/apps/{client_id}/edit",
        data={
            **fields,
            "client_name": "Weather Widget 2",
            "redirect_uris": "https://weather.example/cb\nhttps://weather.example/cb2",
            "client_uri": "https://weather.example",
            "app_type": "spa",  # ignored: the kind cannot change
        },
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"/portal/apps/{client_id}?done=updated"
    app = await _app(api, client_id)
    assert app["client_name"] == "Weather Widget 2"
    assert app["redirect_uris"] == ["https://weather.example/cb", "https://weather.example/cb2"]
    assert app["client_uri"] == "https://weather.example"
    assert app["token_endpoint_auth_method"] == "client_secret_basic"
    shown = await dev.get(response.headers["location"])
    assert "The app is saved" in shown.text
    # The same form again: its revision is out of date, nothing changes.
    stale = await dev.post(
        f"/portal/apps/{client_id}/edit", data={**fields, **WEB_APP_FORM, "client_name": "Stale"}
    )
    assert 'id="error-summary"' in stale.text
    assert stale.status_code == 412
    assert (await _app(api, client_id))["client_name"] == "Weather Widget 2"


@pytest.mark.parametrize(("change", "field"), BAD_FIELDS[:1] + BAD_FIELDS[3:])
async def test_a_bad_edit_names_the_field_and_changes_nothing(api, dev, change, field):
    client_id, _ = await register_app(dev)
    form = hidden_fields((await dev.get(f"/portal/apps/{client_id}/edit")).text)
    before = (await api.get(f"/admin/v1/clients/{client_id}")).json()
    response = await dev.post(
        f"/portal/apps/{client_id}/edit", data={**form, **WEB_APP_FORM, **change}
    )
    assert response.status_code == 400
    assert f'id="{field}-error"' in response.text
    assert (await api.get(f"/admin/v1/clients/{client_id}")).json() == before


async def test_deleting_needs_the_name_typed(api, dev):
    client_id, secret = await register_app(dev)
    page = await dev.get(f"/portal/apps/{client_id}/delete")
    assert page.status_code == 200
    wrong = await post_form(dev, f"/portal/apps/{client_id}/delete", {"confirm_name": "Weather"})
    assert wrong.status_code == 422
    assert 'id="confirm_name-error"' in wrong.text
    assert (await api.get(f"/admin/v1/clients/{client_id}")).status_code == 200
    done = await post_form(
        dev, f"/portal/apps/{client_id}/delete", {"confirm_name": "Weather Widget"}
    )
    assert done.status_code == 303
    assert done.headers["location"] == "/portal/apps?done=deleted"
    assert (await api.get(f"/admin/v1/clients/{client_id}")).status_code == 404
    assert (await dev.get(f"/portal/apps/{client_id}")).status_code == 404
    assert secret is not None
    assert (await api.client_credentials(client_id, secret)).status_code == 401


async def test_rotating_a_secret_shows_the_new_one_once_and_both_work(api, dev):
    client_id, first = await register_app(dev)
    response = await post_form(
        dev,
        f"/portal/apps/{client_id}/secrets",
        {"label": "rotation", "grace": "3600"},
        page=f"/portal/apps/{client_id}/secrets",
    )
    assert response.status_code == 201
    assert response.headers["cache-control"] == "no-store"
    second = response.text.split('id="client-secret" type="text" value="')[1].split('"')[0]
    secrets = (await api.get(f"/admin/v1/clients/{client_id}/secrets")).json()["items"]
    assert len(secrets) == 2
    [old] = [s for s in secrets if s["label"] != "rotation"]
    assert old["expires_at"] is not None  # the grace period
    listing = await dev.get(f"/portal/apps/{client_id}/secrets")
    assert "rotation" in listing.text
    assert second not in listing.text
    assert first is not None
    assert all(s["usable"] for s in secrets)
    # Both authenticate (a client_credentials refusal for the grant type, not a 401).
    for secret in (first, second):
        response = await api.client_credentials(client_id, secret)
        assert response.status_code != 401, response.text


@pytest.mark.parametrize(
    ("form", "field"), [({"label": " "}, "label"), ({"grace": "soon"}, "grace")]
)
async def test_a_bad_secret_form_names_the_field(api, dev, form, field):
    client_id, _ = await register_app(dev)
    response = await post_form(
        dev, f"/portal/apps/{client_id}/secrets", form, page=f"/portal/apps/{client_id}/secrets"
    )
    assert response.status_code == 400
    assert f'id="{field}-error"' in response.text
    assert len((await api.get(f"/admin/v1/clients/{client_id}/secrets")).json()["items"]) == 1


async def test_revoking_a_recently_used_secret_asks_to_confirm(api, dev):
    client_id, secret = await register_app(dev, grant_types="")
    assert secret is not None
    [record] = (await api.get(f"/admin/v1/clients/{client_id}/secrets")).json()["items"]
    # Used just now (a failed grant still authenticates the client first).
    await api.client_credentials(client_id, secret)
    url = f"/portal/apps/{client_id}/secrets/{record['id']}/revoke"
    page = f"/portal/apps/{client_id}/secrets"
    asked = await post_form(dev, url, page=page)
    assert asked.status_code == 409
    assert 'id="confirm-revoke"' in asked.text
    assert (await api.get(f"/admin/v1/clients/{client_id}/secrets")).json()["items"][0][
        "revoked_at"
    ] is None
    done = await post_form(dev, url, {"confirmed": "yes"}, page=page)
    assert done.status_code == 303
    assert done.headers["location"] == f"/portal/apps/{client_id}/secrets?done=secret_revoked"
    assert "The secret is revoked" in (await dev.get(done.headers["location"])).text
    assert (await api.get(f"/admin/v1/clients/{client_id}/secrets")).json()["items"][0][
        "revoked_at"
    ]
    unknown = await post_form(dev, f"/portal/apps/{client_id}/secrets/nope/revoke", page=page)
    assert unknown.status_code == 404


async def test_a_form_without_its_csrf_token_changes_nothing(api, dev):
    response = await dev.post("/portal/apps", data={**WEB_APP_FORM, "csrf": "forged"})
    assert response.status_code == 400
    assert await _apps(api) == []
