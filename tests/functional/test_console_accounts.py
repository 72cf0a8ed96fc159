"""The console's accounts (/console/accounts): the list with search and filters, create,
and an account's page (role, e-mail, disable and enable, sessions, 2FA reset, delete);
and the rule that the last admin account stays, in the console and the admin API."""

from __future__ import annotations

import re
from contextlib import asynccontextmanager

import httpx
import pyotp
import pytest
from sqlalchemy import event

from appward.services import standalone_resources, unit_of_work
from appward.users.service import AccountFilter
from tests.factories import SETUP_ACTOR
from tests.functional.console_helpers import (
    ESCAPED_SCRIPT,
    SCRIPT,
    create_account,
    csrf,
    field_error,
    notice,
    post,
    sign_in,
)
from tests.oauth_helpers import PASSWORD, Browser

pytestmark = pytest.mark.anyio

LAST_ADMIN = "this is the last active admin account: give another account the admin role first"


async def _account(api, public_id: str) -> dict | None:
    response = await api.get(f"/admin/v1/users/{public_id}")
    return response.json() if response.status_code == 200 else None


async def _usernames(api) -> list[str]:
    return [u["username"] for u in (await api.get("/admin/v1/users")).json()["items"]]


def _listed(html: str) -> list[str]:
    return re.findall(r'<td><a href="/console/accounts/[A-Za-z0-9_-]{22}">([^<]+)</a></td>', html)


@asynccontextmanager
async def _browser_of(api, username: str):
    """Another browser, signed in as ``username``."""
    transport = httpx.ASGITransport(app=api.app, client=("127.0.0.10", 4712))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        response = await Browser(http).login(await http.get("/login"), username, PASSWORD)
        assert response.status_code == 303
        yield http


# --- the list ---


@pytest.fixture
async def people(api) -> dict[str, dict]:
    made = {
        "alice": await create_account(api, "alice", email="Alice@Example.org"),
        "bob": await create_account(api, "bob", "developer", email="bob@work.example"),
        "carol": await create_account(api, "carol", "admin"),
        "dave": await create_account(api, "dave"),
    }
    await api.post(f"/admin/v1/users/{made['dave']['id']}/disable")
    return made


async def test_the_list_shows_every_account_oldest_first(api, people):
    await sign_in(api, "ada")
    page = await api.http.get("/console/accounts")
    assert page.status_code == 200
    assert _listed(page.text) == ["alice", "bob", "carol", "dave", "ada"]
    assert 'Alice@example.org <span class="muted">(unverified)</span>' in page.text
    assert "<strong>Disabled</strong>" in page.text


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ("q=ALI", ["alice"]),
        ("q=work.example", ["bob"]),
        ("q=example", ["alice", "bob"]),
        ("q=_", []),  # a LIKE wildcard is only itself
        ("role=admin", ["carol", "ada"]),
        ("role=developer", ["bob"]),
        ("role=none", ["alice", "dave"]),
        ("status=disabled", ["dave"]),
        ("status=active&role=none", ["alice"]),
        ("q=a&role=admin", ["carol", "ada"]),
    ],
)
async def test_search_and_filters(api, people, query, names):
    await sign_in(api, "ada")
    page = await api.http.get(f"/console/accounts?{query}")
    assert page.status_code == 200
    assert _listed(page.text) == names
    if not names:
        assert "No account matches this search." in page.text


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("role=root", "role", "one of admin, developer, none"),
        ("status=gone", "status", "one of active, disabled"),
        ("q=" + "a" * 255, "q", "at most 254 printable characters"),
        ("q=%07", "q", "at most 254 printable characters"),
    ],
)
async def test_a_bad_filter_is_a_message_beside_it(api, people, query, field, message):
    await sign_in(api, "ada")
    page = await api.http.get(f"/console/accounts?{query}")
    assert page.status_code == 400
    assert field_error(page.text, field) == message
    assert _listed(page.text) == []


async def test_the_list_pages_by_cursor_keeping_the_filters(api, people):
    from appward.web.console import accounts

    await sign_in(api, "ada")
    original = accounts.PAGE_SIZE
    accounts.PAGE_SIZE = 2
    try:
        first = await api.http.get("/console/accounts?q=a&status=active")
        assert _listed(first.text) == ["alice", "bob"]
        link = re.search(r'<a href="([^"]+)" id="next-page">', first.text)
        assert link
        second = await api.http.get(link.group(1).replace("&amp;", "&"))
        assert _listed(second.text) == ["carol", "ada"]
        assert 'id="next-page"' not in second.text
    finally:
        accounts.PAGE_SIZE = original
    forged = await api.http.get("/console/accounts?cursor=forged")
    assert forged.status_code == 400
    assert "That page link is not valid" in forged.text


@pytest.mark.parametrize(
    "filters",
    [AccountFilter(), AccountFilter("a", "admin", "active"), AccountFilter(role="none")],
)
async def test_each_page_is_one_sql_statement(settings, clock, filters):
    async with standalone_resources(settings, clock=clock) as resources:
        async with unit_of_work(resources, SETUP_ACTOR) as services:
            for n in range(5):
                await services.users.create(f"user{n}a", PASSWORD)
        statements: list[str] = []

        def note(_conn, _cursor, statement, *_args) -> None:
            if statement.lstrip().upper().startswith("SELECT"):
                statements.append(statement)

        event.listen(resources.engine.sync_engine, "before_cursor_execute", note)
        try:
            async with unit_of_work(resources, SETUP_ACTOR) as services:
                page = await services.users.search(filters, limit=2)
                [(u.username, u.email, u.role, u.disabled_at) for u in page.items]
                assert len(statements) == 1
                if page.next_cursor:
                    await services.users.search(filters, cursor=page.next_cursor, limit=2)
                    assert len(statements) == 2
        finally:
            event.remove(resources.engine.sync_engine, "before_cursor_execute", note)


async def test_a_search_is_shown_back_as_text(api):
    await sign_in(api, "ada")
    page = await api.http.get("/console/accounts", params={"q": SCRIPT})
    assert SCRIPT not in page.text
    assert ESCAPED_SCRIPT in page.text


# --- create ---


async def test_create_an_account(api):
    await sign_in(api, "ada")
    form = await api.http.get("/console/accounts/new")
    assert '<label class="label" for="password">Password</label>' in form.text
    response = await post(
        api.http,
        "/console/accounts",
        username="erin",
        password=PASSWORD,
        role="developer",
        email="erin@example.org",
    )
    assert response.status_code == 303
    location = response.headers["location"]
    assert re.fullmatch(r"/console/accounts/[A-Za-z0-9_-]{22}\?done=created", location)
    page = await api.http.get(location)
    assert notice(page.text) == "The account was created."
    created = await _account(api, location.split("/")[-1].split("?")[0])
    assert created is not None
    assert (created["username"], created["role"], created["email"]) == (
        "erin",
        "developer",
        "erin@example.org",
    )
    assert (
        await Browser(api.http).login(await api.http.get("/login"), "erin", PASSWORD)
    ).status_code == 303


@pytest.mark.parametrize(
    ("form", "field", "message", "status"),
    [
        ({"username": ""}, "username", "1-100 letters, digits", 400),
        ({"username": "has space"}, "username", "1-100 letters, digits", 400),
        ({"username": SCRIPT}, "username", "1-100 letters, digits", 400),
        ({"username": "a" * 101}, "username", "1-100 letters, digits", 400),
        ({"password": "short"}, "password", "10-512 characters", 400),
        ({"password": "p" * 513}, "password", "10-512 characters", 400),
        ({"role": "root"}, "role", "one of admin, developer, none", 400),
        ({"email": "not-an-address"}, "email", "", 400),
        ({"email": "a@b"}, "email", "", 400),
        ({"username": "ADA"}, "username", "exists already", 409),
        ({"email": "ada@example.org"}, "email", "taken by another account", 409),
    ],
)
async def test_create_with_bad_input_shows_the_message_beside_the_field_and_stores_nothing(
    api, form, field, message, status
):
    await create_account(api, "ada", "admin", email="ada@example.org")
    await Browser(api.http).login(await api.http.get("/login"), "ada", PASSWORD)
    before = await _usernames(api)
    fields = {"username": "frank", "password": PASSWORD, "role": "developer", "email": "", **form}
    response = await post(api.http, "/console/accounts", **fields)
    assert response.status_code == status
    shown = field_error(response.text, field)
    assert shown is not None
    assert message in shown
    assert "There is a problem" in response.text
    assert await _usernames(api) == before
    # The form is kept, but never the password.
    assert f'value="{fields["email"]}"' in response.text
    assert '<option value="developer" selected>' in response.text or field == "role"
    assert PASSWORD not in response.text


# --- an account's page ---


async def test_an_accounts_page_shows_its_details_and_links_the_password_reset(api):
    alice = await create_account(api, "alice", email="alice@example.org")
    await sign_in(api, "ada")
    page = await api.http.get(f"/console/accounts/{alice['id']}")
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert alice["id"] in page.text
    assert "alice@example.org (unverified)" in page.text
    assert (
        f'<a href="/console/accounts/{alice["id"]}/password" id="reset-password">Reset password</a>'
        in page.text
    )
    assert '<dd id="second-factor">None</dd>' in page.text
    assert 'id="reset-2fa"' not in page.text
    assert 'data-confirm="Disable alice?' in page.text


async def test_change_the_role_audited(api):
    alice = await create_account(api, "alice")
    await sign_in(api, "ada")
    response = await post(api.http, f"/console/accounts/{alice['id']}/role", role="developer")
    assert response.headers["location"] == f"/console/accounts/{alice['id']}?done=role"
    assert (
        notice((await api.http.get(response.headers["location"])).text) == "The role was changed."
    )
    assert (await _account(api, alice["id"]))["role"] == "developer"
    events = (await api.get("/admin/v1/audit-events?action=account:role:changed")).json()["items"]
    assert events[0]["changes"]["role"] == [None, "developer"]
    await post(api.http, f"/console/accounts/{alice['id']}/role", role="none")
    assert (await _account(api, alice["id"]))["role"] is None


async def test_a_bad_role_is_refused_beside_the_field(api):
    alice = await create_account(api, "alice")
    await sign_in(api, "ada")
    response = await post(api.http, f"/console/accounts/{alice['id']}/role", role="root")
    assert response.status_code == 400
    assert field_error(response.text, "role") == "one of admin, developer, none"
    assert (await _account(api, alice["id"]))["role"] is None


async def test_the_last_admin_cannot_remove_their_own_role_disable_or_delete_themselves(api):
    ada = await sign_in(api, "ada")
    base = f"/console/accounts/{ada['id']}"
    response = await post(api.http, f"{base}/role", role="developer")
    assert response.status_code == 409
    assert field_error(response.text, "role") == LAST_ADMIN
    response = await post(api.http, f"{base}/disable")
    assert response.status_code == 409
    assert LAST_ADMIN[1:] in response.text
    response = await post(api.http, f"{base}/delete", confirm_username="ada")
    assert response.status_code == 409
    assert LAST_ADMIN[1:] in response.text
    account = await _account(api, ada["id"])
    assert (account["role"], account["disabled_at"]) == ("admin", None)
    assert (await api.http.get("/console/accounts")).status_code == 200  # still signed in


async def test_an_admin_may_step_down_while_another_admin_remains(api):
    ada = await sign_in(api, "ada")
    await create_account(api, "grace", "admin")
    response = await post(api.http, f"/console/accounts/{ada['id']}/role", role="none")
    assert response.headers["location"] == "/account"
    assert (await _account(api, ada["id"]))["role"] is None
    assert (await api.http.get("/console/accounts")).status_code == 403


async def test_a_disabled_admin_does_not_count_as_the_one_that_remains(api):
    ada = await sign_in(api, "ada")
    grace = await create_account(api, "grace", "admin")
    await api.post(f"/admin/v1/users/{grace['id']}/disable")
    response = await post(api.http, f"/console/accounts/{ada['id']}/disable")
    assert response.status_code == 409


async def test_disable_ends_the_sessions_at_once_and_enable_restores_sign_in(api):
    alice = await create_account(api, "alice")
    await sign_in(api, "ada")
    async with _browser_of(api, "alice") as alices:
        assert (await alices.get("/account")).status_code == 200
        response = await post(api.http, f"/console/accounts/{alice['id']}/disable")
        assert response.headers["location"] == f"/console/accounts/{alice['id']}?done=disabled"
        page = await api.http.get(response.headers["location"])
        assert notice(page.text) == (
            "The account was disabled and its sessions ended; the apps it owns keep working."
        )
        assert 'id="enable"' in page.text
        assert (await alices.get("/account")).status_code == 303
    response = await post(api.http, f"/console/accounts/{alice['id']}/enable")
    assert notice((await api.http.get(response.headers["location"])).text) == (
        "The account was enabled: it can sign in again."
    )
    assert (await _account(api, alice["id"]))["disabled_at"] is None


async def test_end_sessions_signs_the_account_out_everywhere(api):
    alice = await create_account(api, "alice")
    await sign_in(api, "ada")
    async with _browser_of(api, "alice") as alices:
        page = await api.http.get(f"/console/accounts/{alice['id']}")
        assert "1 signed-in browser<" in page.text
        response = await post(api.http, f"/console/accounts/{alice['id']}/end-sessions")
        page = await api.http.get(response.headers["location"])
        assert notice(page.text) == "The account's sessions were ended."
        assert "0 signed-in browsers" in page.text
        assert (await alices.get("/account")).status_code == 303
    events = (await api.get("/admin/v1/audit-events?action=account:sessions:ended")).json()
    assert events["items"][0]["changes"]["sessions_ended"] == 1


async def test_reset_2fa_removes_the_second_factor_audited(api, clock):
    alice = await create_account(api, "alice")
    async with unit_of_work(api.app.state.appward, SETUP_ACTOR) as services:
        user = await services.users.by_username("alice")
        enrolment = await services.totp.start_enrolment(user)
        await services.totp.confirm_enrolment(user, pyotp.TOTP(enrolment.seed).at(clock.now()))
    await sign_in(api, "ada")
    page = await api.http.get(f"/console/accounts/{alice['id']}")
    assert "Enrolled (TOTP)" in page.text
    assert 'data-confirm="Remove alice\'s second factor and recovery codes?"' in page.text
    response = await post(api.http, f"/console/accounts/{alice['id']}/reset-2fa")
    page = await api.http.get(response.headers["location"])
    assert notice(page.text).startswith("The second factor was reset")
    assert '<dd id="second-factor">None</dd>' in page.text
    async with unit_of_work(api.app.state.appward, SETUP_ACTOR) as services:
        assert not await services.totp.is_enrolled(await services.users.by_username("alice"))
    (removed,) = (await api.get("/admin/v1/audit-events?action=account:totp:removed")).json()[
        "items"
    ]
    assert removed["target"] == "alice"
    assert removed["actor"].startswith("user:")


async def test_set_and_verify_the_email_address(api):
    alice = await create_account(api, "alice")
    await sign_in(api, "ada")
    url = f"/console/accounts/{alice['id']}/email"
    response = await post(api.http, url, email="alice@example.org", email_verified="on")
    page = await api.http.get(response.headers["location"])
    assert notice(page.text) == "The e-mail address was saved."
    assert "alice@example.org (verified)" in page.text
    assert (await _account(api, alice["id"]))["email_verified"] is True
    await post(api.http, url, email="")
    assert (await _account(api, alice["id"]))["email"] is None


@pytest.mark.parametrize(
    ("form", "field", "message", "status"),
    [
        ({"email": "nope"}, "email", "", 400),
        ({"email": "", "email_verified": "on"}, "email_verified", "no e-mail address", 400),
        ({"email": "TAKEN@example.org"}, "email", "taken by another account", 409),
    ],
)
async def test_a_bad_email_is_refused_beside_the_field(api, form, field, message, status):
    await create_account(api, "bob", email="taken@example.org")
    alice = await create_account(api, "alice", email="alice@example.org")
    await sign_in(api, "ada")
    response = await post(api.http, f"/console/accounts/{alice['id']}/email", **form)
    assert response.status_code == status
    assert message in (field_error(response.text, field) or "-")
    assert f'value="{form["email"]}"' in response.text
    assert (await _account(api, alice["id"]))["email"] == "alice@example.org"


async def test_delete_needs_the_username_typed(api):
    alice = await create_account(api, "alice")
    await sign_in(api, "ada")
    url = f"/console/accounts/{alice['id']}/delete"
    for typed in ("", "alic", "bob"):
        response = await post(api.http, url, confirm_username=typed)
        assert response.status_code == 400
        assert field_error(response.text, "confirm_username") == (
            "does not match the account's username"
        )
        assert await _account(api, alice["id"]) is not None
    response = await post(api.http, url, confirm_username="Alice")
    assert response.headers["location"] == "/console/accounts?done=deleted"
    page = await api.http.get(response.headers["location"])
    assert notice(page.text) == "The account was deleted."
    assert await _account(api, alice["id"]) is None
    assert (await api.http.get(f"/console/accounts/{alice['id']}")).status_code == 404


# --- the last admin, through the admin API ---


async def test_the_admin_api_keeps_the_last_admin_account(api):
    ada = await create_account(api, "ada", "admin")
    url = f"/admin/v1/users/{ada['id']}"
    for response in (
        await api.patch(url, {"role": "developer"}),
        await api.post(f"{url}/disable"),
        await api.delete(url),
    ):
        assert response.status_code == 409
        assert response.json()["detail"] == LAST_ADMIN
    assert (await _account(api, ada["id"]))["role"] == "admin"
    grace = await create_account(api, "grace", "admin")
    assert (await api.patch(url, {"role": "developer"})).status_code == 200
    # grace is the last one now.
    assert (await api.post(f"/admin/v1/users/{grace['id']}/disable")).status_code == 409
    assert (await api.patch(url, {"role": "admin"})).status_code == 200
    assert (await api.post(f"/admin/v1/users/{grace['id']}/disable")).status_code == 200
    assert (await api.delete(url)).status_code == 409


async def test_accounts_without_the_admin_role_are_not_held_back(api):
    alice = await create_account(api, "alice", "developer")
    assert (await api.post(f"/admin/v1/users/{alice['id']}/disable")).status_code == 200
    assert (await api.delete(f"/admin/v1/users/{alice['id']}")).status_code == 204


# --- who may do it ---

ACTIONS = ["role", "email", "disable", "enable", "end-sessions", "reset-2fa", "delete"]


def _routes(public_id: str) -> list[tuple[str, str]]:
    return [
        ("GET", "/console/accounts"),
        ("GET", "/console/accounts/new"),
        ("POST", "/console/accounts"),
        ("GET", f"/console/accounts/{public_id}"),
        *(("POST", f"/console/accounts/{public_id}/{action}") for action in ACTIONS),
    ]


FORM = {
    "username": "mallory",
    "password": PASSWORD,
    "role": "admin",
    "email": "m@example.org",
    "confirm_username": "target",
}


@pytest.fixture
async def target(api) -> dict:
    return await create_account(api, "target", email="target@example.org")


async def _unchanged(api, target: dict) -> None:
    assert await _account(api, target["id"]) == target
    assert "mallory" not in await _usernames(api)


ROUTES = range(4 + len(ACTIONS))
POSTS = [2, *range(4, 4 + len(ACTIONS))]


@pytest.mark.parametrize("index", ROUTES)
async def test_anonymous_is_sent_to_sign_in(api, target, index):
    method, path = _routes(target["id"])[index]
    response = await api.http.request(method, path, data=FORM if method == "POST" else None)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=%2Fconsole%2Faccounts")
    await _unchanged(api, target)


@pytest.mark.parametrize("role", [None, "developer"])
@pytest.mark.parametrize("index", ROUTES)
async def test_an_end_user_or_developer_is_refused(api, target, role, index):
    method, path = _routes(target["id"])[index]
    await sign_in(api, "nadia", role)
    data = {**FORM, "csrf": await csrf(api.http)} if method == "POST" else None
    response = await api.http.request(method, path, data=data)
    assert response.status_code == 403
    assert "target@example.org" not in response.text
    await _unchanged(api, target)


@pytest.mark.parametrize("token", [None, "wrong"])
@pytest.mark.parametrize("index", POSTS)
async def test_a_post_without_the_right_csrf_token_changes_nothing(api, target, token, index):
    _, path = _routes(target["id"])[index]
    await sign_in(api, "ada")
    data = {**FORM, **({"csrf": token} if token else {})}
    response = await api.http.post(path, data=data)
    assert response.status_code == 400
    assert "Nothing was changed" in response.text
    await _unchanged(api, target)


@pytest.mark.parametrize("public_id", ["A" * 22, "not-a-public-id", "1"])
@pytest.mark.parametrize("index", range(3, 4 + len(ACTIONS)))
async def test_an_unknown_account_is_a_404_page(api, public_id, index):
    method, path = _routes(public_id)[index]
    await sign_in(api, "ada")
    data = {**FORM, "csrf": await csrf(api.http)} if method == "POST" else None
    response = await api.http.request(method, path, data=data)
    assert response.status_code == 404
    assert "Page not found" in response.text


@pytest.mark.parametrize("with_clients", [False, True])
async def test_disabling_a_developer_disables_their_apps_only_when_asked(api, with_clients):
    from tests import portal_helpers

    developer = await portal_helpers.create_account(api, "devon")
    async with portal_helpers.browser_on(api) as portal:
        await portal_helpers.sign_in(portal, "devon")
        client_id, _ = await portal_helpers.register_app(portal, client_name="Devon's app")
    await sign_in(api, "root-admin")
    page = await api.http.get(f"/console/accounts/{developer['id']}")
    assert "Also disable the 1 app this account owns" in page.text
    form = {"with_clients": "on"} if with_clients else {}
    response = await post(api.http, f"/console/accounts/{developer['id']}/disable", **form)
    assert response.status_code == 303
    shown = await api.http.get(response.headers["location"])
    assert ("every app it owns disabled" in notice(shown.text)) is with_clients
    status = (await api.get(f"/admin/v1/clients/{client_id}")).json()["status"]
    assert status == ("disabled" if with_clients else "active")


async def test_the_admin_api_disables_a_developer_with_their_apps(api):
    from tests import portal_helpers

    developer = await portal_helpers.create_account(api, "dana")
    async with portal_helpers.browser_on(api) as portal:
        await portal_helpers.sign_in(portal, "dana")
        client_id, _ = await portal_helpers.register_app(portal, client_name="Dana's app")
    response = await api.post(f"/admin/v1/users/{developer['id']}/disable?with_clients=true", {})
    assert response.status_code == 200, response.text
    assert (await api.get(f"/admin/v1/clients/{client_id}")).json()["status"] == "disabled"
    bad = await api.post(f"/admin/v1/users/{developer['id']}/disable?with_clients=maybe", {})
    assert bad.status_code == 400
