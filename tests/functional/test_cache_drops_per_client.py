"""A change to one client drops that client's cached verifications, in this process and
in the others on the host, and nobody else's: a developer who updates their own client
over and over (RFC 7592) must not make every client of every worker pay an argon2id run
(the security review's F2). A change of nothing the cache holds drops nothing at all."""

from __future__ import annotations

from contextlib import AsyncExitStack

import httpx
import pytest

from appward.web.app import create_app
from tests.factories import SERVICE, basic
from tests.functional.conftest import open_api

pytestmark = pytest.mark.anyio


async def test_one_clients_change_leaves_the_others_cached_on_every_worker(settings, clock):
    async with AsyncExitStack() as stack:
        api = await stack.enter_async_context(open_api(settings, clock))
        # Another worker of the same host: the same database and data dir (epoch file).
        other = create_app(settings, clock=clock)
        await stack.enter_async_context(other.router.lifespan_context(other))
        other_http = await stack.enter_async_context(
            httpx.AsyncClient(transport=httpx.ASGITransport(app=other), base_url="http://h")
        )
        clients = {}
        for name in ("changed", "bystander"):
            created = await api.post("/admin/v1/clients", {**SERVICE, "client_name": name})
            assert created.status_code == 201, created.text
            clients[name] = (created.json()["client_id"], created.json()["client_secret"])

        async def token_on_both() -> None:
            for client_id, secret in clients.values():
                assert (await api.client_credentials(client_id, secret)).status_code == 200
                answer = await other_http.post(
                    "/oauth2/token",
                    data={"grant_type": "client_credentials"},
                    headers=basic(client_id, secret),
                )
                assert answer.status_code == 200, answer.text

        def cached(app, name: str) -> bool:
            client_id, secret = clients[name]
            cache = app.state.appward.credential_cache
            return cache.lookup(client_id, secret, clock.now()) is not None

        await token_on_both()
        assert all(cached(app, n) for app in (api.app, other) for n in clients)

        # A change the cached snapshot carries: dropped everywhere, for that client only.
        changed_id = clients["changed"][0]
        patched = await api.patch(
            f"/admin/v1/clients/{changed_id}", {"access_token_ttl": 120}, if_match='"1"'
        )
        assert patched.status_code == 200, patched.text
        for app in (api.app, other):
            assert not cached(app, "changed")
            assert cached(app, "bystander")

        # A change of nothing the cache holds (the name users see) drops nothing.
        await token_on_both()
        renamed = await api.patch(
            f"/admin/v1/clients/{changed_id}", {"client_name": "renamed"}, if_match='"2"'
        )
        assert renamed.status_code == 200, renamed.text
        assert all(cached(app, n) for app in (api.app, other) for n in clients)

        # The disabled client is refused on the other worker at once: the drop is real.
        disabled = await api.post(f"/admin/v1/clients/{changed_id}/disable")
        assert disabled.status_code in (200, 204), disabled.text
        refused = await other_http.post(
            "/oauth2/token",
            data={"grant_type": "client_credentials"},
            headers=basic(*clients["changed"]),
        )
        assert refused.status_code == 401
        assert cached(other, "bystander")
