"""Review finding: the last-owner rule under a race (clients/ownership.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import pytest

from appward.clients.ownership import OwnerRole
from appward.errors import AppwardError
from appward.services import StandaloneResources, standalone_resources, unit_of_work
from appward.users.models import Role
from tests.factories import SETUP_ACTOR, WEB_APP

pytestmark = pytest.mark.anyio


@pytest.fixture
async def resources(settings, clock) -> AsyncIterator[StandaloneResources]:
    async with standalone_resources(settings, clock=clock) as opened:
        yield opened


async def _setup(resources: StandaloneResources) -> str:
    async with unit_of_work(resources, SETUP_ACTOR) as services:
        users = []
        for name in ("olga", "omar"):
            user = await services.users.create(
                name, "correct horse battery", role=Role.DEVELOPER, email=f"{name}@example.com"
            )
            users.append(await services.users.update(user, email_verified=True))
        change = await services.clients.create(WEB_APP, registration_source="portal")
        await services.ownership.add_creator(change.client, users[0])
        await services.ownership.set_role(change.client, users[1], OwnerRole.OWNER)
        return change.client.client_id


async def test_two_owners_removing_each_other_at_once_leave_an_owner(resources):
    client_id = await _setup(resources)
    both_checked = anyio.Event()
    checked = 0
    outcomes: list[str] = []

    async def remove(acting: str, removed: str) -> None:
        nonlocal checked
        try:
            async with unit_of_work(resources, SETUP_ACTOR) as services:
                me = await services.users.by_username(acting)
                other = await services.users.by_username(removed)
                client = await services.ownership.owned_client(me, client_id)
                await services.ownership.remove(client, other)
                checked += 1
                if checked == 2:
                    both_checked.set()
                with anyio.move_on_after(3):
                    await both_checked.wait()
            outcomes.append("removed")
        except AppwardError:
            outcomes.append("refused")

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(remove, "olga", "omar")
        tasks.start_soon(remove, "omar", "olga")
    async with unit_of_work(resources, SETUP_ACTOR) as services:
        client = await services.clients.get(client_id)
        owners = await services.ownership.owners(client)
    assert owners, f"the app has no owner left: {outcomes}"
    assert sorted(outcomes) == ["refused", "removed"]
