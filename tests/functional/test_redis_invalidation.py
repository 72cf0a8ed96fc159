"""Across hosts, the credential cache hears of changes through Redis."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import redis.asyncio as aioredis

from appward.config import Settings
from appward.services import redis_client_name
from appward.web.app import create_app
from tests.factories import SERVICE, basic
from tests.functional.conftest import create_admin, open_api

pytestmark = pytest.mark.anyio


def host(settings: Settings, tmp_path, name: str, redis_url: str | None) -> Settings:
    """The same database seen from another host: its own data dir (so its own epoch file)."""
    return settings.model_copy(update={"data_dir": tmp_path / name, "redis_url": redis_url})


async def test_a_revocation_on_one_host_reaches_the_others_cache(
    settings, clock, tmp_path, redis_url
):
    hosts = {
        "a": host(settings, tmp_path, "a", redis_url),
        "b": host(settings, tmp_path, "b", redis_url),
        "lone": host(settings, tmp_path, "lone", None),  # no Redis: only its own TTL
    }
    async with AsyncExitStack() as stack:
        http = {}
        for name, host_settings in hosts.items():
            app = create_app(host_settings, clock=clock)
            await stack.enter_async_context(app.router.lifespan_context(app))
            http[name] = await stack.enter_async_context(
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://h")
            )
            if name == "b":
                admin_id, admin_secret = await create_admin(app)
        token = (
            await http["b"].post(
                "/oauth2/token",
                data={"grant_type": "client_credentials"},
                headers=basic(admin_id, admin_secret),
            )
        ).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        client = (await http["b"].post("/admin/v1/clients", json=SERVICE, headers=auth)).json()

        async def status(name: str) -> int:
            response = await http[name].post(
                "/oauth2/token",
                data={"grant_type": "client_credentials"},
                headers=basic(client["client_id"], client["client_secret"]),
            )
            return response.status_code

        assert await status("a") == 200  # cached on host a
        assert await status("lone") == 200  # cached on the host without Redis
        await asyncio.sleep(0.2)  # the subscribers are listening

        secret_id = client["client_secret_id"]
        revoked = await http["b"].delete(
            f"/admin/v1/clients/{client['client_id']}/secrets/{secret_id}?confirm=true",
            headers=auth,
        )
        assert revoked.status_code == 204

        for _ in range(40):
            if await status("a") == 401:
                break
            await asyncio.sleep(0.05)
        assert await status("a") == 401
        # Without Redis, another host keeps its cached verification until the TTL: that is
        # what APPWARD_REDIS_URL is for when several hosts serve one database.
        assert await status("lone") == 200
        clock.advance(settings.credential_cache_ttl + 1)
        assert await status("lone") == 401


async def test_credential_changes_reuse_the_apps_pooled_redis_connections(
    settings, clock, redis_url, monkeypatch
):
    """Every announcement goes over the app's one pooled client: many credential changes
    open no Redis connection each, and the app closes its connections on shutdown."""
    observer = aioredis.from_url(redis_url)
    await observer.ping()  # its own connection, opened before the count starts
    opened = count_redis_connections(monkeypatch, redis_url)
    try:
        async with open_api(settings.model_copy(update={"redis_url": redis_url}), clock) as api:
            client_id = (await api.post("/admin/v1/clients", SERVICE)).json()["client_id"]
            await asyncio.sleep(0.2)  # the change listener has subscribed
            before = len(opened)
            for _ in range(CHANGES):
                assert (await api.post(f"/admin/v1/clients/{client_id}/disable")).status_code == 200
                assert (await api.post(f"/admin/v1/clients/{client_id}/enable")).status_code == 200
            assert len(opened) - before <= 1  # at most the pool's first connection
            assert 1 <= await named_connections(observer) <= 3  # publishing, the listener
        for _ in range(40):
            if await named_connections(observer) == 0:
                break
            await asyncio.sleep(0.05)
        assert await named_connections(observer) == 0
    finally:
        await observer.aclose()


CHANGES = 20


def count_redis_connections(monkeypatch: pytest.MonkeyPatch, redis_url: str) -> list[int]:
    """Returns a list that grows by one for each TCP connection this process opens to the
    Redis server from now on (redis-py opens them with asyncio.open_connection)."""
    redis_port = urlsplit(redis_url).port or 6379
    opened: list[int] = []
    open_connection = asyncio.open_connection

    async def counting(*args: Any, **kw: Any) -> Any:
        port = kw.get("port", args[1] if len(args) > 1 else None)
        if port == redis_port:
            opened.append(port)
        return await open_connection(*args, **kw)

    monkeypatch.setattr(asyncio, "open_connection", counting)
    return opened


async def named_connections(observer: aioredis.Redis) -> int:
    """Counts the server's connections named as this process's Appward connections."""
    clients = await observer.client_list()
    return sum(1 for c in clients if c.get("name") == redis_client_name())
