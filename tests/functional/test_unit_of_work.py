"""services.unit_of_work: one transaction, committed then announced, or rolled back."""

from __future__ import annotations

import pytest

from appward.errors import NotFound
from appward.services import standalone_resources, unit_of_work
from tests.factories import SERVICE, SETUP_ACTOR

pytestmark = pytest.mark.anyio


async def test_work_is_committed_when_the_block_ends(settings, clock):
    async with standalone_resources(settings, clock=clock) as resources:
        async with unit_of_work(resources, SETUP_ACTOR) as services:
            client_id = (await services.clients.create(SERVICE)).client.client_id
        async with unit_of_work(resources, SETUP_ACTOR) as services:
            assert (await services.clients.get(client_id)).client_id == client_id


async def test_work_is_rolled_back_when_the_block_raises(settings, clock):
    async with standalone_resources(settings, clock=clock) as resources:
        created: list[str] = []

        async def create_then_fail() -> None:
            async with unit_of_work(resources, SETUP_ACTOR) as services:
                created.append((await services.clients.create(SERVICE)).client.client_id)
                raise RuntimeError("after the create")

        with pytest.raises(RuntimeError):
            await create_then_fail()
        async with unit_of_work(resources, SETUP_ACTOR) as services:
            with pytest.raises(NotFound):
                await services.clients.get(created[0])


async def test_only_a_committed_credential_change_is_announced(settings, clock):
    async with standalone_resources(settings, clock=clock) as resources:
        async with unit_of_work(resources, SETUP_ACTOR) as services:
            client_id = (await services.clients.create(SERVICE)).client.client_id

        async def set_status(status: str, *, fail: bool = False) -> None:
            async with unit_of_work(resources, SETUP_ACTOR) as services:
                await services.clients.set_status(client_id, status)
                if fail:
                    raise RuntimeError("rolled back: nothing changed")

        before = resources.epoch.read()
        await set_status("disabled")
        disabled = resources.epoch.read()
        assert disabled != before
        with pytest.raises(RuntimeError):
            await set_status("active", fail=True)
        assert resources.epoch.read() == disabled


async def test_no_session_is_opened_for_work_that_needs_none(settings, clock):
    async with standalone_resources(settings, clock=clock) as resources:
        async with unit_of_work(resources, None) as services:
            pass
        assert services.session.opened is None  # type: ignore[attr-defined]


async def test_auditing_work_needs_an_actor(settings, clock):
    async with (
        standalone_resources(settings, clock=clock) as resources,
        unit_of_work(resources, None) as services,
    ):
        with pytest.raises(RuntimeError, match="no actor"):
            services.clients  # noqa: B018 (building it is the test)
        assert services.acting_as(SETUP_ACTOR).clients.audit.actor == SETUP_ACTOR
