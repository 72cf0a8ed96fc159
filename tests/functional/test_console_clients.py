"""The console's clients list, create form, client Settings and Activity tabs and the
client header's actions (web/console/clients.py, client_page.py), through HTTP and the
HTML, as a browser would use them."""

from __future__ import annotations

import re
from contextlib import asynccontextmanager
from html import unescape

import httpx
import pytest
from sqlalchemy import event, func, select

from appward.clients.models import Client
from appward.services import unit_of_work
from tests.factories import NATIVE_APP, SERVICE, SETUP_ACTOR, WEB_APP, metadata
from tests.oauth_helpers import PASSWORD, Browser, hidden_fields

pytestmark = pytest.mark.anyio

XSS = "<script>alert(1)</script>"
# A Cyrillic e (U+0435) in "Weather": TR39 flags the mixed-script look-alike.
CONFUSABLE = "W\u0435ather Widget"


async def _account(api, username: str, role: str | None) -> None:
    body = {"username": username, "password": PASSWORD}
    if role:
        body["role"] = role
    created = await api.post("/admin/v1/users", body)
    assert created.status_code == 201, created.text


async def _sign_in(http: httpx.AsyncClient, username: str) -> None:
    response = await Browser(http).login(await http.get("/login"), username, PASSWORD)
    assert response.status_code == 303, response.text


@pytest.fixture
async def admin(api):
    """The api fixture's HTTP client, signed in as an admin."""
    await _account(api, "ada", "admin")
    await _sign_in(api.http, "ada")
    return api


@asynccontextmanager
async def second_browser(api, username: str):
    transport = httpx.ASGITransport(app=api.app, client=("127.0.0.8", 4712))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        await _sign_in(http, username)
        yield http


async def _create(api, base=WEB_APP, **changes) -> dict:
    response = await api.post("/admin/v1/clients", metadata(base, **changes))
    assert response.status_code == 201, response.text
    return response.json()


async def _csrf(http: httpx.AsyncClient) -> str:
    return hidden_fields((await http.get("/console/clients")).text)["csrf"]


async def _stored(api, client_id: str) -> Client | None:
    async with unit_of_work(api.app.state.appward, SETUP_ACTOR) as services:
        return await services.session.scalar(
            select(Client).where(Client.client_id == client_id, Client.deleted_at.is_(None))
        )


async def _count_clients(api) -> int:
    async with unit_of_work(api.app.state.appward, SETUP_ACTOR) as services:
        return int(await services.session.scalar(select(func.count()).select_from(Client)) or 0)


def _rows(html: str) -> list[str]:
    """The client_ids of the list's rows, in order."""
    return re.findall(r'<tr class="client-row" data-client-id="([^"]+)"', html)


def _error(html: str, field: str) -> str:
    """The message shown next to ``field``'s input."""
    match = re.search(
        rf'<p class="error-message" id="{re.escape(field)}-error">(.*?)</p>', html, re.S
    )
    assert match, f"no error message beside {field}"
    return unescape(re.sub(r"<[^>]+>", "", match.group(1))).replace("Error:", "").strip()


def _input_value(html: str, name: str) -> str:
    match = re.search(rf'name="{re.escape(name)}" type="[a-z]+" value="([^"]*)"', html)
    assert match, f"no input {name}"
    return unescape(match.group(1))


def _textarea(html: str, name: str) -> str:
    match = re.search(rf'<textarea [^>]*name="{re.escape(name)}"[^>]*>(.*?)</textarea>', html, re.S)
    assert match, f"no textarea {name}"
    return unescape(match.group(1))


# --- the list ---


async def test_the_list_shows_each_client_with_its_state(admin):
    created = await _create(admin, client_name="Weather Widget", owner="team-a")
    page = await admin.http.get("/console/clients")
    assert page.status_code == 200
    assert created["client_id"] in _rows(page.text)
    row = page.text.split(f'data-client-id="{created["client_id"]}"')[1].split("</tr>")[0]
    assert "Weather Widget" in row
    assert f"<code>{created['client_id']}</code>" in row
    assert ">active<" in row
    assert "<td>approved</td>" in row
    assert "<td>admin</td>" in row
    assert "<time datetime=" in row


async def test_a_client_name_is_shown_as_text_in_the_list_and_on_its_page(admin):
    created = await _create(admin, client_name=XSS)
    for url in ("/console/clients", f"/console/clients/{created['client_id']}"):
        page = await admin.http.get(url)
        assert XSS not in page.text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text


async def test_a_confusable_name_is_flagged_in_the_list_and_the_header(admin):
    created = await _create(admin, client_name=CONFUSABLE)
    honest = await _create(admin, client_name="Weather Widget")
    page = await admin.http.get("/console/clients")
    row = page.text.split(f'data-client-id="{created["client_id"]}"')[1].split("</tr>")[0]
    assert "name-warning" in row
    assert "mixes scripts" in row
    other = page.text.split(f'data-client-id="{honest["client_id"]}"')[1].split("</tr>")[0]
    assert "name-warning" not in other
    header = await admin.http.get(f"/console/clients/{created['client_id']}")
    assert 'id="name-warning"' in header.text
    header = await admin.http.get(f"/console/clients/{honest['client_id']}")
    assert 'id="name-warning"' not in header.text


async def test_search_finds_a_name_or_a_client_id_substring(admin):
    widget = await _create(admin, client_name="Weather Widget")
    other = await _create(admin, client_name="Billing")
    by_name = await admin.http.get("/console/clients?q=widg")
    assert _rows(by_name.text) == [widget["client_id"]]
    fragment = other["client_id"][3:12]
    by_id = await admin.http.get(f"/console/clients?q={fragment}")
    assert _rows(by_id.text) == [other["client_id"]]
    # A LIKE wildcard is taken literally.
    assert _rows((await admin.http.get("/console/clients?q=%25")).text) == []


async def test_filters_by_status_source_grant_type_and_owner(admin):
    web = await _create(admin, owner="team-a")
    service = await _create(admin, SERVICE, owner="team-b")
    async with unit_of_work(admin.app.state.appward, SETUP_ACTOR) as services:
        dcr = await services.clients.create(
            {"client_name": "Registered", "redirect_uris": ["https://dcr.example/cb"]},
            registration_source="dcr",
        )
        await services.clients.set_status(service["client_id"], "disabled")
    dcr_id = dcr.client.client_id

    async def rows(query: str) -> set[str]:
        page = await admin.http.get(f"/console/clients?{query}")
        assert page.status_code == 200, page.text
        return set(_rows(page.text))

    assert await rows("status=disabled") == {service["client_id"]}
    assert await rows("source=dcr") == {dcr_id}
    assert await rows("grant_type=authorization_code") == {web["client_id"], dcr_id}
    assert await rows("owner=team-a") == {web["client_id"]}
    assert await rows("owner=team-a&status=disabled") == set()
    # The filters stay in the form.
    page = await admin.http.get("/console/clients?status=disabled&owner=team-b")
    assert '<option value="disabled" selected>' in page.text
    assert _input_value(page.text, "owner") == "team-b"


async def test_sort_and_cursor_pages_keep_the_filters(admin):
    ids = [(await _create(admin, NATIVE_APP, client_name=f"App {n}"))["client_id"] for n in "CAB"]
    first = await admin.http.get("/console/clients?q=App&sort=name&limit=2")
    assert _rows(first.text) == [ids[1], ids[2]]
    next_url = unescape(re.search(r'href="([^"]+)" id="next-page"', first.text).group(1))
    assert "q=App" in next_url
    assert "sort=name" in next_url
    second = await admin.http.get(next_url)
    assert _rows(second.text) == [ids[0]]
    assert 'id="next-page"' not in second.text
    newest = await admin.http.get("/console/clients?q=App&sort=-created")
    assert _rows(newest.text) == ids[::-1]


async def test_nothing_matching_shows_the_empty_state(admin):
    page = await admin.http.get("/console/clients?q=nothing-like-this")
    assert page.status_code == 200
    assert 'id="empty-state"' in page.text
    assert "No clients match these filters." in page.text
    assert 'id="bulk"' not in page.text


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("status=gone", "status", "must be one of active, disabled"),
        ("source=ftp", "source", "must be one of admin, portal, dcr"),
        ("grant_type=password", "grant_type", "must be one of"),
        ("approval=maybe", "approval", "must be one of"),
        ("sort=size", "sort", "must be one of"),
        ("limit=5000", "limit", "between 1 and 200"),
    ],
)
async def test_a_bad_filter_is_a_message_beside_it_not_an_error(admin, query, field, message):
    page = await admin.http.get(f"/console/clients?{query}")
    assert page.status_code == 400
    assert message in page.text
    if field != "limit":
        assert message in _error(page.text, field)


async def test_a_forged_cursor_is_refused_with_a_message(admin):
    page = await admin.http.get("/console/clients?cursor=bm9wZQ")
    assert page.status_code == 400
    assert "malformed cursor" in page.text


async def test_the_list_runs_the_same_statements_for_5_or_50_clients(admin):
    """One query for the page, never one per row (the scopes come in the same statement)."""
    engine = admin.app.state.appward.engine.sync_engine
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    await admin.post("/admin/v1/scopes", {"name": "api:read", "description": "Read"})

    async def statements_for_page() -> int:
        statements.clear()
        event.listen(engine, "before_cursor_execute", count)
        try:
            page = await admin.http.get("/console/clients?limit=100")
        finally:
            event.remove(engine, "before_cursor_execute", count)
        assert page.status_code == 200
        return len([s for s in statements if "FROM clients" in s]), len(statements)

    async with unit_of_work(admin.app.state.appward, SETUP_ACTOR) as services:
        for n in range(5):
            await services.clients.create(
                metadata(NATIVE_APP, client_name=f"n{n}", scope="api:read")
            )
    few = await statements_for_page()
    async with unit_of_work(admin.app.state.appward, SETUP_ACTOR) as services:
        for n in range(45):
            await services.clients.create(
                metadata(NATIVE_APP, client_name=f"m{n}", scope="api:read")
            )
    many = await statements_for_page()
    assert few == many
    assert few[0] == 1


# --- bulk enable and disable ---


async def test_bulk_disable_and_enable_change_the_selected_clients_only(admin):
    one, two, three = [(await _create(admin, SERVICE))["client_id"] for _ in range(3)]
    page = await admin.http.get("/console/clients?sort=-created&limit=3")
    fields = hidden_fields(page.text)
    response = await admin.http.post(
        "/console/clients/bulk",
        data={**fields, f"select.{one}": "on", f"select.{two}": "on", "action": "disable"},
    )
    assert response.status_code == 303
    assert response.headers["location"].startswith("/console/clients?")
    assert "sort=-created" in response.headers["location"]
    result = await admin.http.get(response.headers["location"])
    assert "Disabled 2 clients." in result.text
    assert [(await _stored(admin, c)).status for c in (one, two, three)] == [
        "disabled",
        "disabled",
        "active",
    ]
    # A disabled client cannot get a token.
    token = await admin.client_credentials(one, "whatever")
    assert token.status_code == 401
    response = await admin.http.post(
        "/console/clients/bulk", data={**fields, f"select.{one}": "on", "action": "enable"}
    )
    assert "Enabled 1 client." in (await admin.http.get(response.headers["location"])).text
    assert (await _stored(admin, one)).status == "active"


async def test_bulk_action_with_nothing_selected_is_refused(admin):
    created = await _create(admin, SERVICE)
    fields = hidden_fields((await admin.http.get("/console/clients")).text)
    response = await admin.http.post("/console/clients/bulk", data={**fields, "action": "disable"})
    assert response.status_code == 400
    assert "select between 1 and 200 clients" in _error(response.text, "selected")
    assert (await _stored(admin, created["client_id"])).status == "active"


async def test_bulk_action_with_an_unknown_client_changes_none(admin):
    created = await _create(admin, SERVICE)
    fields = hidden_fields((await admin.http.get("/console/clients")).text)
    response = await admin.http.post(
        "/console/clients/bulk",
        data={
            **fields,
            f"select.{created['client_id']}": "on",
            "select.no-such-client": "on",
            "action": "disable",
        },
    )
    assert response.status_code == 404
    assert "nothing was changed" in response.text
    assert (await _stored(admin, created["client_id"])).status == "active"


async def test_bulk_action_needs_a_known_action(admin):
    created = await _create(admin, SERVICE)
    fields = hidden_fields((await admin.http.get("/console/clients")).text)
    response = await admin.http.post(
        "/console/clients/bulk",
        data={**fields, f"select.{created['client_id']}": "on", "action": "explode"},
    )
    assert response.status_code == 400
    assert (await _stored(admin, created["client_id"])).status == "active"


async def test_a_repeated_parameter_is_still_refused_by_the_token_endpoint(admin):
    response = await admin.http.post(
        "/oauth2/token",
        content="grant_type=client_credentials&grant_type=client_credentials",
        headers={"Content-Type": "application/x-www-form-urlencoded", **admin_basic(admin)},
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def admin_basic(api) -> dict[str, str]:
    from tests.factories import basic

    return basic(api.admin_id, api.admin_secret)


# --- creating a client ---


async def test_the_create_form_has_every_group_with_labelled_inputs(admin):
    page = await admin.http.get("/console/clients/new")
    assert page.status_code == 200
    for legend in ("Identity", "Redirect URIs", "Credentials", "Policy", "Grant types"):
        assert f">{legend}</legend>" in page.text
    for name in re.findall(r'<(?:input|textarea|select) class="[^"]*" id="([^"]+)"', page.text):
        assert f'for="{name}"' in page.text, f"{name} has no label"
    for field in (
        "client_name",
        "logo_uri",
        "client_uri",
        "policy_uri",
        "tos_uri",
        "contacts",
        "owner",
        "redirect_uris",
        "application_type",
        "token_endpoint_auth_method",
        "scope",
        "access_token_ttl",
        "refresh_token_ttl",
        "refresh_token_absolute_ttl",
        "issue_refresh_tokens",
        "require_pkce",
        "skip_consent",
        "rotate_refresh_tokens",
        "grant_type.client_credentials",
    ):
        assert f'name="{field}"' in page.text, field


async def test_creating_a_client_shows_its_secret_once_and_stores_every_field(admin):
    await admin.post("/admin/v1/scopes", {"name": "api:read", "description": "Read"})
    form = hidden_fields((await admin.http.get("/console/clients/new")).text)
    response = await admin.http.post(
        "/console/clients/new",
        data={
            **form,
            "client_name": "Reports",
            "client_name_localized": "de: Berichte\r\nfr: Rapports",
            "logo_uri": "https://reports.example/logo.png",
            "client_uri": "https://reports.example",
            "contacts": "ops@reports.example\r\n\r\ndev@reports.example",
            "owner": "team-r",
            "redirect_uris": "https://reports.example/cb\nhttps://reports.example/cb2",
            "token_endpoint_auth_method": "client_secret_post",
            "grant_type.authorization_code": "on",
            "grant_type.refresh_token": "on",
            "scope": "api:read",
            "access_token_ttl": "300",
            "require_pkce": "on",
            "rotate_refresh_tokens": "on",
        },
    )
    assert response.status_code == 201, response.text
    assert "location" not in response.headers
    assert response.headers["cache-control"] == "no-store"
    ids = re.findall(r'id="new-client-id" type="text" value="([^"]+)"', response.text)
    secrets = re.findall(r'id="new-client-secret" type="text" value="([^"]+)"', response.text)
    assert len(ids) == 1
    assert len(secrets) == 1
    client_id, secret = ids[0], secrets[0]
    assert 'data-copy="#new-client-secret"' in response.text
    stored = await _stored(admin, client_id)
    assert stored.client_name == "Reports"
    assert stored.client_name_localized == {"de": "Berichte", "fr": "Rapports"}
    assert stored.contacts == ["ops@reports.example", "dev@reports.example"]
    assert stored.redirect_uris == ["https://reports.example/cb", "https://reports.example/cb2"]
    assert stored.grant_types == ["authorization_code", "refresh_token"]
    assert stored.token_endpoint_auth_method == "client_secret_post"
    assert stored.scopes == ["api:read"]
    assert stored.access_token_ttl == 300
    assert stored.issue_refresh_tokens is True
    assert stored.owner == "team-r"
    assert stored.registration_source == "admin"
    # The secret is shown nowhere else, ever again.
    page = await admin.http.get(f"/console/clients/{client_id}")
    assert secret not in page.text
    assert secret not in (await admin.http.get(f"/console/clients/{client_id}/activity")).text
    # And the change is audited as the admin's account.
    events = (await admin.get(f"/admin/v1/audit-events?client_id={client_id}")).json()["items"]
    assert {e["actor"] for e in events} == {f"user:{(await _user(admin, 'ada')).public_id}"}
    assert secret not in str(events)


async def _user(api, username: str):
    async with unit_of_work(api.app.state.appward, SETUP_ACTOR) as services:
        return await services.users.by_username(username)


async def test_a_public_client_is_created_without_a_secret(admin):
    form = hidden_fields((await admin.http.get("/console/clients/new")).text)
    response = await admin.http.post(
        "/console/clients/new",
        data={
            **form,
            "client_name": "Phone",
            "application_type": "native",
            "redirect_uris": "com.example.phone:/cb",
            "token_endpoint_auth_method": "none",
            "grant_type.authorization_code": "on",
            "require_pkce": "on",
        },
    )
    assert response.status_code == 201, response.text
    assert 'id="new-client-secret"' not in response.text
    assert "without a secret" in response.text


GOOD = {
    "client_name": "Good",
    "redirect_uris": "https://good.example/cb",
    "grant_type.authorization_code": "on",
    "require_pkce": "on",
}


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"client_name": "\u202eevil"}, "client_name", "invisible formatting"),
        ({"client_name": "x" * 201}, "client_name", "at most 200 characters"),
        ({"client_name_localized": "Wetter-Widget"}, "client_name_localized", "not a language tag"),
        ({"client_name_localized": "de:"}, "client_name_localized", "at least 1 character"),
        ({"logo_uri": "http://logo.example/x.png"}, "logo_uri", "must be an https URL"),
        ({"client_uri": "javascript:alert(1)"}, "client_uri", "must be an https URL"),
        ({"policy_uri": "not a uri"}, "policy_uri", "whitespace"),
        ({"tos_uri": "https://tos.example/#x"}, "tos_uri", "fragment"),
        ({"contacts": "ops@example.com\nnot-an-email"}, "contacts", "email"),
        ({"owner": "x" * 201}, "owner", "1-200 characters"),
        ({"redirect_uris": "https://*.example/cb"}, "redirect_uris", "wildcards"),
        ({"redirect_uris": "http://localhost/cb"}, "redirect_uris", "loopback IP literal"),
        ({"redirect_uris": ""}, "redirect_uris", "at least one is required"),
        ({"application_type": "desktop"}, "application_type", "'web' or 'native'"),
        (
            {"token_endpoint_auth_method": "private_key_jwt"},
            "jwks",
            "public keys: jwks or jwks_uri",
        ),
        ({"jwks_uri": "ftp://keys.example"}, "jwks_uri", "must be an https URL"),
        ({"jwks": "{not json"}, "jwks", "valid dictionary"),
        ({"jwks": '{"keys": []}'}, "jwks", "non-empty 'keys'"),
        ({"grant_type.authorization_code": None}, "grant_types", "at least one grant type"),
        (
            {
                "grant_type.refresh_token": "on",
                "grant_type.authorization_code": None,
                "grant_type.client_credentials": "on",
            },
            "grant_types",
            "only issued with authorization_code",
        ),
        ({"scope": "no-such-scope"}, "scope", "not in the scope registry"),
        ({"scope": 'bad"scope'}, "scope", "scope-tokens"),
        ({"access_token_ttl": "ten"}, "access_token_ttl", "valid integer"),
        ({"access_token_ttl": "1"}, "access_token_ttl", "must be between"),
        ({"access_token_ttl": "9" * 5000}, "access_token_ttl", "valid integer"),
        ({"refresh_token_ttl": "-5"}, "refresh_token_ttl", "must be between 1 and"),
        (
            {"refresh_token_absolute_ttl": "0"},
            "refresh_token_absolute_ttl",
            "must be between 1 and",
        ),
        ({"issue_refresh_tokens": "true"}, "issue_refresh_tokens", "needs the refresh_token grant"),
        ({"issue_refresh_tokens": "maybe"}, "issue_refresh_tokens", "valid boolean"),
        (
            {"token_endpoint_auth_method": "none", "require_pkce": None},
            "require_pkce",
            "always require PKCE",
        ),
    ],
)
async def test_each_invalid_field_gets_its_message_and_nothing_is_stored(
    admin, changes, field, message
):
    before = await _count_clients(admin)
    form = hidden_fields((await admin.http.get("/console/clients/new")).text)
    data = {**form, **GOOD, **changes}
    data = {k: v for k, v in data.items() if v is not None}
    response = await admin.http.post("/console/clients/new", data=data)
    assert response.status_code == 400, response.text
    assert message in _error(response.text, field)
    assert 'id="error-summary"' in response.text
    assert await _count_clients(admin) == before
    # The form is kept as it was sent.
    if "client_name" in changes and len(changes["client_name"]) < 300:
        assert _input_value(response.text, "client_name") == changes["client_name"]
    elif field == "redirect_uris":
        assert _textarea(response.text, "redirect_uris") == changes["redirect_uris"]
    else:
        assert _input_value(response.text, "client_name") == "Good"
    for name, value in changes.items():
        if name.startswith("grant_type.") and value:
            assert f'name="{name}" value="on" checked' in response.text


async def test_skip_consent_and_admin_scope_are_an_admins_to_give(admin):
    form = hidden_fields((await admin.http.get("/console/clients/new")).text)
    response = await admin.http.post(
        "/console/clients/new",
        data={**form, **GOOD, "skip_consent": "on", "scope": "appward:admin"},
    )
    assert response.status_code == 400
    # The admin scope needs client_credentials: the domain says so beside the field.
    assert "client_credentials" in _error(response.text, "scope")


# --- the Settings tab ---


async def test_settings_show_the_metadata_and_save_it(admin):
    created = await _create(
        admin, contacts=["a@example.com"], owner="team-a", client_name_localized={"de": "Netz"}
    )
    url = f"/console/clients/{created['client_id']}"
    page = await admin.http.get(url)
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert _input_value(page.text, "client_name") == "Web App"
    assert _textarea(page.text, "redirect_uris") == "https://app.example.com/callback"
    assert _textarea(page.text, "contacts") == "a@example.com"
    assert _textarea(page.text, "client_name_localized") == "de: Netz"
    fields = hidden_fields(page.text)
    assert fields["revision"] == "1"
    response = await admin.http.post(
        url,
        data={
            **fields,
            "client_name": "Web App 2",
            "redirect_uris": "https://app.example.com/callback\nhttps://app.example.com/two",
            "application_type": "web",
            "token_endpoint_auth_method": "client_secret_basic",
        },
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"{url}?done=saved"
    saved = await admin.http.get(response.headers["location"])
    assert "The settings were saved." in saved.text
    stored = await _stored(admin, created["client_id"])
    assert stored.client_name == "Web App 2"
    assert stored.redirect_uris[1] == "https://app.example.com/two"
    # Emptied inputs reset their fields.
    assert stored.contacts == []
    assert stored.owner is None
    # The policy fields are the Policy tab's: the Settings form left them as they were.
    assert stored.grant_types == ["authorization_code", "refresh_token"]


async def test_a_stale_save_is_refused_and_keeps_the_edits(admin):
    created = await _create(admin)
    url = f"/console/clients/{created['client_id']}"
    await _account(admin, "bob", "admin")
    mine = hidden_fields((await admin.http.get(url)).text)
    async with second_browser(admin, "bob") as bob:
        theirs = hidden_fields((await bob.get(url)).text)
        saved = await bob.post(
            url,
            data={
                **theirs,
                "client_name": "Bob's name",
                "redirect_uris": WEB_APP["redirect_uris"][0],
            },
        )
        assert saved.status_code == 303
    refused = await admin.http.post(
        url,
        data={
            **mine,
            "client_name": "Ada's name",
            "redirect_uris": "https://app.example.com/ada",
            "client_uri": "https://ada.example",
        },
    )
    assert refused.status_code == 409
    assert "Someone else changed this client" in refused.text
    assert _input_value(refused.text, "client_name") == "Ada's name"
    assert _input_value(refused.text, "client_uri") == "https://ada.example"
    assert _textarea(refused.text, "redirect_uris") == "https://app.example.com/ada"
    stored = await _stored(admin, created["client_id"])
    assert stored.client_name == "Bob's name"
    assert stored.client_uri is None
    # Saving the kept edits again is a deliberate overwrite, at the revision now shown.
    again = await admin.http.post(
        url,
        data={
            **hidden_fields(refused.text),
            "client_name": "Ada's name",
            "redirect_uris": "https://app.example.com/ada",
        },
    )
    assert again.status_code == 303
    assert (await _stored(admin, created["client_id"])).client_name == "Ada's name"


async def test_settings_refuse_bad_values_beside_their_inputs(admin):
    created = await _create(admin)
    url = f"/console/clients/{created['client_id']}"
    fields = hidden_fields((await admin.http.get(url)).text)
    response = await admin.http.post(
        url,
        data={**fields, "client_name": "Kept", "redirect_uris": "https://app.example.com/cb#frag"},
    )
    assert response.status_code == 400
    assert "fragment" in _error(response.text, "redirect_uris")
    assert _input_value(response.text, "client_name") == "Kept"
    stored = await _stored(admin, created["client_id"])
    assert stored.client_name == "Web App"
    assert stored.revision == 1


async def test_settings_without_a_revision_save_nothing(admin):
    created = await _create(admin)
    url = f"/console/clients/{created['client_id']}"
    fields = hidden_fields((await admin.http.get(url)).text)
    fields.pop("revision")
    response = await admin.http.post(url, data={**fields, "client_name": "Lost"})
    assert response.status_code == 400
    assert (await _stored(admin, created["client_id"])).client_name == "Web App"


async def test_moving_onto_a_secret_method_shows_the_new_secret_once(admin):
    created = await _create(admin, NATIVE_APP)
    url = f"/console/clients/{created['client_id']}"
    fields = hidden_fields((await admin.http.get(url)).text)
    response = await admin.http.post(
        url,
        data={
            **fields,
            "client_name": "Phone App",
            "application_type": "native",
            "redirect_uris": "\n".join(NATIVE_APP["redirect_uris"]),
            "token_endpoint_auth_method": "client_secret_basic",
        },
    )
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    secret = re.findall(r'id="new-client-secret" type="text" value="([^"]+)"', response.text)
    assert len(secret) == 1
    token = await admin.client_credentials(created["client_id"], secret[0])
    assert token.status_code != 401  # the secret authenticates (the grant is not allowed)


# --- the Activity tab ---


async def test_activity_shows_each_change_field_by_field_and_no_secret(admin):
    created = await _create(admin)
    client_id = created["client_id"]
    url = f"/console/clients/{client_id}"
    fields = hidden_fields((await admin.http.get(url)).text)
    await admin.http.post(
        url,
        data={**fields, "client_name": "Renamed", "redirect_uris": WEB_APP["redirect_uris"][0]},
    )
    added = await admin.post(f"/admin/v1/clients/{client_id}/secrets", {"label": "two"})
    page = await admin.http.get(f"{url}/activity")
    assert page.status_code == 200
    text = page.text
    assert "client:updated" in text
    assert "client:created" in text
    change = text.split('data-field="client_name"')[1].split("</tr>")[0]
    assert "Web App" in change
    assert "Renamed" in change
    assert created["client_secret"] not in text
    assert added.json()["client_secret"] not in text
    # Newest first.
    assert (
        text.index("client:secret:added")
        < text.index("client:updated")
        < text.index("client:created")
    )


async def test_activity_pages_with_a_cursor(admin):
    created = await _create(admin, SERVICE)
    client_id = created["client_id"]
    for _ in range(15):  # each adds two events
        await admin.post(f"/admin/v1/clients/{client_id}/disable")
        await admin.post(f"/admin/v1/clients/{client_id}/enable")
    first = await admin.http.get(f"/console/clients/{client_id}/activity")
    ids = re.findall(r'id="event-(\d+)"', first.text)
    assert len(ids) == 25
    next_url = re.search(r'href="([^"]+)" id="next-page"', first.text).group(1)
    second = await admin.http.get(unescape(next_url))
    more = re.findall(r'id="event-(\d+)"', second.text)
    assert more
    assert not set(more) & set(ids)
    assert "client:created" in second.text
    bad = await admin.http.get(f"/console/clients/{client_id}/activity?cursor=zzz")
    assert bad.status_code == 400


async def test_activity_of_another_client_is_not_shown(admin):
    mine = await _create(admin, client_name="Mine")
    other = await _create(admin, client_name="Other")
    await admin.post(f"/admin/v1/clients/{other['client_id']}/disable")
    page = await admin.http.get(f"/console/clients/{mine['client_id']}/activity")
    assert "client:disabled" not in page.text


# --- the header's actions ---


async def _post(admin, path: str, **data: str) -> httpx.Response:
    return await admin.http.post(path, data={"csrf": await _csrf(admin.http), **data})


async def test_disable_and_enable_from_the_header(admin):
    created = await _create(admin, SERVICE)
    url = f"/console/clients/{created['client_id']}"
    page = await admin.http.get(url)
    assert 'id="disable-client"' in page.text
    assert "data-confirm=" in page.text
    response = await _post(admin, f"{url}/status", status="disabled")
    assert response.headers["location"] == f"{url}?done=disabled"
    page = await admin.http.get(response.headers["location"])
    assert "The client was disabled" in page.text
    assert 'id="enable-client"' in page.text
    assert (await _stored(admin, created["client_id"])).status == "disabled"
    response = await _post(admin, f"{url}/status", status="active")
    assert "The client was enabled" in (await admin.http.get(response.headers["location"])).text
    assert (await _stored(admin, created["client_id"])).status == "active"
    refused = await _post(admin, f"{url}/status", status="sideways")
    assert refused.status_code == 400


async def test_verified_toggle(admin):
    created = await _create(admin)
    url = f"/console/clients/{created['client_id']}"
    response = await _post(admin, f"{url}/verified", verified="true")
    page = await admin.http.get(response.headers["location"])
    assert "marked verified" in page.text
    assert 'id="unverify-client"' in page.text
    assert (await _stored(admin, created["client_id"])).verified is True
    response = await _post(admin, f"{url}/verified", verified="false")
    assert "no longer marked verified" in (await admin.http.get(response.headers["location"])).text
    assert (await _stored(admin, created["client_id"])).verified is False
    assert (await _post(admin, f"{url}/verified", verified="perhaps")).status_code == 400


async def test_revoke_all_tokens_kills_the_tokens_but_not_the_client(admin):
    created = await _create(admin, SERVICE)
    token = (await admin.client_credentials(created["client_id"], created["client_secret"])).json()
    url = f"/console/clients/{created['client_id']}"
    page = await admin.http.get(url)
    assert re.search(r'id="revoke-tokens" data-confirm="[^"]+"', page.text)
    response = await _post(admin, f"{url}/revoke-tokens")
    assert response.headers["location"] == f"{url}?done=tokens-revoked"
    assert "Every token issued" in (await admin.http.get(response.headers["location"])).text
    introspected = await admin.http.post(
        "/oauth2/introspect",
        data={"token": token["access_token"]},
        headers=admin_basic(admin),
    )
    assert introspected.json()["active"] is False
    stored = await _stored(admin, created["client_id"])
    assert stored.status == "active"
    assert stored.tokens_not_before is not None


async def test_delete_needs_the_clients_name_typed(admin):
    created = await _create(admin, client_name="Doomed")
    url = f"/console/clients/{created['client_id']}"
    page = await admin.http.get(f"{url}/delete")
    assert page.status_code == 200
    assert 'name="confirm_name"' in page.text
    refused = await _post(admin, f"{url}/delete", confirm_name="doomed")
    assert refused.status_code == 400
    assert "Type the client's name exactly" in _error(refused.text, "confirm_name")
    assert _input_value(refused.text, "confirm_name") == "doomed"
    assert await _stored(admin, created["client_id"]) is not None
    nothing = await _post(admin, f"{url}/delete")
    assert nothing.status_code == 400
    deleted = await _post(admin, f"{url}/delete", confirm_name="Doomed")
    assert deleted.headers["location"] == "/console/clients?done=deleted"
    assert "The client was deleted." in (await admin.http.get(deleted.headers["location"])).text
    assert await _stored(admin, created["client_id"]) is None
    assert (await admin.http.get(url)).status_code == 404


# --- who may use these pages ---

CLIENT_ROUTES = [
    ("GET", "/console/clients/{id}"),
    ("POST", "/console/clients/{id}"),
    ("GET", "/console/clients/{id}/activity"),
    ("POST", "/console/clients/{id}/status"),
    ("POST", "/console/clients/{id}/verified"),
    ("POST", "/console/clients/{id}/revoke-tokens"),
    ("GET", "/console/clients/{id}/delete"),
    ("POST", "/console/clients/{id}/delete"),
]
ROUTES = [
    ("GET", "/console/clients"),
    ("POST", "/console/clients/bulk"),
    ("GET", "/console/clients/new"),
    ("POST", "/console/clients/new"),
    *CLIENT_ROUTES,
]


async def _request(
    http: httpx.AsyncClient, method: str, path: str, csrf: str = ""
) -> httpx.Response:
    if method == "GET":
        return await http.get(path)
    return await http.post(path, data={"csrf": csrf, "status": "disabled", "verified": "true"})


@pytest.mark.parametrize(("method", "path"), ROUTES)
async def test_anonymous_is_sent_to_sign_in_and_changes_nothing(api, method, path):
    created = await _create(api, SERVICE)
    url = path.format(id=created["client_id"])
    response = await _request(api.http, method, url)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=%2Fconsole%2Fclients")
    stored = await _stored(api, created["client_id"])
    assert stored is not None
    assert stored.status == "active"
    assert stored.revision == 1


@pytest.mark.parametrize("role", [None, "developer"])
@pytest.mark.parametrize(("method", "path"), ROUTES)
async def test_end_users_and_developers_are_refused(api, role, method, path):
    created = await _create(api, SERVICE)
    await _account(api, "nadia", role)
    await _sign_in(api.http, "nadia")
    csrf = hidden_fields((await api.http.get("/account")).text).get("csrf", "")
    response = await _request(api.http, method, path.format(id=created["client_id"]), csrf)
    assert response.status_code == 403
    assert "administrator" in response.text
    stored = await _stored(api, created["client_id"])
    assert stored.status == "active"
    assert stored.revision == 1


@pytest.mark.parametrize(("method", "path"), CLIENT_ROUTES)
async def test_an_unknown_client_is_a_404_page(admin, method, path):
    response = await _request(
        admin.http, method, path.format(id="nosuchclient"), await _csrf(admin.http)
    )
    assert response.status_code == 404
    assert "No such client" in response.text
    assert response.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize(("method", "path"), [r for r in ROUTES if r[0] == "POST"])
async def test_a_post_without_the_csrf_token_changes_nothing(admin, method, path):
    created = await _create(admin, SERVICE)
    before = await _count_clients(admin)
    response = await admin.http.post(
        path.format(id=created["client_id"]),
        data={"status": "disabled", "verified": "true", "confirm_name": "Billing Service", **GOOD},
    )
    assert response.status_code == 400
    stored = await _stored(admin, created["client_id"])
    assert stored is not None
    assert stored.status == "active"
    assert stored.revision == 1
    assert await _count_clients(admin) == before
