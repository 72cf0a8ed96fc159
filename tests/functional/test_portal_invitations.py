"""The console's "Invite a developer" page (/console/invitations) and the admin API's
invitations: mailed (SMTP) or, in development with the log mailer, shown once; listed
while open; revoked."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest

from appward.clock import FrozenClock
from appward.config import Settings
from tests.functional.conftest import Api, audit_trail, open_api
from tests.mailbox import Mailbox, mailbox
from tests.portal_helpers import browser_on, create_account, post_form, sign_in

pytestmark = pytest.mark.anyio

__all__ = ["mailbox"]  # the fixture, used by name below

PAGE = "/console/invitations"


@pytest.fixture
async def smtp_api(settings: Settings, clock: FrozenClock, mailbox: Mailbox) -> AsyncIterator[Api]:
    async with open_api(settings.model_copy(update=mailbox.settings()), clock) as api:
        yield api


@pytest.fixture
async def admin(api: Api) -> AsyncIterator[httpx.AsyncClient]:
    await create_account(api, "ada", "admin")
    async with browser_on(api) as http:
        await sign_in(http, "ada")
        yield http


async def test_an_admin_invites_and_sees_the_development_link_once(api, admin):
    page = await admin.get(PAGE)
    assert page.status_code == 200
    assert 'id="no-invitations"' in page.text
    assert 'aria-current="page"' in page.text
    sent = await post_form(admin, PAGE, {"email": "ivy@example.com"}, page=PAGE)
    assert sent.status_code == 200
    assert sent.headers["cache-control"] == "no-store"
    assert "Invitation sent to ivy@example.com" in sent.text
    assert "Development mode only" in sent.text
    link = re.search(r'value="(http://[^"]+/portal/signup/[^"]+)"', sent.text)
    assert link
    listed = await admin.get(PAGE)
    assert "ivy@example.com" in listed.text
    assert link.group(1) not in listed.text  # shown once, never stored
    assert link.group(1).rsplit("/", 1)[1] not in listed.text


async def test_an_invitation_by_smtp_shows_no_link(smtp_api, mailbox):
    await create_account(smtp_api, "ada", "admin")
    async with browser_on(smtp_api) as http:
        await sign_in(http, "ada")
        sent = await post_form(http, PAGE, {"email": "ivy@example.com"}, page=PAGE)
    assert sent.status_code == 200
    assert "Development mode only" not in sent.text
    assert "/portal/signup/" not in sent.text
    [message] = mailbox.messages
    assert message["To"] == "ivy@example.com"
    assert "/portal/signup/" in message.get_content()


@pytest.mark.parametrize(
    ("email", "status"),
    [("not an address", 400), ("", 400), ("taken@example.com", 409)],
)
async def test_a_bad_address_is_named_and_nothing_is_stored(api, admin, email, status):
    await create_account(api, "taken")
    before = await audit_trail(api)
    response = await post_form(admin, PAGE, {"email": email}, page=PAGE)
    assert response.status_code == status
    assert 'id="email-error"' in response.text
    assert await audit_trail(api) == before
    assert (await api.get("/admin/v1/invitations")).json()["items"] == []


async def test_revoking_an_invitation_stops_its_link(api, admin):
    sent = await post_form(admin, PAGE, {"email": "ivy@example.com"}, page=PAGE)
    link = re.search(r'value="http://[^"]+(/portal/signup/[^"]+)"', sent.text)
    assert link
    [invitation] = (await api.get("/admin/v1/invitations")).json()["items"]
    revoked = await post_form(admin, f"{PAGE}/{invitation['id']}/revoke", page=PAGE)
    assert revoked.status_code == 303
    assert revoked.headers["location"] == f"{PAGE}?done=revoked"
    assert "The invitation is revoked" in (await admin.get(revoked.headers["location"])).text
    assert (await api.get("/admin/v1/invitations")).json()["items"] == []
    assert api.app.state.appward.settings.portal_signup == "invite"  # the default
    async with browser_on(api) as visitor:
        assert (await visitor.get(link.group(1))).status_code == 400
    for bad in (str(invitation["id"]), "999", "x"):
        again = await post_form(admin, f"{PAGE}/{bad}/revoke", page=PAGE)
        assert again.status_code == 404
        assert "text/html" in again.headers["content-type"]


async def test_a_new_invitation_replaces_the_open_one(api, admin):
    await post_form(admin, PAGE, {"email": "ivy@example.com"}, page=PAGE)
    await post_form(admin, PAGE, {"email": "Ivy@example.com"}, page=PAGE)
    assert len((await api.get("/admin/v1/invitations")).json()["items"]) == 1


@pytest.mark.parametrize(("role", "status"), [(None, 403), ("developer", 403)])
async def test_only_admins_reach_the_invitations_page(api, role, status):
    await create_account(api, "nadia", role)
    async with browser_on(api) as http:
        await sign_in(http, "nadia")
        assert (await http.get(PAGE)).status_code == status
        posted = await post_form(http, PAGE, {"email": "x@example.com"}, page="/login")
        assert posted.status_code == status
    async with browser_on(api) as anonymous:
        response = await anonymous.get(PAGE)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/login?next=")
    assert (await api.get("/admin/v1/invitations")).json()["items"] == []


async def test_the_admin_api_shows_the_link_only_in_development(api):
    created = await api.post("/admin/v1/invitations", {"email": "ivy@example.com"})
    assert created.status_code == 201
    assert created.headers["cache-control"] == "no-store"
    assert "/portal/signup/" in created.json()["invitation_url"]
    listed = (await api.get("/admin/v1/invitations")).json()["items"]
    assert "invitation_url" not in listed[0]
    assert (await api.post("/admin/v1/invitations", {"email": "nope"})).status_code == 400
    assert (await api.delete("/admin/v1/invitations/x")).status_code == 404
    assert (await api.delete(f"/admin/v1/invitations/{listed[0]['id']}")).status_code == 204
    events = (await api.get("/admin/v1/audit-events?limit=50")).json()["items"]
    assert "account:invitation:revoked" in [e["action"] for e in events]
    assert all("/portal/signup/" not in str(e) for e in events)
