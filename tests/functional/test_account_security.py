"""users.account_security: password changes and resets, and second-factor resets, as the
domain service (the pages, the admin API and the CLI all call it)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pyotp
import pytest

from appward.errors import InvalidInput
from appward.services import StandaloneResources, standalone_resources, unit_of_work
from appward.users.account_security import reset_mail, reset_url
from appward.users.one_time_links import LINK_EXPIRED
from tests.factories import SETUP_ACTOR

pytestmark = pytest.mark.anyio
PASSWORD = "correct horse battery"
NEW = "a brand new passphrase"


@pytest.fixture
async def resources(settings, clock) -> AsyncIterator[StandaloneResources]:
    async with standalone_resources(settings, clock=clock) as opened:
        yield opened


async def run(resources: StandaloneResources, work: Any) -> Any:
    async with unit_of_work(resources, SETUP_ACTOR) as services:
        return await work(services)


async def new_user(resources, name: str = "alice", email: str | None = None) -> None:
    async def create(services):
        await services.users.create(name, PASSWORD, email=email)

    await run(resources, create)


async def test_a_temporary_password_sets_the_flag_and_a_change_clears_it(resources):
    await new_user(resources)

    async def temporary(services):
        user = await services.users.by_username("alice")
        password = await services.account_security.set_temporary_password(user)
        return password, user.password_change_required

    password, flagged = await run(resources, temporary)
    assert flagged is True
    assert len(password) >= 16

    async def change(services):
        user = await services.users.by_username("alice")
        await services.account_security.change_password(user, password, NEW, NEW)
        return user.password_change_required

    assert await run(resources, change) is False

    async def check(services):
        return await services.users.authenticate("alice", NEW)

    assert await run(resources, check) is not None


async def test_a_password_change_reports_every_wrong_field_at_once(resources):
    await new_user(resources)

    async def change(services):
        user = await services.users.by_username("alice")
        await services.account_security.change_password(user, "wrong", "short", "other")

    with pytest.raises(InvalidInput) as raised:
        await run(resources, change)
    assert [f.field for f in raised.value.fields] == [
        "current_password",
        "new_password",
        "repeat_password",
    ]
    assert "wrong" not in str(raised.value)
    assert "short" not in str(raised.value)


async def test_a_password_change_makes_earlier_reset_links_stop_working(resources):
    await new_user(resources)

    async def issue(services):
        user = await services.users.by_username("alice")
        link = await services.account_security.issue_reset_link(user)
        await services.account_security.change_password(user, PASSWORD, NEW, NEW)
        return link.token

    token = await run(resources, issue)

    async def redeem(services):
        await services.account_security.redeem_reset(token, "another new one!", "another new one!")

    with pytest.raises(InvalidInput, match=LINK_EXPIRED):
        await run(resources, redeem)


async def test_no_reset_for_a_disabled_account_or_one_without_an_address(resources):
    await new_user(resources, "bob", email="bob@example.com")
    await new_user(resources, "carol")

    async def disable_and_ask(services):
        bob = await services.users.by_username("bob")
        link = await services.account_security.issue_reset_link(bob)
        await services.users.disable(bob)
        security = services.account_security
        return (
            await security.request_reset("bob"),
            await security.request_reset("bob@example.com"),
            await security.request_reset("carol"),
            await security.account_of_link(link.token),
            link.token,
        )

    by_name, by_email, no_address, linked, token = await run(resources, disable_and_ask)
    assert (by_name, by_email, no_address, linked) == (None, None, None, None)

    async def redeem(services):
        await services.account_security.redeem_reset(token, NEW, NEW)

    with pytest.raises(InvalidInput, match=LINK_EXPIRED):
        await run(resources, redeem)


async def test_the_reset_mail_carries_the_link_in_its_body_only(resources):
    await new_user(resources, "dora", email="dora@example.com")

    async def mail(services):
        user = await services.users.by_username("dora")
        found = await services.account_security.request_reset("DORA@example.com")
        assert found is not None
        assert found[0].id == user.id
        url = reset_url("https://id.example/", found[1].token)
        return reset_mail(user, url, "Example ID"), found[1].token

    message, token = await run(resources, mail)
    assert message.to == "dora@example.com"
    assert token not in message.subject
    assert f"https://id.example/password-reset/{token}" in message.text
    assert "30 minutes" in message.text


async def test_resetting_the_second_factor_reports_whether_there_was_one(resources, clock):
    await new_user(resources, "eve")

    async def reset(services):
        user = await services.users.by_username("eve")
        return await services.account_security.reset_second_factor(user)

    assert await run(resources, reset) is False

    async def enrol(services):
        user = await services.users.by_username("eve")
        started = await services.totp.start_enrolment(user)
        await services.totp.confirm_enrolment(user, pyotp.TOTP(started.seed).at(clock.now()))

    await run(resources, enrol)
    assert await run(resources, reset) is True

    async def enrolled(services):
        return await services.totp.is_enrolled(await services.users.by_username("eve"))

    assert await run(resources, enrolled) is False
