"""A client's jwks_uri through the app: registered through the admin API, fetched by the
app's one fetcher (AuthTools.remote_keys) from a real server on 127.0.0.1, and refused
when it names a private address, without connecting to it: through auth/client_keys.py's
``client_keys`` and end to end through /oauth2/token with private_key_jwt.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from appward.auth.client_keys import client_keys
from appward.auth.credentials import AuthContext
from appward.auth.jwks import JwksFetcher
from appward.clients.models import Client
from appward.clients.snapshot import ClientSnapshot
from appward.config import Settings
from appward.errors import InvalidClient
from appward.services import unit_of_work
from tests.factories import SERVICE, metadata
from tests.functional.conftest import Api, open_api
from tests.jwks_server import JwksServer, jwks_server, public_jwk

pytestmark = pytest.mark.anyio


@pytest.fixture
def dev_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"jwks_uri_allow_loopback": True})


@pytest.fixture
def keys_server() -> Iterator[JwksServer]:
    with jwks_server() as running:
        running.sets["/jwks"] = {"keys": [public_jwk("k1"), public_jwk("k2")]}
        yield running


async def register(api: Api, jwks_uri: str) -> Any:
    return await api.post("/admin/v1/clients", metadata(SERVICE, jwks_uri=jwks_uri))


async def keys_of(api: Api, client_id: str, kid: str | None = None) -> list[dict[str, Any]]:
    state = api.app.state.appward
    async with unit_of_work(state, None) as services:
        client = await services.session.scalar(select(Client).where(Client.client_id == client_id))
        assert client is not None
        context = AuthContext(services.session, state.verifier, state.clock, tools=state.auth_tools)
        return await client_keys(ClientSnapshot.of(client), context, kid)


async def test_the_app_fetches_a_registered_jwks_uri(dev_settings, clock, keys_server):
    uri = keys_server.url("/jwks")
    async with open_api(dev_settings, clock) as api:
        created = await register(api, uri)
        assert created.status_code == 201, created.text
        client_id = created.json()["client_id"]
        read = await api.get(f"/admin/v1/clients/{client_id}")
        assert read.json()["metadata"]["jwks_uri"] == uri
        assert [k["kid"] for k in await keys_of(api, client_id, "k2")] == ["k2"]
        assert [k["kid"] for k in await keys_of(api, client_id)] == ["k1", "k2"]
        assert keys_server.hits["/jwks"] == 1  # the second came from the cache
        # Unknown kids within the refetch interval of the last fetch fetch nothing more.
        assert await keys_of(api, client_id, "nope") == []
        assert await keys_of(api, client_id, "nope-again") == []
        assert keys_server.hits["/jwks"] == 1
        fetcher = api.app.state.appward.auth_tools.remote_keys
        assert isinstance(fetcher, JwksFetcher)
        assert fetcher._client is not None
    # The lifespan closed the app's HTTP client.
    assert fetcher._client is None


async def test_without_the_development_flag_loopback_is_refused(settings, clock, keys_server):
    async with open_api(settings, clock) as api:
        response = await register(api, keys_server.url("/jwks"))
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_client_metadata"
    assert keys_server.hits["/jwks"] == 0


async def test_a_name_resolving_to_a_private_address_is_never_connected_to(
    settings, clock, monkeypatch
):
    """Registration takes the name (it resolves nothing); the fetch resolves it, finds a
    private address and refuses before any socket connects anywhere."""
    connects: list[object] = []
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def watched(self: socket.socket, address: Any) -> Any:
        connects.append(address)
        return real_connect(self, address)

    def watched_ex(self: socket.socket, address: Any) -> Any:
        connects.append(address)
        return real_connect_ex(self, address)

    async def resolve_privately(host: str, port: int) -> list[str]:
        return ["10.0.0.7"]

    async with open_api(settings, clock) as api:
        created = await register(api, "https://keys.internal.example/jwks")
        assert created.status_code == 201, created.text
        fetcher = api.app.state.appward.auth_tools.remote_keys
        assert isinstance(fetcher, JwksFetcher)
        monkeypatch.setattr(fetcher, "_resolve", resolve_privately)
        monkeypatch.setattr(socket.socket, "connect", watched)
        monkeypatch.setattr(socket.socket, "connect_ex", watched_ex)
        with pytest.raises(InvalidClient) as caught:
            await keys_of(api, created.json()["client_id"], "k1")
        monkeypatch.undo()
    assert "10.0.0.7" not in caught.value.description + str(caught.value.detail)
    assert [a for a in connects if "10.0.0.7" in str(a)] == []
    assert fetcher._client is None  # not even an HTTP client was made


# --- end to end through /oauth2/token: private_key_jwt with its keys at a jwks_uri ------


async def test_private_key_jwt_with_keys_at_a_jwks_uri(dev_settings, clock, keys_server):
    from tests.functional.test_private_key_jwt import claims_for, sign, token
    from tests.keys import ec_key

    first, rotated, stranger = ec_key("k1"), ec_key("k2"), ec_key("k3")
    keys_server.sets["/jwks"] = first.jwks()
    async with open_api(dev_settings, clock) as api:
        created = await api.post(
            "/admin/v1/clients",
            metadata(
                SERVICE,
                token_endpoint_auth_method="private_key_jwt",
                jwks_uri=keys_server.url("/jwks"),
            ),
        )
        assert created.status_code == 201, created.text
        client_id = created.json()["client_id"]
        assert not created.json().get("client_secret")

        ok = await token(api, sign(first, claims_for(client_id, clock)))
        assert ok.status_code == 200, ok.text
        assert ok.json()["token_type"].lower() == "bearer"
        again = await token(api, sign(first, claims_for(client_id, clock)))
        assert again.status_code == 200, again.text
        assert keys_server.hits["/jwks"] == 1  # the second came from the cache

        # A key the set does not hold: invalid_client, and random kids within the
        # refetch interval of the last fetch fetch nothing more.
        for _ in range(5):
            refused = await token(api, sign(stranger, claims_for(client_id, clock)))
            assert refused.status_code == 401
            assert refused.json()["error"] == "invalid_client"
        assert keys_server.hits["/jwks"] == 1

        # The client rotates: once the interval has passed, the new kid is fetched once.
        keys_server.sets["/jwks"] = rotated.jwks()
        fetcher = api.app.state.appward.auth_tools.remote_keys
        assert isinstance(fetcher, JwksFetcher)
        for entry in fetcher._entries.values():
            entry.attempted_at -= dev_settings.jwks_uri_refetch_interval
        ok = await token(api, sign(rotated, claims_for(client_id, clock)))
        assert ok.status_code == 200, ok.text
        assert keys_server.hits["/jwks"] == 2


async def test_private_key_jwt_with_a_private_jwks_uri_is_refused(settings, clock, monkeypatch):
    from tests.functional.test_private_key_jwt import claims_for, sign, token
    from tests.keys import ec_key

    key = ec_key("k1")

    async def resolve_privately(host: str, port: int) -> list[str]:
        return ["169.254.169.254"]

    async with open_api(settings, clock) as api:
        created = await api.post(
            "/admin/v1/clients",
            metadata(
                SERVICE,
                token_endpoint_auth_method="private_key_jwt",
                jwks_uri="https://keys.internal.example/jwks",
            ),
        )
        assert created.status_code == 201, created.text
        fetcher = api.app.state.appward.auth_tools.remote_keys
        assert isinstance(fetcher, JwksFetcher)
        monkeypatch.setattr(fetcher, "_resolve", resolve_privately)
        refused = await token(api, sign(key, claims_for(created.json()["client_id"], clock)))
        assert refused.status_code == 401
        body = refused.json()
        assert body["error"] == "invalid_client"
        assert "169.254" not in body.get("error_description", "")
        assert fetcher._client is None  # nothing was connected to
