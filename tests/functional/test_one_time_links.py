"""users.one_time_links: single-use, expiring links, kept only as hashes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import anyio
import pytest
from sqlalchemy import select

from appward.audit import AuditEvent
from appward.errors import InvalidInput
from appward.services import StandaloneResources, standalone_resources, unit_of_work
from appward.users.models import OneTimeLink
from appward.users.one_time_links import LINK_EXPIRED, LinkPurpose
from tests.factories import SETUP_ACTOR

pytestmark = pytest.mark.anyio
RESET = LinkPurpose.RESET_PASSWORD


@pytest.fixture
async def resources(settings, clock) -> AsyncIterator[StandaloneResources]:
    async with standalone_resources(settings, clock=clock) as opened:
        yield opened


async def run(resources: StandaloneResources, work: Any) -> Any:
    async with unit_of_work(resources, SETUP_ACTOR) as services:
        return await work(services)


async def new_user(resources: StandaloneResources, name: str = "alice") -> int:
    async def create(services: Any) -> int:
        return (await services.users.create(name, "correct horse battery")).id  # type: ignore[no-any-return]

    return await run(resources, create)  # type: ignore[no-any-return]


async def issue(resources: StandaloneResources, purpose: LinkPurpose, **kw: Any) -> str:
    issued = await run(resources, lambda s: s.one_time_links.issue(purpose, **kw))
    return issued.token  # type: ignore[no-any-return]


async def redeem(resources: StandaloneResources, purpose: LinkPurpose, token: str) -> Any:
    return await run(resources, lambda s: s.one_time_links.redeem(purpose, token))


async def test_a_link_works_once(resources):
    user_id = await new_user(resources)
    token = await issue(resources, RESET, user_id=user_id)
    assert (await redeem(resources, RESET, token)).user_id == user_id
    with pytest.raises(InvalidInput) as refused:
        await redeem(resources, RESET, token)
    assert refused.value.description == LINK_EXPIRED


async def test_a_link_expires(resources, clock):
    user_id = await new_user(resources)
    token = await issue(resources, RESET, user_id=user_id, lifetime=timedelta(minutes=5))
    clock.advance(5 * 60)
    assert await run(resources, lambda s: s.one_time_links.peek(RESET, token)) is None
    with pytest.raises(InvalidInput):
        await redeem(resources, RESET, token)


async def test_a_link_is_good_only_for_its_purpose(resources):
    user_id = await new_user(resources)
    token = await issue(resources, LinkPurpose.VERIFY_EMAIL, user_id=user_id)
    with pytest.raises(InvalidInput):
        await redeem(resources, RESET, token)
    assert (await redeem(resources, LinkPurpose.VERIFY_EMAIL, token)).user_id == user_id


async def test_a_new_link_replaces_the_accounts_earlier_one(resources):
    user_id = await new_user(resources)
    first = await issue(resources, RESET, user_id=user_id)
    second = await issue(resources, RESET, user_id=user_id)
    with pytest.raises(InvalidInput):
        await redeem(resources, RESET, first)
    await redeem(resources, RESET, second)


async def test_peek_does_not_use_the_link_up(resources):
    token = await issue(resources, LinkPurpose.INVITATION, email="dev@example.com")
    peeked = await run(resources, lambda s: s.one_time_links.peek(LinkPurpose.INVITATION, token))
    assert peeked.email == "dev@example.com"
    assert (await redeem(resources, LinkPurpose.INVITATION, token)).email == "dev@example.com"


@pytest.mark.parametrize("token", ["", "x", "not-a-token-at-all" * 5])
async def test_unknown_tokens_are_refused_alike(resources, token):
    with pytest.raises(InvalidInput) as refused:
        await redeem(resources, RESET, token)
    assert refused.value.description == LINK_EXPIRED


async def test_a_link_needs_an_account_or_an_address(resources):
    with pytest.raises(InvalidInput):
        await issue(resources, LinkPurpose.INVITATION)


async def test_two_concurrent_redemptions_use_the_link_once(resources):
    user_id = await new_user(resources)
    token = await issue(resources, RESET, user_id=user_id)
    outcomes: list[str] = []

    async def attempt() -> None:
        try:
            await redeem(resources, RESET, token)
            outcomes.append("used")
        except InvalidInput:
            outcomes.append("refused")

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(attempt)
        tasks.start_soon(attempt)
    assert sorted(outcomes) == ["refused", "used"]


async def test_revoking_an_accounts_links_stops_them(resources):
    user_id = await new_user(resources)
    token = await issue(resources, RESET, user_id=user_id)
    await run(resources, lambda s: s.one_time_links.revoke_for(user_id, RESET))
    with pytest.raises(InvalidInput):
        await redeem(resources, RESET, token)


async def test_the_token_is_neither_stored_nor_audited(resources):
    user_id = await new_user(resources)
    token = await issue(resources, RESET, user_id=user_id, audit_target="alice")

    async def stored(services: Any) -> str:
        links = list(await services.session.scalars(select(OneTimeLink)))
        events = list(await services.session.scalars(select(AuditEvent)))
        return repr([vars(row) for row in links + events])

    dump = await run(resources, stored)
    assert token not in dump
    assert "account:password_reset:link_issued" in dump
