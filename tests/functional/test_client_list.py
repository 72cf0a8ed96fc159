"""ClientService.search, as the console's list uses it: filters, sorts, cursor pages, and
one SQL statement per page whatever the filters."""

from __future__ import annotations

import pytest
from sqlalchemy import event

from appward.clients.service import ClientFilter
from appward.errors import InvalidInput
from appward.services import standalone_resources, unit_of_work
from tests.factories import SERVICE, SETUP_ACTOR, WEB_APP, metadata

pytestmark = pytest.mark.anyio

NAMES = ["delta", "Alpha", "charlie", "bravo", "Echo", "alpha"]


@pytest.fixture
async def resources(settings, clock):
    async with standalone_resources(settings, clock=clock) as opened:
        async with unit_of_work(opened, SETUP_ACTOR) as services:
            await services.scopes.create("read", "Read")
            for i, name in enumerate(NAMES):
                base = WEB_APP if i % 2 else SERVICE
                await services.clients.create(
                    metadata(base, client_name=name, scope="read", owner=f"team-{i % 3}")
                )
        yield opened


async def search(resources, filters: ClientFilter, cursor=None, limit=50):
    async with unit_of_work(resources, SETUP_ACTOR) as services:
        page = await services.clients.search(filters, cursor=cursor, limit=limit)
        # Read what the presenter reads, inside the unit of work: no lazy load may be left.
        return [(c.client_name, c.owner, c.grant_types, c.scopes) for c in page.items], page


async def walk(resources, filters: ClientFilter, limit: int) -> list[str]:
    names, cursor = [], None
    while True:
        rows, page = await search(resources, filters, cursor, limit)
        names += [row[0] for row in rows]
        if page.next_cursor is None:
            return names
        cursor = page.next_cursor


async def test_sorts_by_name_either_way_across_pages(resources):
    ascending = await walk(resources, ClientFilter(sort="name"), limit=2)
    assert [n.lower() for n in ascending] == sorted(n.lower() for n in NAMES)
    descending = await walk(resources, ClientFilter(sort="-name"), limit=4)
    assert descending == list(reversed(ascending))


async def test_sorts_by_creation_either_way_across_pages(resources):
    assert await walk(resources, ClientFilter(), limit=4) == NAMES
    assert await walk(resources, ClientFilter(sort="-created"), limit=4) == NAMES[::-1]


async def test_filters_by_grant_type_and_owner(resources):
    rows, _ = await search(resources, ClientFilter(grant_type="client_credentials"))
    assert [r[0] for r in rows] == NAMES[::2]
    rows, _ = await search(resources, ClientFilter(grant_type="refresh_token", owner="team-1"))
    assert [(r[0], r[1]) for r in rows] == [("Alpha", "team-1")]
    rows, _ = await search(resources, ClientFilter(owner="team-"))
    assert rows == []  # the owner matches exactly


@pytest.mark.parametrize(
    "filters",
    [
        ClientFilter(),
        ClientFilter(sort="name"),
        ClientFilter(name="a", grant_type="authorization_code", owner="team-1", sort="-name"),
        ClientFilter(
            status="active", registration_source="admin", approval="approved", sort="-created"
        ),
    ],
)
async def test_each_page_is_one_sql_statement(resources, filters):
    statements: list[str] = []

    def note(_conn, _cursor, statement, *_args) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append(statement)

    event.listen(resources.engine.sync_engine, "before_cursor_execute", note)
    try:
        _, first = await search(resources, filters, limit=2)
        counted = len(statements)
        if first.next_cursor is not None:
            await search(resources, filters, cursor=first.next_cursor, limit=2)
    finally:
        event.remove(resources.engine.sync_engine, "before_cursor_execute", note)
    assert counted == 1
    assert len(statements) == (2 if first.next_cursor is not None else 1)


@pytest.mark.parametrize(
    ("filters", "field"),
    [
        (ClientFilter(sort="size"), "sort"),
        (ClientFilter(grant_type="implicit"), "grant_type"),
        (ClientFilter(approval="maybe"), "approval"),
    ],
)
async def test_bad_filters_are_refused_by_field(resources, filters, field):
    with pytest.raises(InvalidInput) as caught:
        await search(resources, filters)
    assert caught.value.fields[0].field == field


async def test_a_cursor_of_one_sort_is_refused_by_the_other(resources):
    _, by_created = await search(resources, ClientFilter(), limit=2)
    _, by_name = await search(resources, ClientFilter(sort="name"), limit=2)
    with pytest.raises(InvalidInput):
        await search(resources, ClientFilter(sort="name"), cursor=by_created.next_cursor)
    with pytest.raises(InvalidInput):
        await search(resources, ClientFilter(), cursor=by_name.next_cursor)
