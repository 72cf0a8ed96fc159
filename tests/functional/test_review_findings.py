"""Security review findings: each test shows one problem found by the review."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pyotp
import pytest

from appward.clock import FrozenClock
from appward.config import Settings
from appward.web.pipeline import redacted_path
from tests.functional.conftest import Api, open_api
from tests.mailbox import Mailbox, mailbox
from tests.oauth_helpers import PASSWORD, hidden_fields
from tests.portal_helpers import browser_on, create_account, sign_in

pytestmark = pytest.mark.anyio

__all__ = ["mailbox"]

LINK = re.compile(r"http://[^\s]+/portal/(?:verify|signup)/[A-Za-z0-9_-]+")


def _path(url: str) -> str:
    return "/" + url.split("/", 3)[3]


@pytest.fixture
async def open_portal(
    settings: Settings, clock: FrozenClock, mailbox: Mailbox
) -> AsyncIterator[Api]:
    changed = settings.model_copy(update={"portal_signup": "open", **mailbox.settings()})
    async with open_api(changed, clock) as api:
        yield api


@pytest.fixture
async def invite_portal(
    settings: Settings, clock: FrozenClock, mailbox: Mailbox
) -> AsyncIterator[Api]:
    changed = settings.model_copy(update={"portal_signup": "invite", **mailbox.settings()})
    async with open_api(changed, clock) as api:
        yield api


async def test_open_sign_up_does_not_tell_whether_an_address_has_an_account(open_portal):
    """A taken username combined with an address: the answer must not depend on whether
    the address has an account (it does: 'check your mail' vs 'username taken')."""
    await create_account(open_portal, "olga")  # olga@example.com has an account
    answers = []
    async with browser_on(open_portal) as http:
        for email in ("olga@example.com", "nobody@example.com"):
            form = await http.get("/portal/signup")
            response = await http.post(
                "/portal/signup",
                data={
                    **hidden_fields(form.text),
                    "username": "olga",  # taken
                    "email": email,
                    "password": PASSWORD,
                },
            )
            answers.append(response.status_code)
    assert answers[0] == answers[1], answers


async def test_an_invitation_survives_a_taken_username(invite_portal, mailbox):
    """An invited sign-up refused for a taken username must not use the invitation up."""
    api = invite_portal
    await create_account(api, "ivy")
    invited = await api.post("/admin/v1/invitations", {"email": "ivy2@example.com"})
    assert invited.status_code == 201, invited.text
    link = _path(LINK.search(mailbox.messages[-1].get_content()).group(0))
    async with browser_on(api) as http:
        form = await http.get(link)
        data = {**hidden_fields(form.text), "username": "ivy", "password": PASSWORD}
        refused = await http.post(link, data=data)
        assert refused.status_code == 409
        again = await http.get(link)
        assert again.status_code == 200, "the refused form used the invitation up"


@pytest.fixture
async def strict_api(settings: Settings, clock: FrozenClock) -> AsyncIterator[Api]:
    async with open_api(settings.model_copy(update={"console_require_2fa": True}), clock) as api:
        yield api


async def test_a_password_only_session_does_not_reach_the_console_after_enrolment(
    strict_api, clock
):
    """A session started with the password alone (before the admin enrolled a second
    factor, e.g. a phished password) must not pass the console's 2FA requirement once
    the admin enrols in another browser: it never presented a code."""
    api = strict_api
    await create_account(api, "ada", "admin")
    async with browser_on(api) as attacker, browser_on(api) as admin:
        await sign_in(attacker, "ada")  # password only: no factor yet
        refused = await attacker.get("/console/clients")
        assert refused.status_code == 303
        assert refused.headers["location"].startswith("/account/two-factor")
        await sign_in(admin, "ada")
        page = await admin.get("/account/two-factor?next=/console")
        started = await admin.post("/account/two-factor/start", data=hidden_fields(page.text))
        pending = await admin.get(started.headers["location"])
        seed = re.search(r'<code id="totp-seed">([A-Z2-7 ]+)</code>', pending.text)
        code = pyotp.TOTP(seed.group(1).replace(" ", "")).at(clock.now())
        confirmed = await admin.post(
            "/account/two-factor/confirm",
            data={**hidden_fields(pending.text), "password": PASSWORD, "code": code},
        )
        assert confirmed.status_code == 200
        # The enrolling browser goes on to the console; the password-only one does not.
        assert (await admin.get("/console/clients")).status_code == 200
        later = await attacker.get("/console/clients")
        assert later.status_code == 303, "a password-only session reaches the console"
        assert later.headers["location"].startswith("/login")


async def test_a_verification_link_dies_when_the_address_changes(open_portal, mailbox):
    """The link mailed to the old address must not verify the new one."""
    api = open_portal
    async with browser_on(api) as http:
        form = await http.get("/portal/signup")
        data = {
            **hidden_fields(form.text),
            "username": "dora",
            "email": "dora@example.com",
            "password": PASSWORD,
        }
        assert (await http.post("/portal/signup", data=data)).status_code == 200
        link = _path(LINK.search(mailbox.messages[-1].get_content()).group(0))
        user = (await api.get("/admin/v1/users")).json()["items"][-1]
        changed = await api.patch(f"/admin/v1/users/{user['id']}", {"email": "new@example.com"})
        assert changed.status_code == 200, changed.text
        page = await http.get(link)
        posted = await http.post(link, data=hidden_fields(page.text))
        assert posted.status_code == 400, "the old address's link verified the new address"
    user = (await api.get(f"/admin/v1/users/{user['id']}")).json()
    assert user["email_verified"] is False


async def test_a_reset_link_dies_when_the_address_changes(open_portal, mailbox):
    """A reset link mailed to the old address (say, a mailbox the owner lost) must stop
    working once an admin gives the account a new address."""
    api = open_portal
    await create_account(api, "olga")
    async with browser_on(api) as http:
        form = await http.get("/password-reset")
        sent = await http.post(
            "/password-reset", data={**hidden_fields(form.text), "identifier": "olga"}
        )
        assert sent.status_code == 303
        body = mailbox.messages[-1].get_content()
        link = _path(re.search(r"http://\S+/password-reset/[A-Za-z0-9_-]+", body).group(0))
        user = (await api.get("/admin/v1/users")).json()["items"][-1]
        changed = await api.patch(f"/admin/v1/users/{user['id']}", {"email": "new@example.com"})
        assert changed.status_code == 200, changed.text
        page = await http.get(link)
        assert page.status_code == 404, "the old address's reset link still works"


@pytest.mark.parametrize(
    "path",
    [
        "/auth/password-reset/SECRETTOKEN",
        "/auth/portal/verify/SECRETTOKEN?x=1",
        "/idp/v1/portal/signup/SECRETTOKEN",
    ],
)
def test_a_deployment_under_a_path_prefix_still_redacts_link_tokens(path):
    """A deployment under a mount point (fastpath.route_path: /auth/...) logs the root
    path too: the token must still be redacted, from the access log and the pipeline."""
    assert "SECRETTOKEN" not in redacted_path(path)
    assert redacted_path(path).startswith(path.split("/")[1].join("//"))


async def test_a_verified_app_renamed_by_its_developer_is_no_longer_verified(api):
    """An administrator vouched for the app as it was: a developer who then changes what
    users see of it (name, logo, site, redirect URIs) must not keep the badge."""
    from tests.portal_helpers import register_app

    await create_account(api, "olga")
    async with browser_on(api) as http:
        await sign_in(http, "olga")
        client_id, _ = await register_app(http)
        assert (await api.post(f"/admin/v1/clients/{client_id}/verify")).status_code == 200
        form = await http.get(f"/portal/apps/{client_id}/edit")
        data = {
            **hidden_fields(form.text),
            "client_name": "Appward Account Security",
            "redirect_uris": "https://phish.example/cb",
        }
        edited = await http.post(f"/portal/apps/{client_id}/edit", data=data)
        assert edited.status_code == 303, edited.text
    client = (await api.get(f"/admin/v1/clients/{client_id}")).json()
    assert "Appward Account Security" in str(client)
    assert client["verified"] is False, "the renamed app keeps the administrator's badge"
