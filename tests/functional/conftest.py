"""Fixtures for tests through HTTP: the app on a real database, an admin and its token."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import pytest
import redis.asyncio as aioredis
from fastapi import FastAPI

from appward.clock import FrozenClock
from appward.config import Settings
from appward.services import unit_of_work
from appward.web.app import create_app
from tests.factories import SETUP_ACTOR, basic


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
async def open_api(settings: Settings, clock: FrozenClock) -> AsyncIterator[Api]:
    """The app on ``settings``, started, with an admin and its token."""
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


REDIS_URL = os.environ.get("APPWARD_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


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
