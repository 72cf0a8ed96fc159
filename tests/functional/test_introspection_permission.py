"""The introspection permission (clients/policy.may_introspect): who sets it (the admin
API, the CLI, the console's Policy tab; never a developer, the portal or DCR), that
every change is audited, and that it takes effect at once, in every process."""

from __future__ import annotations

import asyncio
import json
import os
import re
from contextlib import AsyncExitStack
from html import unescape
from typing import Any
from urllib.parse import quote

import anyio
import httpx
import pytest
from typer.testing import CliRunner

from appward.cli import app as cli_app
from appward.config import Settings
from appward.web.app import create_app
from tests.conftest import settings_env
from tests.factories import NATIVE_APP, SERVICE, WEB_APP, basic, metadata
from tests.functional.conftest import Api, audit_trail, create_admin, non_admin_token, open_api
from tests.functional.console_tabs import element, field_error, long_sessions, signed_in
from tests.oauth_helpers import hidden_fields
from tests.portal_helpers import WEB_APP_FORM, browser_on, create_account, post_form, sign_in

pytestmark = pytest.mark.anyio

INACTIVE = {"active": False}
GRANTED = "client:introspection:granted"
WITHDRAWN = "client:introspection:withdrawn"


@pytest.fixture
async def api(settings, clock):
    async with open_api(long_sessions(settings), clock) as opened:
        created = await opened.post("/admin/v1/scopes", {"name": "orders", "description": "o"})
        assert created.status_code == 201, created.text
        yield opened


async def new_client(api: Api, base: dict[str, Any] = SERVICE, **changes: Any) -> dict[str, Any]:
    response = await api.post("/admin/v1/clients", metadata(base, **changes))
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def record(api: Api, client_id: str) -> dict[str, Any]:
    response = await api.get(f"/admin/v1/clients/{client_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def token_of(http: httpx.AsyncClient, client: dict[str, Any]) -> str:
    response = await http.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials"},
        headers=basic(client["client_id"], client["client_secret"]),
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


async def introspected(http: httpx.AsyncClient, requester: dict[str, Any], token: str) -> Any:
    response = await http.post(
        "/oauth2/introspect",
        data={"token": token},
        headers=basic(requester["client_id"], requester["client_secret"]),
    )
    assert response.status_code == 200, response.text
    return response.json()


async def sees_others(api: Api, requester: dict[str, Any], token: str) -> bool:
    """Whether ``requester`` introspects another client's active ``token`` as active."""
    body = await introspected(api.http, requester, token)
    assert body == INACTIVE or body["active"] is True
    return body != INACTIVE


async def events(api: Api, client_id: str) -> list[dict[str, Any]]:
    response = await api.get(f"/admin/v1/audit-events?client_id={client_id}&limit=200")
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return [e for e in items if e["action"] in (GRANTED, WITHDRAWN)]


@pytest.fixture
async def world(api: Api) -> tuple[dict[str, Any], dict[str, Any], str]:
    """An owner with an active token, and a confidential client that may not see it yet."""
    owner = await new_client(api, scope="orders")
    server = await new_client(api, client_name="Orders API")
    token = await token_of(api.http, owner)
    assert not await sees_others(api, server, token)
    return owner, server, token


# --- the admin API ---


async def test_the_admin_api_grants_and_withdraws_it_each_change_audited(api, world):
    _owner, server, token = world
    base = f"/admin/v1/clients/{server['client_id']}"
    assert (await record(api, server["client_id"]))["may_introspect_others"] is False

    granted = await api.post(f"{base}/grant-introspection")

    assert granted.status_code == 200, granted.text
    assert granted.json()["may_introspect_others"] is True
    assert granted.headers["etag"] == f'"{granted.json()["revision"]}"'
    assert await sees_others(api, server, token)
    [event] = await events(api, server["client_id"])
    assert event["action"] == GRANTED
    assert event["changes"] == {"may_introspect_others": True}
    assert event["actor"].startswith("client:")  # the admin client that asked

    again = await api.post(f"{base}/grant-introspection")  # already granted: no new event
    assert again.status_code == 200
    assert len(await events(api, server["client_id"])) == 1

    withdrawn = await api.post(f"{base}/withdraw-introspection")

    assert withdrawn.status_code == 200, withdrawn.text
    assert withdrawn.json()["may_introspect_others"] is False
    assert not await sees_others(api, server, token)
    actions = [e["action"] for e in await events(api, server["client_id"])]
    assert sorted(actions) == sorted([GRANTED, WITHDRAWN])
    # No token, no secret in any of the events.
    for event in await events(api, server["client_id"]):
        assert token not in json.dumps(event)
        assert server["client_secret"] not in json.dumps(event)


async def test_a_public_client_cannot_be_granted_it(api):
    """A public client may not introspect at all (RFC 7662 §2.1), so the permission is
    refused for it, with the field named; nothing is stored or audited."""
    native = await new_client(api, NATIVE_APP)
    trail = await audit_trail(api)

    refused = await api.post(f"/admin/v1/clients/{native['client_id']}/grant-introspection")

    assert refused.status_code == 400, refused.text
    problem = refused.json()
    assert "public client" in problem["detail"]
    assert [f["field"] for f in problem["errors"]] == ["may_introspect_others"]
    assert (await record(api, native["client_id"]))["may_introspect_others"] is False
    assert await audit_trail(api) == trail
    # Withdrawing what it does not hold is fine (nothing to do).
    assert (
        await api.post(f"/admin/v1/clients/{native['client_id']}/withdraw-introspection")
    ).status_code == 200


@pytest.mark.parametrize("action", ["grant-introspection", "withdraw-introspection"])
async def test_an_unknown_or_deleted_client_is_404(api, action):
    assert (await api.post(f"/admin/v1/clients/nope/{action}")).status_code == 404
    gone = await new_client(api)
    assert (await api.delete(f"/admin/v1/clients/{gone['client_id']}")).status_code == 204
    assert (await api.post(f"/admin/v1/clients/{gone['client_id']}/{action}")).status_code == 404


async def test_it_is_not_client_metadata_so_create_and_patch_refuse_it(api):
    """The permission is set only by its own endpoints: as metadata it is an unknown
    field, refused with its name, and nothing is stored."""
    trail = await audit_trail(api)
    refused = await api.post("/admin/v1/clients", {**SERVICE, "may_introspect_others": True})
    assert refused.status_code == 400, refused.text
    assert "may_introspect_others" in [f["field"] for f in refused.json()["errors"]]
    assert await audit_trail(api) == trail

    client = await new_client(api)
    patched = await api.patch(
        f"/admin/v1/clients/{client['client_id']}", {"may_introspect_others": True}, if_match="*"
    )
    assert patched.status_code == 400, patched.text
    shown = await record(api, client["client_id"])
    assert shown["may_introspect_others"] is False
    assert shown["revision"] == 1


@pytest.mark.parametrize("action", ["grant-introspection", "withdraw-introspection"])
async def test_only_an_admin_token_may_set_it(api, world, action):
    _owner, server, _token = world
    url = f"/admin/v1/clients/{server['client_id']}/{action}"
    anonymous = await api.http.post(url)
    assert anonymous.status_code == 401
    other = await non_admin_token(api)
    refused = await api.http.post(url, headers={"Authorization": f"Bearer {other}"})
    assert refused.status_code == 403
    # The client itself cannot grant itself the permission with its own token.
    own = await token_of(api.http, server)
    refused = await api.http.post(url, headers={"Authorization": f"Bearer {own}"})
    assert refused.status_code == 403
    assert (await record(api, server["client_id"]))["may_introspect_others"] is False
    assert await events(api, server["client_id"]) == []


# --- the CLI ---


def run_cli(settings: Settings, *args: str) -> Any:
    """Runs ``appward ... --json`` in-process, as an operator on the server's host would."""
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("APPWARD_")}
    env.update(settings_env(settings))
    result = CliRunner().invoke(cli_app, [*args, "--json"], env=env, catch_exceptions=False)
    return result


async def cli(api: Api, *args: str) -> Any:
    settings = api.app.state.appward.settings
    return await anyio.to_thread.run_sync(lambda: run_cli(settings, *args))


async def test_the_cli_grants_and_withdraws_it_and_the_running_server_sees_it_at_once(api, world):
    _owner, server, token = world
    assert not await sees_others(api, server, token)  # the server's snapshot is cached

    granted = await cli(api, "clients", "grant-introspection", server["client_id"])

    assert granted.exit_code == 0, granted.stderr
    assert json.loads(granted.stdout)["may_introspect_others"] is True
    assert await sees_others(api, server, token)
    shown = await cli(api, "clients", "show", server["client_id"])
    assert json.loads(shown.stdout)["may_introspect_others"] is True

    withdrawn = await cli(api, "clients", "withdraw-introspection", server["client_id"])

    assert withdrawn.exit_code == 0, withdrawn.stderr
    assert json.loads(withdrawn.stdout)["may_introspect_others"] is False
    assert not await sees_others(api, server, token)
    audited = await events(api, server["client_id"])
    assert sorted(e["action"] for e in audited) == sorted([GRANTED, WITHDRAWN])
    assert all(e["actor"].startswith("cli:") for e in audited)


async def test_the_cli_refuses_a_public_client_and_an_unknown_one(api):
    native = await new_client(api, NATIVE_APP)
    refused = await cli(api, "clients", "grant-introspection", native["client_id"])
    assert refused.exit_code == 2
    assert "public client" in refused.stderr
    missing = await cli(api, "clients", "grant-introspection", "no-such-client")
    assert missing.exit_code == 2
    assert "not_found" in missing.stderr
    assert (await record(api, native["client_id"]))["may_introspect_others"] is False


# --- the console's Policy tab ---

CHECKBOX = "May introspect other clients' tokens (a resource server)"


def policy_url(client_id: str) -> str:
    return f"/console/clients/{quote(client_id)}/policy"


def policy_form(page: str) -> dict[str, str]:
    """The policy form as a browser posts it unchanged: hidden fields, checked boxes,
    the numbers."""
    form = hidden_fields(page)
    for name in re.findall(r'type="checkbox" id="[^"]+" name="([^"]+)" value="on" checked', page):
        form[unescape(name)] = "on"
    for name, value in re.findall(r'name="([a-z_]+_ttl)" type="number" value="([^"]*)"', page):
        form[name] = value
    return form


async def test_the_console_checkbox_grants_and_withdraws_it_audited_as_the_admin(api, world):
    _owner, server, token = world
    await signed_in(api)
    page = await api.http.get(policy_url(server["client_id"]))
    assert page.status_code == 200
    assert element(page.text, "may_introspect_others-hint").startswith("Without it")
    assert (
        f'<label class="choices__label" for="may_introspect_others">{CHECKBOX}</label>'
        in unescape(page.text)
    )
    form = policy_form(page.text)
    assert "may_introspect_others" not in form  # unchecked

    saved = await api.http.post(
        policy_url(server["client_id"]), data={**form, "may_introspect_others": "on"}
    )

    assert saved.status_code == 303
    assert saved.headers["location"] == f"{policy_url(server['client_id'])}?done=saved"
    shown = await api.http.get(saved.headers["location"])
    assert element(shown.text, "notice") == "The policy was saved."
    assert policy_form(shown.text)["may_introspect_others"] == "on"
    assert await sees_others(api, server, token)
    [event] = await events(api, server["client_id"])
    assert event["action"] == GRANTED
    assert event["actor"].startswith("user:")  # the signed-in admin account

    unchecked = policy_form(shown.text)
    unchecked.pop("may_introspect_others")
    assert (await api.http.post(policy_url(server["client_id"]), data=unchecked)).status_code == 303

    assert not await sees_others(api, server, token)
    assert (await record(api, server["client_id"]))["may_introspect_others"] is False
    assert sorted(e["action"] for e in await events(api, server["client_id"])) == sorted(
        [GRANTED, WITHDRAWN]
    )


async def test_saving_the_policy_unchanged_leaves_the_permission_and_the_audit_alone(api):
    server = await new_client(api)
    await api.post(f"/admin/v1/clients/{server['client_id']}/grant-introspection")
    await signed_in(api)
    form = policy_form((await api.http.get(policy_url(server["client_id"]))).text)
    assert form["may_introspect_others"] == "on"
    trail = await audit_trail(api)

    assert (await api.http.post(policy_url(server["client_id"]), data=form)).status_code == 303

    assert (await record(api, server["client_id"]))["may_introspect_others"] is True
    assert await audit_trail(api) == trail


async def test_the_console_refuses_it_for_a_public_client_by_the_checkbox_storing_nothing(api):
    native = await new_client(api, NATIVE_APP)
    await signed_in(api)
    form = policy_form((await api.http.get(policy_url(native["client_id"]))).text)
    form["access_token_ttl"] = "450"  # a valid change that must not be stored either
    before = await record(api, native["client_id"])
    trail = await audit_trail(api)

    refused = await api.http.post(
        policy_url(native["client_id"]), data={**form, "may_introspect_others": "on"}
    )

    assert refused.status_code == 400
    assert "public client" in field_error(refused.text, "may_introspect_others")
    kept = policy_form(refused.text)
    assert kept["may_introspect_others"] == "on"  # the form is kept as posted
    assert kept["access_token_ttl"] == "450"
    assert await record(api, native["client_id"]) == before
    assert await audit_trail(api) == trail


async def test_a_stale_policy_form_does_not_change_the_permission(api):
    server = await new_client(api)
    await signed_in(api)
    form = policy_form((await api.http.get(policy_url(server["client_id"]))).text)
    await api.patch(f"/admin/v1/clients/{server['client_id']}", {"client_name": "X"}, if_match="*")

    refused = await api.http.post(
        policy_url(server["client_id"]), data={**form, "may_introspect_others": "on"}
    )

    assert refused.status_code == 412
    assert (await record(api, server["client_id"]))["may_introspect_others"] is False
    assert await events(api, server["client_id"]) == []


async def test_a_name_with_markup_shows_as_text_on_the_policy_tab(api):
    server = await new_client(api, client_name="<script>alert(1)</script>")
    await signed_in(api)
    page = await api.http.get(policy_url(server["client_id"]))
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text


@pytest.mark.parametrize("role", [None, "developer"])
async def test_an_end_user_or_a_developer_cannot_set_it_on_the_console(api, world, role):
    _owner, server, token = world
    await signed_in(api, "nadia", role)
    csrf = hidden_fields((await api.http.get("/account")).text)["csrf"]
    page = await api.http.get(policy_url(server["client_id"]))
    assert page.status_code == 403
    refused = await api.http.post(
        policy_url(server["client_id"]),
        data={"csrf": csrf, "revision": "1", "may_introspect_others": "on"},
    )
    assert refused.status_code == 403
    assert (await record(api, server["client_id"]))["may_introspect_others"] is False
    assert not await sees_others(api, server, token)


async def test_anonymous_is_sent_to_sign_in_and_nothing_changes(api, world):
    _owner, server, _token = world
    target = policy_url(server["client_id"])
    refused = await api.http.post(target, data={"may_introspect_others": "on", "revision": "1"})
    assert refused.status_code == 303
    assert refused.headers["location"] == f"/login?next={quote(target, safe='')}"
    assert (await record(api, server["client_id"]))["may_introspect_others"] is False


# --- the portal and DCR cannot grant it ---


async def test_the_portal_never_offers_it_and_ignores_it_when_posted(api):
    await create_account(api, "dana")
    async with browser_on(api) as dev:
        await sign_in(dev, "dana")
        new_page = await dev.get("/portal/apps/new")
        assert "introspect" not in new_page.text.lower()
        created = await post_form(
            dev, "/portal/apps", {**WEB_APP_FORM, "may_introspect_others": "on"}
        )
        assert created.status_code == 201, created.text
        [app] = (await api.get("/admin/v1/clients?source=portal")).json()["items"]
        client_id = app["client_id"]
        for path in (f"/portal/apps/{client_id}", f"/portal/apps/{client_id}/edit"):
            page = await dev.get(path)
            assert page.status_code == 200
            assert "introspect" not in page.text.lower()
        edit = hidden_fields((await dev.get(f"/portal/apps/{client_id}/edit")).text)
        edited = await dev.post(
            f"/portal/apps/{client_id}/edit",
            data={**edit, **WEB_APP_FORM, "may_introspect_others": "on"},
        )
        assert edited.status_code == 303, edited.text
        # Nor is there a portal route that sets it.
        for path in ("grant-introspection", "introspection", "policy"):
            assert (await dev.post(f"/portal/apps/{client_id}/{path}")).status_code in (404, 405)
    assert app["may_introspect_others"] is False
    assert (await record(api, client_id))["may_introspect_others"] is False
    assert await events(api, client_id) == []


async def test_dynamic_registration_cannot_self_grant_it(settings, clock):
    """RFC 7591 §2: the registration request carries client metadata only; Appward's own
    policy fields, this one included, are ignored and never stored (registration/policy.py's
    DCR_FIELDS), on registration and on an RFC 7592 update alike."""
    configured = Settings(**{**long_sessions(settings).model_dump(), "dcr_modes": "open"})
    async with open_api(configured, clock) as api:
        owner = await new_client(api)
        token = await token_of(api.http, owner)
        body = {**WEB_APP, "may_introspect_others": True}

        response = await api.http.post("/oauth2/register", json=body)

        assert response.status_code == 201, response.text
        registered = response.json()
        assert "may_introspect_others" not in registered
        assert (await record(api, registered["client_id"]))["may_introspect_others"] is False
        assert not await sees_others(api, registered, token)

        updated = await api.http.put(
            f"/oauth2/register/{registered['client_id']}",
            json={**body, "client_id": registered["client_id"]},
            headers={"Authorization": f"Bearer {registered['registration_access_token']}"},
        )
        assert updated.status_code == 200, updated.text
        assert (await record(api, registered["client_id"]))["may_introspect_others"] is False
        assert not await sees_others(api, registered, token)


# --- every process hears of a change at once ---


async def test_a_grant_on_one_host_reaches_another_hosts_cache_at_once(
    settings, clock, tmp_path, redis_url
):
    """Two app instances sharing the database and Redis, each with its own data dir (so
    the epoch file does not carry the news): a change made on host b is seen by host a's
    very next request, although host a holds the requester's snapshot in its cache."""
    hosts = {
        name: settings.model_copy(update={"data_dir": tmp_path / name, "redis_url": redis_url})
        for name in ("a", "b")
    }
    async with AsyncExitStack() as stack:
        http: dict[str, httpx.AsyncClient] = {}
        for name, host_settings in hosts.items():
            app = create_app(host_settings, clock=clock)
            await stack.enter_async_context(app.router.lifespan_context(app))
            http[name] = await stack.enter_async_context(
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://h")
            )
            if name == "b":
                admin_id, admin_secret = await create_admin(app)
        admin = await token_of(http["b"], {"client_id": admin_id, "client_secret": admin_secret})
        auth = {"Authorization": f"Bearer {admin}"}
        owner = (await http["b"].post("/admin/v1/clients", json=SERVICE, headers=auth)).json()
        server = (await http["b"].post("/admin/v1/clients", json=SERVICE, headers=auth)).json()
        token = await token_of(http["b"], owner)
        assert await introspected(http["a"], server, token) == INACTIVE  # cached on host a
        await asyncio.sleep(0.2)  # the subscribers are listening

        base = f"/admin/v1/clients/{server['client_id']}"
        granted = await http["b"].post(f"{base}/grant-introspection", headers=auth)
        assert granted.status_code == 200, granted.text

        async def seen_on_a() -> bool:
            return (await introspected(http["a"], server, token)) != INACTIVE

        # Delivery through Redis takes a moment; no TTL is waited for (the cache keeps a
        # verification for minutes).
        for _ in range(40):
            if await seen_on_a():
                break
            await asyncio.sleep(0.05)
        assert await seen_on_a()

        withdrawn = await http["b"].post(f"{base}/withdraw-introspection", headers=auth)
        assert withdrawn.status_code == 200, withdrawn.text
        for _ in range(40):
            if not await seen_on_a():
                break
            await asyncio.sleep(0.05)
        assert not await seen_on_a()
