"""Developer sign-up on the portal (open, invite, closed), e-mail verification, and the
portal's front page (web/portal/signup.py, users/signup.py), through HTTP and the mail a
real SMTP server received."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select

from appward.clock import FrozenClock
from appward.config import Settings
from appward.services import unit_of_work
from appward.users.models import User
from appward.web.pipeline import RedactAccessLog, redacted_path
from tests.factories import SETUP_ACTOR
from tests.functional.conftest import Api, open_api
from tests.mailbox import Mailbox, mailbox
from tests.oauth_helpers import PASSWORD, hidden_fields
from tests.portal_helpers import browser_on, create_account, post_form, sign_in

pytestmark = pytest.mark.anyio

__all__ = ["mailbox"]  # the fixture, used by name below

LINK = re.compile(r"http://[^\s]+/portal/(?:verify|signup)/[A-Za-z0-9_-]+")


@pytest.fixture
async def open_portal(
    settings: Settings, clock: FrozenClock, mailbox: Mailbox
) -> AsyncIterator[Api]:
    """The app with open sign-up, mailing through the test SMTP server."""
    changed = settings.model_copy(update={"portal_signup": "open", **mailbox.settings()})
    async with open_api(changed, clock) as api:
        yield api


@pytest.fixture
async def dev_portal(settings: Settings, clock: FrozenClock) -> AsyncIterator[Api]:
    """Open sign-up in development mode without SMTP: the log mailer."""
    async with open_api(settings.model_copy(update={"portal_signup": "open"}), clock) as api:
        yield api


async def _users_with(api: Api, email: str) -> int:
    async with unit_of_work(api.app.state.appward, SETUP_ACTOR) as services:
        count = await services.session.scalar(
            select(func.count()).select_from(User).where(func.lower(User.email) == email.lower())
        )
    return int(count or 0)


def _link_in(mailbox: Mailbox, index: int = -1) -> str:
    body = mailbox.messages[index].get_content()
    found = LINK.search(body)
    assert found, body
    return found.group(0)


def _path(url: str) -> str:
    return "/" + url.split("/", 3)[3]


SIGNUP = {"username": "dora", "email": "dora@example.com", "password": PASSWORD}


async def test_open_sign_up_mails_a_link_that_verifies_the_address(open_portal, mailbox):
    api = open_portal
    async with browser_on(api) as http:
        form = await http.get("/portal/signup")
        assert form.status_code == 200
        assert 'name="email"' in form.text
        response = await post_form(http, "/portal/signup", SIGNUP, page="/portal/signup")
        assert response.status_code == 200, response.text
        assert "Check your e-mail" in response.text
        assert "dev-link" not in response.text  # a real mailer: the link only in the mail
        assert response.headers["cache-control"] == "no-store"
        [message] = mailbox.messages
        assert message["To"] == "dora@example.com"
        link = _link_in(mailbox)
        assert link.startswith(api.app.state.appward.settings.issuer.rstrip("/"))

        await sign_in(http, "dora")
        apps = await http.get("/portal/apps")
        assert 'id="verify-first"' in apps.text
        assert 'id="new-app"' not in apps.text
        refused = await http.get("/portal/apps/new")
        assert refused.status_code == 403
        assert (await post_form(http, "/portal/apps", {"client_name": "X"})).status_code == 403

        # Opening the link changes nothing (a mail scanner may); the button verifies.
        page = await http.get(_path(link))
        assert page.status_code == 200
        assert "dora@example.com" in page.text
        verified = await http.post(_path(link), data=hidden_fields(page.text))
        assert verified.status_code == 303
        assert verified.headers["location"] == "/portal/apps?done=verified"
        apps = await http.get(verified.headers["location"])
        assert 'id="new-app"' in apps.text
        assert "Your e-mail address is verified" in apps.text
        # The link worked once.
        again = await http.get(_path(link))
        assert again.status_code == 400
        assert "expired or was already used" in again.text


async def test_a_taken_address_gets_a_mail_and_the_same_answer(open_portal, mailbox):
    api = open_portal
    await create_account(api, "erin")
    async with browser_on(api) as http:
        fresh = await post_form(
            http,
            "/portal/signup",
            {"username": "fresh", "email": "fresh@example.com", "password": PASSWORD},
            page="/portal/signup",
        )
        taken = await post_form(
            http,
            "/portal/signup",
            {"username": "someone", "email": "Erin@example.com", "password": PASSWORD},
            page="/portal/signup",
        )
    assert fresh.status_code == taken.status_code == 200

    def shown(text: str) -> str:
        return re.sub(r"<strong>[^<]*</strong>|value=\"[^\"]*\"", "", text)

    assert shown(fresh.text) == shown(taken.text)
    assert await _users_with(api, "erin@example.com") == 1
    to_erin = mailbox.messages[-1]
    assert to_erin["To"].lower() == "erin@example.com"
    assert "already" in to_erin.get_content()
    assert "/portal/verify/" not in to_erin.get_content()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("email", "not-an-address", "email"),
        ("email", "", "email"),
        ("username", "bad name!", "1-100 letters"),
        ("username", "", "1-100 letters"),
        ("password", "short", "10-512 characters"),
    ],
)
async def test_bad_sign_up_fields_are_named_and_nothing_is_stored(
    open_portal,
    mailbox,
    field,
    value,
    message,
):
    async with browser_on(open_portal) as http:
        response = await post_form(
            http, "/portal/signup", {**SIGNUP, field: value}, page="/portal/signup"
        )
    assert response.status_code == 400
    assert f'id="{field}-error"' in response.text
    assert message in response.text.split(f'id="{field}-error"')[1][:300]
    assert 'aria-invalid="true"' in response.text
    if field != "username":
        assert 'value="dora"' in response.text  # the form is kept
    assert await _users_with(open_portal, "dora@example.com") == 0
    assert mailbox.messages == []


async def test_a_taken_username_is_named(open_portal, mailbox):
    await create_account(open_portal, "dora", verified=False)
    async with browser_on(open_portal) as http:
        response = await post_form(
            http,
            "/portal/signup",
            {**SIGNUP, "email": "other@example.com"},
            page="/portal/signup",
        )
    assert response.status_code == 409
    assert 'id="username-error"' in response.text
    assert await _users_with(open_portal, "other@example.com") == 0


async def test_development_shows_the_link_marked_and_logs_no_token_path(dev_portal, caplog):
    async with browser_on(dev_portal) as http:
        with caplog.at_level(logging.INFO):
            response = await post_form(http, "/portal/signup", SIGNUP, page="/portal/signup")
            assert response.status_code == 200
            assert "Development mode only" in response.text
            link = re.search(r'id="dev-link">([^<]+)<', response.text)
            assert link
            token = link.group(1).rsplit("/", 1)[1]
            # An error on the link's page is logged, with the token redacted.
            await http.post(f"/portal/verify/{token}", data={"csrf": "wrong"})
            await http.get(f"/portal/verify/{token}x")
    mailed = [r for r in caplog.records if r.name == "appward.mail"]
    assert mailed
    assert "DEVELOPMENT ONLY" in mailed[0].getMessage()
    server_lines = [r for r in caplog.records if r.name.startswith(("appward.web", "uvicorn"))]
    assert server_lines  # the refusals were logged...
    assert all(token not in r.getMessage() for r in server_lines)  # ...without the token


def test_the_access_log_never_shows_a_link_token():
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/portal/verify/s3cret-token?x=1", "1.1", 200),
        None,
    )
    assert RedactAccessLog().filter(record)
    assert "s3cret" not in record.getMessage()
    assert "/portal/verify/[redacted]" in record.getMessage()
    assert redacted_path("/portal/signup/abc") == "/portal/signup/[redacted]"
    assert redacted_path("/portal/signup") == "/portal/signup"
    assert redacted_path("/portal/apps/abc") == "/portal/apps/abc"


async def test_without_a_mailer_sign_up_is_unavailable_and_stores_nothing(dev_portal):
    """Production without SMTP has no mailer (mail.mailer_for): the page says so (503),
    shows no link, and the account it would have made is rolled back."""
    dev_portal.app.state.appward.mailer = None
    async with browser_on(dev_portal) as http:
        response = await post_form(http, "/portal/signup", SIGNUP, page="/portal/signup")
    assert response.status_code == 503
    assert "cannot send mail" in response.text
    assert "dev-link" not in response.text
    assert await _users_with(dev_portal, "dora@example.com") == 0


async def test_sign_up_is_throttled(open_portal, mailbox):
    limit = open_portal.app.state.appward.settings.login_failures_per_address
    async with browser_on(open_portal) as http:
        for n in range(limit):
            await post_form(
                http,
                "/portal/signup",
                {**SIGNUP, "username": f"u{n}", "email": f"u{n}@example.com"},
                page="/portal/signup",
            )
        refused = await post_form(
            http,
            "/portal/signup",
            {**SIGNUP, "username": "last", "email": "last@example.com"},
            page="/portal/signup",
        )
    assert refused.status_code == 429
    assert "retry-after" in refused.headers
    assert await _users_with(open_portal, "last@example.com") == 0


async def test_invite_mode_needs_an_invitation_and_closed_mode_says_so(settings, clock):
    for mode, marker in (("invite", "signup-invite-only"), ("closed", "signup-closed")):
        changed = settings.model_copy(update={"portal_signup": mode})
        async with open_api(changed, clock) as api, browser_on(api) as http:
            page = await http.get("/portal/signup")
            assert page.status_code == 200
            assert f'id="{marker}"' in page.text
            assert 'name="password"' not in page.text
            refused = await post_form(http, "/portal/signup", SIGNUP, page="/login")
            assert refused.status_code == 403
            assert await _users_with(api, "dora@example.com") == 0


@pytest.fixture
async def invite_portal(
    settings: Settings, clock: FrozenClock, mailbox: Mailbox
) -> AsyncIterator[Api]:
    changed = settings.model_copy(update={"portal_signup": "invite", **mailbox.settings()})
    async with open_api(changed, clock) as api:
        yield api


async def test_an_invitation_opens_the_form_with_the_address_fixed_once(invite_portal, mailbox):
    api = invite_portal
    invited = await api.post("/admin/v1/invitations", {"email": "ivy@example.com"})
    assert invited.status_code == 201, invited.text
    assert "invitation_url" not in invited.json()  # mailed, not shown
    link = _link_in(mailbox)
    async with browser_on(api) as http:
        form = await http.get(_path(link))
        assert form.status_code == 200
        assert 'id="invited-email"' in form.text
        assert "ivy@example.com" in form.text
        assert 'name="email"' not in form.text
        # An e-mail field smuggled into the post is ignored: the invitation's address wins.
        data = {
            **hidden_fields(form.text),
            "username": "ivy",
            "password": PASSWORD,
            "email": "mallory@example.com",
        }
        response = await http.post(_path(link), data=data)
        assert response.status_code == 303
        assert response.headers["location"] == "/portal/apps?done=welcome"
        apps = await http.get("/portal/apps?done=welcome")
        assert 'id="new-app"' in apps.text  # verified by the invitation
        again = await http.get(_path(link))
        assert again.status_code == 400
    user = (await api.get("/admin/v1/users")).json()["items"][-1]
    assert (user["username"], user["email"], user["email_verified"], user["role"]) == (
        "ivy",
        "ivy@example.com",
        True,
        "developer",
    )


async def test_an_expired_invitation_does_not_open(invite_portal, mailbox, clock):
    await invite_portal.post("/admin/v1/invitations", {"email": "late@example.com"})
    link = _link_in(mailbox)
    clock.advance(8 * 86400)
    async with browser_on(invite_portal) as http:
        page = await http.get(_path(link))
        assert page.status_code == 400
        assert 'name="password"' not in page.text


async def test_an_unknown_link_is_refused_without_a_500(invite_portal):
    async with browser_on(invite_portal) as http:
        for path in ("/portal/signup/nope", "/portal/verify/nope", "/portal/signup/%00%ff"):
            response = await http.get(path)
            assert response.status_code == 400, path
            assert "text/html" in response.headers["content-type"]


async def test_the_portal_front_page_by_caller(invite_portal):
    api = invite_portal
    async with browser_on(api) as http:
        anonymous = await http.get("/portal")
        assert anonymous.status_code == 200
        assert 'id="portal-sign-in"' in anonymous.text
        assert "by invitation" in anonymous.text
    await create_account(api, "dev")
    async with browser_on(api) as http:
        await sign_in(http, "dev")
        response = await http.get("/portal")
        assert response.status_code == 303
        assert response.headers["location"] == "/portal/apps"
    for role, says in ((None, "not a developer account"), ("admin", "administrator")):
        name = f"who-{role}"
        await create_account(api, name, role)
        async with browser_on(api) as http:
            await sign_in(http, name)
            response = await http.get("/portal")
            assert response.status_code == 200
            assert says in response.text


async def test_an_unverified_developer_can_ask_for_the_link_again(open_portal, mailbox):
    await create_account(open_portal, "una", verified=False)
    async with browser_on(open_portal) as http:
        await sign_in(http, "una")
        response = await post_form(http, "/portal/verify")
        assert response.status_code == 200
        assert "Check your e-mail" in response.text
    assert mailbox.messages[-1]["To"] == "una@example.com"
    assert "/portal/verify/" in _link_in(mailbox)


async def test_asking_for_a_link_with_nothing_to_verify_is_a_page(open_portal):
    await create_account(open_portal, "val")  # verified already
    async with browser_on(open_portal) as http:
        await sign_in(http, "val")
        response = await post_form(http, "/portal/verify")
    assert response.status_code == 400
    assert "text/html" in response.headers["content-type"]
    assert "no address waiting to be verified" in response.text
