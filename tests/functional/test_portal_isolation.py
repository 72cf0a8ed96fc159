"""Isolation on the portal: a developer reaches only the apps they own or co-own. Every
route that names an app, read from the portal's routers (a new route is covered without
anyone adding it here), for every kind of caller: the owner, a viewer (refused every
change), another developer and an unknown id (the same 404), an admin and an end user
without the developer role (403), and an anonymous visitor (sent to sign in)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass

import httpx
import pytest
from fastapi.routing import APIRoute

from appward.web import portal
from tests.functional.conftest import Api, audit_trail
from tests.oauth_helpers import hidden_fields
from tests.portal_helpers import browser_on, create_account, csrf, post_form, register_app, sign_in

pytestmark = pytest.mark.anyio

PORTAL_ROUTES = sorted(
    (method, portal.PREFIX + route.path)
    for part in portal.PARTS
    for route in part.router.routes
    if isinstance(route, APIRoute)
    for method in route.methods
)
APP_ROUTES = [(method, path) for method, path in PORTAL_ROUTES if "{client_id}" in path]
# The pages for visitors (tested in test_portal_signup.py), and /portal, which tells
# every caller what they can do.
VISITOR_PATHS = ("/portal/signup", "/portal/signup/{token}", "/portal/verify/{token}")
OTHER_ROUTES = [
    (method, path)
    for method, path in PORTAL_ROUTES
    if "{client_id}" not in path and path not in VISITOR_PATHS
]


def test_every_app_route_is_in_the_matrix():
    assert len(APP_ROUTES) >= 12
    assert ("POST", "/portal/apps/{client_id}/secrets/{secret_id}/revoke") in APP_ROUTES


@dataclass
class World:
    api: Api
    client_id: str
    secret_id: str
    owner_id: str
    viewer_id: str
    browsers: dict[str, httpx.AsyncClient]

    def url(self, path: str, client_id: str | None = None) -> str:
        return path.format(
            client_id=client_id or self.client_id,
            secret_id=self.secret_id,
            public_id=self.viewer_id,
        )

    async def snapshot(self) -> tuple[object, ...]:
        api = self.api
        return (
            (await api.get(f"/admin/v1/clients/{self.client_id}")).json(),
            (await api.get(f"/admin/v1/clients/{self.client_id}/secrets")).json(),
            (await api.get(f"/admin/v1/clients/{self.client_id}/owners")).json(),
            await audit_trail(api),
        )


@pytest.fixture
async def world(api: Api) -> AsyncIterator[World]:
    owner = await create_account(api, "olga")
    viewer = await create_account(api, "vera")
    await create_account(api, "otto")
    await create_account(api, "adam", "admin")
    await create_account(api, "eve", None)
    async with AsyncExitStack() as stack:
        browsers = {}
        for caller, username in (
            ("owner", "olga"),
            ("viewer", "vera"),
            ("other developer", "otto"),
            ("admin", "adam"),
            ("end user", "eve"),
            ("anonymous", None),
        ):
            http = await stack.enter_async_context(browser_on(api))
            if username:
                await sign_in(http, username)
            browsers[caller] = http
        client_id, _ = await register_app(browsers["owner"])
        added = await post_form(
            browsers["owner"],
            f"/portal/apps/{client_id}/owners",
            {"email": "vera@example.com", "role": "viewer"},
        )
        assert added.status_code == 303, added.text
        await register_app(browsers["other developer"], client_name="Otto's own")
        secrets = (await api.get(f"/admin/v1/clients/{client_id}/secrets")).json()["items"]
        yield World(api, client_id, secrets[0]["id"], owner["id"], viewer["id"], browsers)


async def _request(http: httpx.AsyncClient, method: str, url: str) -> httpx.Response:
    if method == "GET":
        return await http.get(url)
    return await http.post(url, data={"csrf": await csrf(http, "/login")})


@pytest.mark.parametrize(("method", "path"), APP_ROUTES)
async def test_another_developer_gets_the_404_of_an_unknown_app(world, method, path):
    http = world.browsers["other developer"]
    before = await world.snapshot()
    theirs = await _request(http, method, world.url(path))
    unknown = await _request(http, method, world.url(path, client_id="NoSuchApp000000000000000"))
    assert theirs.status_code == unknown.status_code == 404
    assert "text/html" in theirs.headers["content-type"]
    assert "Weather Widget" not in theirs.text
    assert _body(theirs.text) == _body(unknown.text)
    assert await world.snapshot() == before


def _body(html: str) -> str:
    return html.split("<main", 1)[1]


@pytest.mark.parametrize(("method", "path"), APP_ROUTES)
async def test_a_viewer_sees_but_changes_nothing(world, method, path):
    http = world.browsers["viewer"]
    before = await world.snapshot()
    response = await _request(http, method, world.url(path))
    readable = method == "GET" and path.endswith(("{client_id}", "/owners"))
    assert response.status_code == (200 if readable else 403), (method, path)
    assert await world.snapshot() == before


@pytest.mark.parametrize(
    ("caller", "status"), [("admin", 403), ("end user", 403), ("anonymous", 303)]
)
async def test_callers_without_the_developer_role_are_refused_everywhere(world, caller, status):
    http = world.browsers[caller]
    before = await world.snapshot()
    for method, path in [*APP_ROUTES, *OTHER_ROUTES]:
        url = world.url(path)
        response = await _request(http, method, url)
        assert response.status_code == status, (caller, method, path, response.text[:200])
        if status == 303:
            assert response.headers["location"].startswith("/login?next=")
        else:
            assert "developer" in response.text
    assert await world.snapshot() == before


@pytest.mark.parametrize(("method", "path"), APP_ROUTES)
async def test_the_owner_reaches_every_route(world, method, path):
    http = world.browsers["owner"]
    response = await _request(http, method, world.url(path))
    # An empty form is refused by the rule it breaks, never by who is asking.
    assert response.status_code not in (403, 404, 500), (method, path, response.text[:300])


async def test_the_lists_show_only_ones_own_apps(world):
    otto = (await world.browsers["other developer"].get("/portal/apps")).text
    assert "Otto&#39;s own" in otto
    assert world.client_id not in otto
    vera = (await world.browsers["viewer"].get("/portal/apps")).text
    assert world.client_id in vera
    assert "Otto" not in vera


async def test_a_viewer_never_sees_a_secret(world):
    http = world.browsers["viewer"]
    seen = ""
    for path in ("/portal/apps", "/portal/apps/{client_id}", "/portal/apps/{client_id}/owners"):
        response = await http.get(world.url(path))
        assert response.status_code == 200
        seen += response.text
    assert world.secret_id not in seen
    assert 'id="app-secrets"' not in seen
    assert 'id="viewer-note"' in seen
    assert "/secrets" not in seen
    # The forms of an owner are not offered either.
    assert 'id="add-owner"' not in seen
    assert 'id="edit-app"' not in seen
    assert hidden_fields(seen).get("revision") is None


@pytest.mark.parametrize(
    "client_id", ["%00", "%C3%28", "a" * 5000, "..%2F..%2Fconsole", "<script>"]
)
async def test_a_malformed_app_id_is_refused_without_a_500(world, client_id):
    http = world.browsers["owner"]
    for method, path in APP_ROUTES:
        url = path.format(client_id=client_id, secret_id="%00", public_id="%00")
        response = await _request(http, method, url)
        assert response.status_code in (400, 404), (method, url, response.status_code)
