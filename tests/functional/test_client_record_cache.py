"""The credential cache remembers the records of clients whose proof is checked on every
request (a private_key_jwt assertion here): a busy client's assertions read no client row,
yet every change to the client (disable, new keys, a new jwks_uri) takes effect at once, in
this process directly and in the host's other processes through the epoch file."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event, update

from appward.auth.credential_cache import EPOCH_FILE
from appward.auth.epoch_file import EpochFile
from appward.auth.jwks import JwksFetcher
from appward.clients.models import Client
from appward.services import unit_of_work
from tests.factories import SETUP_ACTOR
from tests.functional.conftest import Api, open_api
from tests.functional.test_private_key_jwt import claims_for, orders, register, sign, token
from tests.jwks_server import JwksServer, jwks_server, public_jwk
from tests.keys import ec_key

pytestmark = pytest.mark.anyio

__all__ = ["orders"]  # the fixture, used by name


class Statements:
    """The SQL the app's engine runs while watched."""

    def __init__(self, api: Api) -> None:
        self.seen: list[str] = []
        self._engine = api.app.state.appward.engine.sync_engine

    def _before(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        self.seen.append(statement)

    def __enter__(self) -> Statements:
        event.listen(self._engine, "before_cursor_execute", self._before)
        return self

    def __exit__(self, *_: object) -> None:
        event.remove(self._engine, "before_cursor_execute", self._before)

    def read(self, table: str) -> bool:
        return any(f"FROM {table}" in statement for statement in self.seen)


async def test_repeated_assertions_read_no_client_record(orders, clock):
    key = ec_key()
    client_id = (await register(orders, key))["client_id"]
    first = await token(orders, sign(key, claims_for(client_id, clock)))
    assert first.status_code == 200, first.text
    with Statements(orders) as statements:
        again = await token(orders, sign(key, claims_for(client_id, clock)))
    assert again.status_code == 200, again.text
    assert not statements.read("clients")
    # The key's last use was written by the first request; within the minute, not even read.
    assert not statements.read("client_key_uses")
    # The jti is still recorded each time: the replay check is never cached.
    assert any("used_jtis" in statement for statement in statements.seen)


async def test_a_disabled_client_is_refused_at_once(orders, clock):
    key = ec_key()
    client_id = (await register(orders, key))["client_id"]
    assert (await token(orders, sign(key, claims_for(client_id, clock)))).status_code == 200
    disabled = await orders.post(f"/admin/v1/clients/{client_id}/disable")
    assert disabled.status_code == 200, disabled.text
    refused = await token(orders, sign(key, claims_for(client_id, clock)))
    assert refused.status_code == 401
    assert refused.json()["error"] == "invalid_client"


async def test_replaced_keys_take_effect_at_once(orders, clock):
    old, new = ec_key("old"), ec_key("new")
    client_id = (await register(orders, old))["client_id"]
    assert (await token(orders, sign(old, claims_for(client_id, clock)))).status_code == 200
    replaced = await orders.patch(
        f"/admin/v1/clients/{client_id}", {"jwks": new.jwks()}, if_match='"1"'
    )
    assert replaced.status_code == 200, replaced.text
    assert (await token(orders, sign(old, claims_for(client_id, clock)))).status_code == 401
    assert (await token(orders, sign(new, claims_for(client_id, clock)))).status_code == 200


async def test_another_process_change_drops_the_remembered_record(orders, clock, settings):
    """Another process (the CLI, another worker) announces its changes through the epoch
    file: the record this process remembered is dropped, and the change is seen."""
    key = ec_key()
    client_id = (await register(orders, key))["client_id"]
    assert (await token(orders, sign(key, claims_for(client_id, clock)))).status_code == 200
    # Written behind the app's back, as another process would, before it announces.
    async with unit_of_work(orders.app.state.appward, SETUP_ACTOR) as services:
        await services.session.execute(
            update(Client).where(Client.client_id == client_id).values(status="disabled")
        )
    still = await token(orders, sign(key, claims_for(client_id, clock)))
    assert still.status_code == 200  # the remembered record: nothing announced yet
    EpochFile(settings.data_dir / EPOCH_FILE).bump()
    refused = await token(orders, sign(key, claims_for(client_id, clock)))
    assert refused.status_code == 401


@pytest.fixture
def two_sets() -> Iterator[JwksServer]:
    with jwks_server() as running:
        running.sets["/a"] = {"keys": [public_jwk("k1")]}
        running.sets["/b"] = {"keys": [public_jwk("k2")]}
        yield running


async def test_a_changed_jwks_uri_forgets_the_fetched_set(settings, clock, two_sets):
    """A to B and back to A: the set fetched from A before is not used again, it is
    fetched anew (the change dropped it), so an operator's change is never undone by a
    cached copy."""
    dev = settings.model_copy(update={"jwks_uri_allow_loopback": True})
    async with open_api(dev, clock) as api:
        created = await api.post(
            "/admin/v1/clients",
            {
                "client_name": "keys at a uri",
                "grant_types": ["client_credentials"],
                "token_endpoint_auth_method": "private_key_jwt",
                "jwks_uri": two_sets.url("/a"),
            },
        )
        assert created.status_code == 201, created.text
        client_id = created.json()["client_id"]
        fetcher = api.app.state.appward.auth_tools.remote_keys
        assert isinstance(fetcher, JwksFetcher)
        await fetcher.key_set(client_id, two_sets.url("/a"))
        assert two_sets.hits["/a"] == 1
        url = f"/admin/v1/clients/{client_id}"
        to_b = await api.patch(url, {"jwks_uri": two_sets.url("/b")}, if_match='"1"')
        assert to_b.status_code == 200, to_b.text
        back = await api.patch(url, {"jwks_uri": two_sets.url("/a")}, if_match='"2"')
        assert back.status_code == 200, back.text
        await fetcher.key_set(client_id, two_sets.url("/a"))
        assert two_sets.hits["/a"] == 2
