"""Co-owners of a portal app (clients/ownership.py): on the portal, through the admin API
and the CLI; the same rules everywhere (a verified developer only, never the last owner),
every change audited."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from appward.cli import app as cli
from appward.services import unit_of_work
from tests.conftest import settings_env
from tests.factories import SETUP_ACTOR
from tests.functional.conftest import Api, audit_trail
from tests.mailbox import Mailbox, mailbox
from tests.portal_helpers import browser_on, create_account, post_form, register_app, sign_in

pytestmark = pytest.mark.anyio

__all__ = ["mailbox"]  # the fixture, used by name below


async def _owners(api: Api, client_id: str) -> list[tuple[str, str]]:
    items = (await api.get(f"/admin/v1/clients/{client_id}/owners")).json()["items"]
    return [(o["username"], o["role"]) for o in items]


async def _actions(api: Api) -> list[str]:
    events = (await api.get("/admin/v1/audit-events?limit=200")).json()["items"]
    return [e["action"] for e in events]


@pytest.fixture
async def owner(api: Api):
    await create_account(api, "olga")
    async with browser_on(api) as http:
        await sign_in(http, "olga")
        yield http


async def test_the_creator_is_the_first_owner(api, owner):
    client_id, _ = await register_app(owner)
    assert await _owners(api, client_id) == [("olga", "owner")]
    page = await owner.get(f"/portal/apps/{client_id}/owners")
    assert "olga" in page.text
    assert 'id="add-owner"' in page.text
    async with unit_of_work(api.app.state.appward, SETUP_ACTOR) as services:
        olga = await services.users.by_username("olga")
        assert await services.ownership.client_ids_owned_by(olga) == [client_id]


async def test_an_owner_adds_a_viewer_by_address_and_it_is_audited(api, owner):
    await create_account(api, "vera")
    client_id, _ = await register_app(owner)
    response = await post_form(
        owner, f"/portal/apps/{client_id}/owners", {"email": "VERA@example.com", "role": "viewer"}
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"/portal/apps/{client_id}/owners?done=owner_added"
    assert "The co-owner is added" in (await owner.get(response.headers["location"])).text
    assert await _owners(api, client_id) == [("olga", "owner"), ("vera", "viewer")]
    assert "client:owner:added" in await _actions(api)
    async with browser_on(api) as vera:
        await sign_in(vera, "vera")
        assert client_id in (await vera.get("/portal/apps")).text


@pytest.mark.parametrize(
    ("form", "field"),
    [
        ({"email": "nobody@example.com", "role": "viewer"}, "email"),
        ({"email": "unverified@example.com", "role": "viewer"}, "email"),
        ({"email": "enduser@example.com", "role": "viewer"}, "email"),
        ({"email": "not an address", "role": "viewer"}, "email"),
        ({"email": "", "role": "viewer"}, "email"),
        ({"email": "vera@example.com", "role": "boss"}, "role"),
        ({"email": "vera@example.com"}, "role"),
    ],
)
async def test_a_bad_co_owner_is_named_and_nothing_changes(api, owner, form, field):
    await create_account(api, "vera")
    await create_account(api, "unverified", verified=False)
    await create_account(api, "enduser", None)
    client_id, _ = await register_app(owner)
    before = await audit_trail(api)
    response = await post_form(owner, f"/portal/apps/{client_id}/owners", form)
    assert response.status_code == 400
    assert f'id="{field}-error"' in response.text
    assert await _owners(api, client_id) == [("olga", "owner")]
    assert await audit_trail(api) == before


async def test_the_last_owner_can_be_neither_removed_nor_demoted(api, owner):
    olga = (await api.get("/admin/v1/users")).json()["items"][-1]
    client_id, _ = await register_app(owner)
    base = f"/portal/apps/{client_id}/owners/{olga['id']}"
    demote = await post_form(owner, f"{base}/role", {"role": "viewer"})
    assert demote.status_code == 409
    assert "at least one owner" in demote.text
    remove = await post_form(owner, f"{base}/remove")
    assert remove.status_code == 409
    assert await _owners(api, client_id) == [("olga", "owner")]
    assert (
        await api.delete(f"/admin/v1/clients/{client_id}/owners/{olga['id']}")
    ).status_code == 409
    put = await api.http.put(
        f"/admin/v1/clients/{client_id}/owners/{olga['id']}",
        json={"role": "viewer"},
        headers=api.auth,
    )
    assert put.status_code == 409


async def test_two_owners_may_demote_and_remove_each_other(api, owner):
    oscar = await create_account(api, "oscar")
    client_id, _ = await register_app(owner)
    await post_form(
        owner, f"/portal/apps/{client_id}/owners", {"email": "oscar@example.com", "role": "owner"}
    )
    demoted = await post_form(
        owner, f"/portal/apps/{client_id}/owners/{oscar['id']}/role", {"role": "viewer"}
    )
    assert demoted.status_code == 303
    assert await _owners(api, client_id) == [("olga", "owner"), ("oscar", "viewer")]
    removed = await post_form(owner, f"/portal/apps/{client_id}/owners/{oscar['id']}/remove")
    assert removed.status_code == 303
    assert await _owners(api, client_id) == [("olga", "owner")]
    actions = await _actions(api)
    assert "client:owner:changed" in actions
    assert "client:owner:removed" in actions
    unknown = await post_form(owner, f"/portal/apps/{client_id}/owners/{oscar['id']}/remove")
    assert unknown.status_code == 404


async def test_a_co_owner_who_is_an_owner_manages_secrets(api, owner):
    await create_account(api, "oscar")
    client_id, _ = await register_app(owner)
    await post_form(
        owner, f"/portal/apps/{client_id}/owners", {"email": "oscar@example.com", "role": "owner"}
    )
    async with browser_on(api) as oscar:
        await sign_in(oscar, "oscar")
        added = await post_form(oscar, f"/portal/apps/{client_id}/secrets", {})
        assert added.status_code == 201
        # And may leave, now that olga owns it too.
        me = [
            u
            for u in (await api.get("/admin/v1/users")).json()["items"]
            if u["username"] == "oscar"
        ]
        left = await post_form(oscar, f"/portal/apps/{client_id}/owners/{me[0]['id']}/remove")
        assert left.status_code == 303
        assert left.headers["location"] == "/portal/apps?done=owner_removed"
        assert (await oscar.get(f"/portal/apps/{client_id}")).status_code == 404


async def test_the_admin_api_lists_puts_and_deletes_co_owners(api, owner):
    vera = await create_account(api, "vera")
    unverified = await create_account(api, "una", verified=False)
    client_id, _ = await register_app(owner)
    url = f"/admin/v1/clients/{client_id}/owners"
    put = await api.http.put(f"{url}/{vera['id']}", json={"role": "viewer"}, headers=api.auth)
    assert put.status_code == 200, put.text
    assert put.json()["role"] == "viewer"
    listed = (await api.get(url)).json()["items"]
    assert [(o["username"], o["role"]) for o in listed] == [("olga", "owner"), ("vera", "viewer")]
    refused = await api.http.put(
        f"{url}/{unverified['id']}", json={"role": "viewer"}, headers=api.auth
    )
    assert refused.status_code == 400
    bad_role = await api.http.put(f"{url}/{vera['id']}", json={"role": "boss"}, headers=api.auth)
    assert bad_role.status_code == 400
    assert (await api.delete(f"{url}/{vera['id']}")).status_code == 204
    assert (await api.delete(f"{url}/{vera['id']}")).status_code == 404
    assert (await api.get("/admin/v1/clients/NoSuchClient/owners")).status_code == 404


def _cli(settings, *args: str, **env: str):
    return CliRunner().invoke(cli, list(args), env={**settings_env(settings), **env})


def _developer(settings, name: str) -> None:
    created = CliRunner().invoke(
        cli,
        ["users", "create", name, "--password-stdin", "--role", "developer"],
        env=settings_env(settings),
        input="long enough pw\n",
    )
    assert created.exit_code == 0, created.output
    verified = _cli(settings, "users", "set-email", name, f"{name}@example.com", "--verified")
    assert verified.exit_code == 0, verified.output


def test_the_cli_lists_sets_and_removes_co_owners(settings):
    _developer(settings, "olga")
    _developer(settings, "vera")
    created = _cli(
        settings, "clients", "create", "Shared", "--grant-type", "client_credentials", "--json"
    )
    assert created.exit_code == 0, created.output
    client_id = json.loads(created.stdout)["client_id"]
    assert _cli(settings, "clients", "owners", "set", client_id, "Olga").exit_code == 0
    set_ = _cli(settings, "clients", "owners", "set", client_id, "vera", "--role", "viewer")
    assert set_.exit_code == 0, set_.output
    listed = json.loads(_cli(settings, "clients", "owners", "list", client_id, "--json").stdout)
    assert [(o["username"], o["role"]) for o in listed["items"]] == [
        ("olga", "owner"),
        ("vera", "viewer"),
    ]
    last = _cli(settings, "clients", "owners", "remove", client_id, "olga")
    assert last.exit_code == 2
    assert "conflict" in last.stderr
    assert _cli(settings, "clients", "owners", "remove", client_id, "vera").exit_code == 0
    bad = _cli(settings, "clients", "owners", "set", client_id, "vera", "--role", "boss")
    assert bad.exit_code == 2
    listed = json.loads(_cli(settings, "clients", "owners", "list", client_id, "--json").stdout)
    assert [o["username"] for o in listed["items"]] == ["olga"]


def test_the_cli_invites_through_smtp(settings, mailbox: Mailbox):
    smtp = {f"APPWARD_{k.upper()}": str(v) for k, v in mailbox.settings().items()}
    invited = _cli(settings, "users", "invite", "ivy@example.com", "--json", **smtp)
    assert invited.exit_code == 0, invited.output
    assert "invitation_url" not in json.loads(invited.stdout)
    [message] = mailbox.messages
    assert message["To"] == "ivy@example.com"
    assert "/portal/signup/" in message.get_content()
    listed = json.loads(_cli(settings, "users", "invitations", "--json").stdout)["items"]
    assert [i["email"] for i in listed] == ["ivy@example.com"]
    assert "/portal/signup/" not in json.dumps(listed)
    revoked = _cli(settings, "users", "revoke-invitation", str(listed[0]["id"]))
    assert revoked.exit_code == 0, revoked.output
    assert json.loads(_cli(settings, "users", "invitations", "--json").stdout)["items"] == []
    again = _cli(settings, "users", "revoke-invitation", str(listed[0]["id"]))
    assert again.exit_code == 2


def test_the_cli_prints_the_link_only_in_development(settings):
    invited = _cli(settings, "users", "invite", "ivy@example.com")
    assert invited.exit_code == 0, invited.output
    assert "development only, not mailed: http" in invited.stdout
    refused = _cli(settings, "users", "invite", "not an address")
    assert refused.exit_code == 2
