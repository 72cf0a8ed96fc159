"""Security review findings: each test shows one problem found by the review."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest

from appward.clock import FrozenClock
from appward.config import Settings
from tests.functional.conftest import Api, open_api
from tests.mailbox import Mailbox, mailbox
from tests.oauth_helpers import PASSWORD, hidden_fields
from tests.portal_helpers import browser_on, create_account

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
