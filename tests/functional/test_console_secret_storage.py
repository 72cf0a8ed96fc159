"""The console's Credentials tab says how a client's secrets are stored: argon2id hashes,
or AES-256-GCM ciphertexts for client_secret_jwt (whose HMAC needs the secret itself)."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from sqlalchemy import select

from appward.clients.models import ClientSecret
from tests.factories import SERVICE
from tests.functional.conftest import Api, open_api
from tests.functional.console_tabs import csrf, element, long_sessions, signed_in

pytestmark = pytest.mark.anyio


@pytest.fixture
async def api(settings, clock):
    async with open_api(long_sessions(settings), clock) as opened:
        yield opened


def tab(client_id: str) -> str:
    return f"/console/clients/{quote(client_id)}/credentials"


@pytest.mark.parametrize(
    ("method", "storage", "says"),
    [
        ("client_secret_basic", "argon2id", "hashed"),
        ("client_secret_post", "argon2id", "hashed"),
        ("client_secret_jwt", "aes-256-gcm", "encrypted"),
    ],
)
async def test_the_tab_shows_the_storage_of_the_clients_secrets(
    api: Api, method: str, storage: str, says: str
):
    created = await api.post("/admin/v1/clients", {**SERVICE, "token_endpoint_auth_method": method})
    assert created.status_code == 201, created.text
    client_id = created.json()["client_id"]
    await signed_in(api)
    page = await api.http.get(tab(client_id))
    assert page.status_code == 200
    assert f'data-storage="{storage}"' in page.text
    assert says in element(page.text, "secret-storage")
    assert storage in element(page.text, "secret-storage")


async def test_a_secret_added_to_a_jwt_client_is_stored_encrypted_and_shown_once(api: Api):
    created = await api.post(
        "/admin/v1/clients", {**SERVICE, "token_endpoint_auth_method": "client_secret_jwt"}
    )
    client_id, first = created.json()["client_id"], created.json()["client_secret"]
    await signed_in(api)
    added = await api.http.post(
        tab(client_id), data={"csrf": await csrf(api), "expiry": "90", "others": "keep"}
    )
    assert added.status_code == 201, added.text
    assert "kept encrypted" in element(added.text, "new-secret-panel")
    again = await api.http.get(tab(client_id))
    assert first not in again.text
    async with api.app.state.appward.sessions()() as session:
        rows = list(await session.scalars(select(ClientSecret)))
    mine = [r for r in rows if r.secret_encrypted is not None]
    assert len(mine) == 2
    assert all(r.secret_hash is None for r in mine)
