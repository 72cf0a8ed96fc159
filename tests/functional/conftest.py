"""Fixtures for tests through HTTP: the app on a real database, an admin and its token."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
import redis.asyncio as aioredis
from fastapi import FastAPI
from fastapi.routing import APIRoute

from appward.clock import Clock, FrozenClock
from appward.config import Settings
from appward.services import unit_of_work
from appward.web import admin
from appward.web.app import create_app
from tests.factories import SERVICE, SETUP_ACTOR, WEB_APP, basic


@dataclass
class Api:
    """An HTTP client on the app, holding an admin token for /admin/v1."""

    http: httpx.AsyncClient
    app: FastAPI
    admin_id: str
    admin_secret: str
    admin_token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_token}"}

    async def get(self, url: str, **kw: object) -> httpx.Response:
        return await self.http.get(url, headers=self.auth, **kw)  # type: ignore[arg-type]

    async def post(self, url: str, json: object = None, **kw: object) -> httpx.Response:
        return await self.http.post(url, json=json, headers=self.auth, **kw)  # type: ignore[arg-type]

    async def patch(self, url: str, json: object, if_match: str | None = None) -> httpx.Response:
        headers = dict(self.auth)
        if if_match is not None:
            headers["If-Match"] = if_match
        return await self.http.patch(url, json=json, headers=headers)

    async def delete(self, url: str) -> httpx.Response:
        return await self.http.delete(url, headers=self.auth)

    async def client_credentials(self, client_id: str, secret: str, **form: str) -> httpx.Response:
        return await self.http.post(
            "/oauth2/token",
            data={"grant_type": "client_credentials", **form},
            headers=basic(client_id, secret),
        )


async def create_admin(app: FastAPI) -> tuple[str, str]:
    """Returns the id and secret of a new admin client, made through the app's services."""
    async with unit_of_work(app.state.appward, SETUP_ACTOR) as services:
        change = await services.clients.create(
            {
                "client_name": "admin",
                "grant_types": ["client_credentials"],
                "scope": "appward:admin",
            }
        )
    assert change.secret is not None
    return change.client.client_id, change.secret.plaintext


@pytest.fixture
async def api(settings: Settings, clock: FrozenClock) -> AsyncIterator[Api]:
    async with open_api(settings, clock) as opened:
        yield opened


@asynccontextmanager
async def open_api(settings: Settings, clock: Clock | None) -> AsyncIterator[Api]:
    """The app on ``settings``, started, with an admin and its token. ``clock``: a
    FrozenClock usually; None for the system clock (tests whose timeouts are real)."""
    app = create_app(settings, clock=clock)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.9", 4711))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            admin_id, admin_secret = await create_admin(app)
            response = await http.post(
                "/oauth2/token",
                data={"grant_type": "client_credentials"},
                headers=basic(admin_id, admin_secret),
            )
            assert response.status_code == 200, response.text
            yield Api(http, app, admin_id, admin_secret, response.json()["access_token"])


# Every (method, path) of the admin API, read from the routers it assembles: a new route
# is covered by the tests that take this list without anyone adding it here.
ADMIN_ROUTES = sorted(
    (method, admin.PREFIX + route.path)
    for resource in admin.RESOURCES
    for route in resource.router.routes
    if isinstance(route, APIRoute)
    for method in route.methods
)


@dataclass(frozen=True)
class AdminTargets:
    """One of each admin resource, for requests that must leave them as they are."""

    client_id: str
    secret_id: str
    name: str
    token_id: str
    public_id: str
    invitation_id: str = "1"

    def url(self, path: str) -> str:
        return path.format(
            client_id=self.client_id,
            secret_id=self.secret_id,
            name=self.name,
            token_id=self.token_id,
            public_id=self.public_id,
            invitation_id=self.invitation_id,
        )


async def create_admin_targets(api: Api) -> AdminTargets:
    client = (await api.post("/admin/v1/clients", WEB_APP)).json()
    secrets = (await api.get(f"/admin/v1/clients/{client['client_id']}/secrets")).json()
    scope = await api.post("/admin/v1/scopes", {"name": "targets:read", "description": "Read"})
    assert scope.status_code == 201, scope.text
    token = await api.post("/admin/v1/initial-access-tokens", {})
    assert token.status_code == 201, token.text
    user = await api.post(
        "/admin/v1/users", {"username": "targets-user", "password": "long enough pw"}
    )
    assert user.status_code == 201, user.text
    return AdminTargets(
        client["client_id"],
        secrets["items"][0]["id"],
        "targets:read",
        token.json()["id"],
        user.json()["id"],
    )


async def admin_request(api: Api, method: str, url: str, headers: dict[str, str]) -> httpx.Response:
    """The request a caller would send to ``url``: a JSON object body where one is read."""
    body = {"json": {}} if method in ("POST", "PATCH", "PUT") else {}
    return await api.http.request(method, url, headers={**headers, "If-Match": "*"}, **body)  # type: ignore[arg-type]


async def non_admin_token(api: Api) -> str:
    """A client_credentials token of a client not allowed the admin scope."""
    created = (await api.post("/admin/v1/clients", SERVICE)).json()
    token = await api.client_credentials(created["client_id"], created["client_secret"])
    assert token.status_code == 200, token.text
    return str(token.json()["access_token"])


async def audit_trail(api: Api) -> list[int]:
    """The ids of every audit event: each change the admin API makes adds one."""
    events = (await api.get("/admin/v1/audit-events?limit=200")).json()["items"]
    return [event["id"] for event in events]


def worker_redis_url(base: str, worker: str | None) -> str:
    """The test Redis database of this pytest process: ``base``'s own in a serial run;
    under pytest-xdist, worker gwN takes database base+N, so that workers never see each
    other's keys (CI's /0 gives /0 and /1). Pub/sub channels span databases: a test must
    not assume it alone publishes."""
    if not worker:
        return base
    parts = urlsplit(base)
    first = int(parts.path.strip("/") or 0)
    database = first + int(worker.removeprefix("gw"))
    return urlunsplit(parts._replace(path=f"/{database}"))


REDIS_URL = worker_redis_url(
    os.environ.get("APPWARD_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"),
    os.environ.get("PYTEST_XDIST_WORKER"),
)


@pytest.fixture
async def redis_url() -> str:
    client = aioredis.from_url(REDIS_URL)
    try:
        await client.ping()
    except Exception as exc:  # noqa: BLE001 (any failure to reach Redis)
        if os.environ.get("APPWARD_REQUIRE_REDIS") == "1":
            pytest.fail(f"Redis is required but unreachable: {exc}")
        pytest.skip(f"Redis unreachable at {REDIS_URL}: {exc}")
    finally:
        await client.aclose()
    return REDIS_URL
