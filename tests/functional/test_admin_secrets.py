"""Secret rotation without downtime, through HTTP."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from appward.clients.models import ClientSecret
from tests.factories import SERVICE

pytestmark = pytest.mark.anyio


async def new_service(api) -> tuple[str, str]:
    body = (await api.post("/admin/v1/clients", SERVICE)).json()
    return body["client_id"], body["client_secret"]


async def works(api, client_id: str, secret: str) -> bool:
    response = await api.client_credentials(client_id, secret)
    assert response.status_code in (200, 401), response.text
    return response.status_code == 200


async def test_rotation_end_to_end(api, clock):
    """Old works; new added, both work; old revoked, only new works; expired fails."""
    client_id, old = await new_service(api)
    assert await works(api, client_id, old)

    added = await api.post(f"/admin/v1/clients/{client_id}/secrets", {"label": "2026-q3"})
    assert added.status_code == 201, added.text
    new = added.json()["client_secret"]
    new_id = added.json()["id"]
    assert added.json()["label"] == "2026-q3"
    assert added.headers["cache-control"] == "no-store"
    assert await works(api, client_id, old)
    assert await works(api, client_id, new)

    secrets = (await api.get(f"/admin/v1/clients/{client_id}/secrets")).json()["items"]
    old_id = next(s["id"] for s in secrets if s["id"] != new_id)
    # The old secret was used moments ago: safe revoke asks for confirmation.
    unconfirmed = await api.delete(f"/admin/v1/clients/{client_id}/secrets/{old_id}")
    assert unconfirmed.status_code == 409
    assert await works(api, client_id, old)
    revoked = await api.delete(f"/admin/v1/clients/{client_id}/secrets/{old_id}?confirm=true")
    assert revoked.status_code == 204
    assert not await works(api, client_id, old)
    assert await works(api, client_id, new)

    clock.advance(10)
    graced = await api.post(f"/admin/v1/clients/{client_id}/secrets", {"expire_others_in": 60})
    newest = graced.json()["client_secret"]
    assert await works(api, client_id, new)  # still inside the grace period
    clock.advance(61)
    assert not await works(api, client_id, new)  # expired
    assert await works(api, client_id, newest)


async def test_listing_shows_metadata_and_last_use_but_never_the_secret(api, clock):
    client_id, secret = await new_service(api)
    listed = await api.get(f"/admin/v1/clients/{client_id}/secrets")
    item = listed.json()["items"][0]
    assert set(item) == {
        "id",
        "label",
        "created_at",
        "expires_at",
        "revoked_at",
        "last_used_at",
        "usable",
    }
    assert item["last_used_at"] is None
    assert secret not in listed.text
    assert "argon2" not in listed.text

    await works(api, client_id, secret)
    first_use = (await api.get(f"/admin/v1/clients/{client_id}/secrets")).json()["items"][0]
    assert first_use["last_used_at"] is not None

    clock.advance(30)  # within the minute: not written again
    await works(api, client_id, secret)
    again = (await api.get(f"/admin/v1/clients/{client_id}/secrets")).json()["items"][0]
    assert again["last_used_at"] == first_use["last_used_at"]

    clock.advance(31)
    await works(api, client_id, secret)
    later = (await api.get(f"/admin/v1/clients/{client_id}/secrets")).json()["items"][0]
    assert later["last_used_at"] > first_use["last_used_at"]


async def test_rotated_out_secret_shows_it_is_still_used(api, clock):
    """The admin can see the old secret is still in use before revoking it."""
    client_id, old = await new_service(api)
    await api.post(f"/admin/v1/clients/{client_id}/secrets", {"label": "next"})
    clock.advance(120)
    await works(api, client_id, old)
    items = (await api.get(f"/admin/v1/clients/{client_id}/secrets")).json()["items"]
    by_label = {s["label"]: s for s in items}
    assert by_label["initial"]["last_used_at"] is not None
    assert by_label["next"]["last_used_at"] is None


async def test_secret_is_stored_only_as_argon2id_hash(api, settings):
    _client_id, secret = await new_service(api)
    async with api.app.state.appward.sessions()() as session:
        rows = list(await session.scalars(select(ClientSecret)))
    stored = [r.secret_hash for r in rows]
    assert all(h.startswith("$argon2id$") for h in stored)
    assert not any(secret in h for h in stored)
    assert secret not in repr(rows)


async def test_secret_of_another_client_does_not_authenticate(api):
    _a_id, a_secret = await new_service(api)
    b_id, _ = await new_service(api)
    assert not await works(api, b_id, a_secret)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"expire_others_in": -1}, "expire_others_in"),
        ({"expire_others_in": 10**9}, "expire_others_in"),
        ({"label": "x" * 101}, "label"),
        ({"label": "   "}, "label"),
        ({"expire_others_in": "soon"}, "expire_others_in"),
    ],
)
async def test_bad_secret_requests_change_nothing(api, body, field):
    client_id, _ = await new_service(api)
    before = (await api.get(f"/admin/v1/clients/{client_id}/secrets")).json()
    response = await api.post(f"/admin/v1/clients/{client_id}/secrets", body)
    assert response.status_code == 400, response.text
    assert field in [e["field"] for e in response.json()["errors"]]
    assert (await api.get(f"/admin/v1/clients/{client_id}/secrets")).json() == before


async def test_public_client_cannot_get_a_secret(api):
    body = {
        "client_name": "SPA",
        "redirect_uris": ["https://spa.example.com/cb"],
        "token_endpoint_auth_method": "none",
    }
    client_id = (await api.post("/admin/v1/clients", body)).json()["client_id"]
    response = await api.post(f"/admin/v1/clients/{client_id}/secrets", {})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_input"


async def test_revoking_unknown_or_foreign_secret_is_404(api):
    a_id, _ = await new_service(api)
    b_id, _ = await new_service(api)
    a_secret_id = (await api.get(f"/admin/v1/clients/{a_id}/secrets")).json()["items"][0]["id"]
    assert (await api.delete(f"/admin/v1/clients/{b_id}/secrets/{a_secret_id}")).status_code == 404
    assert (await api.delete(f"/admin/v1/clients/{a_id}/secrets/0000")).status_code == 404
    assert await api.get(f"/admin/v1/clients/{a_id}/secrets") is not None


async def test_revoking_twice_is_harmless(api):
    client_id, _secret = await new_service(api)
    secret_id = (await api.get(f"/admin/v1/clients/{client_id}/secrets")).json()["items"][0]["id"]
    url = f"/admin/v1/clients/{client_id}/secrets/{secret_id}"
    assert (await api.delete(url)).status_code == 204
    assert (await api.delete(url)).status_code == 204
    events = (
        await api.get(f"/admin/v1/audit-events?client_id={client_id}&action=client:secret:revoked")
    ).json()["items"]
    assert len(events) == 1


async def test_a_new_secrets_expiry_can_be_chosen_or_be_never(api, clock):
    """The admin API offers what the console's expiry presets do: a date, or never."""
    client_id, _ = await new_service(api)
    url = f"/admin/v1/clients/{client_id}/secrets"
    dated = await api.post(url, {"expires_at": "2026-07-01T00:00:00+02:00"})
    assert dated.status_code == 201, dated.text
    assert dated.json()["expires_at"].startswith("2026-06-30T22:00:00")
    assert dated.json()["client_secret_expires_at"] == 1782856800
    never = await api.post(url, {"expires_at": None})
    assert never.json()["expires_at"] is None
    assert never.json()["client_secret_expires_at"] == 0
    for refused in ("2026-06-01T11:00:00Z", "2040-01-01T00:00:00Z", "2026-07-01T00:00:00"):
        response = await api.post(url, {"expires_at": refused})
        assert response.status_code == 400, refused
        assert response.json()["errors"][0]["field"] == "expires_at"
