"""Regression tests from the security review: each input here once caused a 500, leaked
a detail, or let a credential outlive its revocation."""

from __future__ import annotations

import asyncio
import base64

import pytest
from sqlalchemy import select

from appward.clients.models import ClientSecret
from appward.errors import InvalidClientMetadata
from appward.services import standalone_resources, unit_of_work
from tests.factories import SERVICE, SETUP_ACTOR, basic, metadata

pytestmark = pytest.mark.anyio


async def service_client(api) -> dict:
    return (await api.post("/admin/v1/clients", SERVICE)).json()


@pytest.mark.parametrize(
    "header",
    ["Basic \u00e9", "Basic " + base64.b64encode(b"\xff\xfe:x").decode()],
    ids=["non-ascii", "non-utf8"],
)
async def test_malformed_basic_header_is_401_not_500(api, header):
    response = await api.http.post(
        "/oauth2/token",
        content="grant_type=client_credentials",
        headers={
            "Authorization": header.encode("latin-1"),
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


@pytest.mark.parametrize("client_id", ["a\x00b", "\u00e9t\u00e9", "x" * 65])
async def test_odd_client_ids_are_invalid_client(api, client_id):
    response = await api.http.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": "s"},
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


async def test_wrong_method_answer_does_not_reveal_the_registered_one(api):
    client = await service_client(api)
    response = await api.http.post(
        "/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client["client_id"],
            "client_secret": client["client_secret"],
        },
    )
    assert response.status_code == 401
    assert "client_secret_basic" not in response.text


async def test_removing_admin_scope_cuts_off_live_admin_tokens(api):
    # A second admin strips the first one's scope; the first's token stops at once.
    second = (
        await api.post(
            "/admin/v1/clients",
            metadata(SERVICE, client_name="second admin", scope="appward:admin"),
        )
    ).json()
    token = (
        await api.http.post(
            "/oauth2/token",
            data={"grant_type": "client_credentials"},
            headers=basic(second["client_id"], second["client_secret"]),
        )
    ).json()["access_token"]
    stripped = await api.patch(f"/admin/v1/clients/{api.admin_id}", {"scope": None}, if_match="*")
    assert stripped.status_code == 200
    assert (await api.get("/admin/v1/clients")).status_code == 403
    ok = await api.http.get("/admin/v1/clients", headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 200


@pytest.mark.parametrize(
    ("method", "url", "kwargs", "status"),
    [
        ("GET", "/admin/v1/clients?cursor=azozMDAwMDAwMDAw", {}, 400),
        ("GET", "/admin/v1/clients?name=a%00b", {}, 400),
        ("GET", "/admin/v1/audit-events?actor=a%00b", {}, 400),
        ("GET", "/admin/v1/audit-events?since=0001-01-01T00:00:00%2B05:00", {}, 400),
        ("GET", "/admin/v1/audit-events?until=9999-12-31T23:59:59-05:00", {}, 400),
        ("POST", "/admin/v1/clients", {"content": b"[" * 100000 + b"]" * 100000}, 400),
        ("POST", "/admin/v1/clients", {"content": b'{"client_name": "\\ud800"}'}, 400),
        ("POST", "/admin/v1/clients", {"content": b'{"owner": "a\\u0000b"}'}, 400),
        ("POST", "/admin/v1/scopes", {"content": b'{"name": "x", "description": "a\\u0000"}'}, 400),
        (
            "POST",
            "/admin/v1/scopes",
            {"content": b'{"name": "x", "description": "d", "admin_only": "yes"}'},
            400,
        ),
        (
            "POST",
            "/admin/v1/clients",
            {
                "content": b'{"grant_types": ["client_credentials"], '
                b'"token_endpoint_auth_method": "tls_client_auth", '
                b'"tls_client_auth_san_ip": "fe80::1%' + b"a" * 80 + b'"}'
            },
            400,
        ),
        ("POST", "/admin/v1/clients", {"content": b"x" * (300 * 1024)}, 413),
    ],
    ids=[
        "cursor-beyond-int32",
        "nul-in-name-filter",
        "nul-in-actor-filter",
        "since-year-1",
        "until-year-9999",
        "deep-json",
        "lone-surrogate",
        "nul-in-owner",
        "nul-in-scope-description",
        "string-as-bool",
        "ipv6-zone-id",
        "oversized-body",
    ],
)
async def test_hostile_admin_input_is_a_4xx(api, method, url, kwargs, status):
    headers = {**api.auth, "Content-Type": "application/json"}
    response = await api.http.request(method, url, headers=headers, **kwargs)
    assert response.status_code == status, response.text
    assert "Traceback" not in response.text


async def test_non_ascii_digit_etag_is_400(api):
    client = await service_client(api)
    response = await api.http.patch(
        f"/admin/v1/clients/{client['client_id']}",
        json={"client_name": "x"},
        headers={**api.auth, "If-Match": '"\u00b2"'.encode("latin-1")},
    )
    assert response.status_code == 400


async def test_oversized_token_request_is_refused(api):
    response = await api.http.post(
        "/oauth2/token",
        content=b"grant_type=client_credentials&x=" + b"a" * 20000,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 413
    assert response.json()["error"] == "invalid_request"


async def test_disabled_client_token_attempt_does_not_count_as_use(api, clock):
    client = await service_client(api)
    cid = client["client_id"]
    await api.post(f"/admin/v1/clients/{cid}/disable")
    clock.advance(120)
    refused = await api.client_credentials(cid, client["client_secret"])
    assert refused.status_code == 401
    secrets = (await api.get(f"/admin/v1/clients/{cid}/secrets")).json()["items"]
    assert secrets[0]["last_used_at"] is None


async def test_secret_added_while_client_is_deleted_does_not_survive(settings, clock):
    """Two transactions: one adds a secret, the other deletes the client. Whatever the
    order, no usable secret may remain on a deleted client."""
    async with standalone_resources(settings, clock=clock) as resources:
        async with unit_of_work(resources, SETUP_ACTOR) as services:
            client_id = (await services.clients.create(SERVICE)).client.client_id

        async def delete() -> None:
            async with unit_of_work(resources, SETUP_ACTOR) as deleter:
                await deleter.clients.delete(client_id)

        async with unit_of_work(resources, SETUP_ACTOR) as adder:
            await adder.clients.add_secret(client_id, label="racing")
            deleting = asyncio.create_task(delete())
            await asyncio.sleep(0.3)  # the delete waits for the adder's lock
        await deleting

        async with unit_of_work(resources, SETUP_ACTOR) as services:
            rows = list(await services.session.scalars(select(ClientSecret)))
            assert rows
            assert all(r.revoked_at is not None for r in rows)


async def test_tightened_bounds_still_let_an_admin_fix_the_client(settings, clock):
    async with (
        standalone_resources(settings, clock=clock) as resources,
        unit_of_work(resources, SETUP_ACTOR) as services,
    ):
        client = (await services.clients.create(metadata(SERVICE, access_token_ttl=7200))).client
    stricter = settings.model_copy(update={"access_token_ttl_max": 3600})
    async with (
        standalone_resources(stricter, clock=clock) as resources,
        unit_of_work(resources, SETUP_ACTOR) as services,
    ):
        change = await services.clients.update(
            client.client_id, {"access_token_ttl": 3600}, expected_revision=None
        )
        assert change.client.access_token_ttl == 3600


async def test_self_registered_clients_cannot_take_admin_only_scopes_or_skip_consent(
    settings, clock
):
    async with (
        standalone_resources(settings, clock=clock) as resources,
        unit_of_work(resources, SETUP_ACTOR) as services,
    ):
        with pytest.raises(InvalidClientMetadata, match="administrator"):
            await services.clients.create(
                metadata(SERVICE, scope="appward:admin"), registration_source="dcr"
            )
        with pytest.raises(InvalidClientMetadata, match="administrator"):
            await services.clients.create(
                {
                    "redirect_uris": ["https://a.example/cb"],
                    "skip_consent": True,
                },
                registration_source="portal",
            )


def test_settings_repr_hides_keys_and_database_url(settings):
    text = repr(settings)
    assert settings.key_encryption_key not in text
    assert "database_url" not in text


@pytest.mark.parametrize("host", ["evil.example", "evil.example:443"])
async def test_trailing_slash_redirect_does_not_follow_the_host_header(api, host):
    """The Location of the trailing-slash redirect names no host taken from the request:
    a forged Host header must not turn /login/ into a redirect to another site."""
    response = await api.http.get("/login/?next=/account", headers={"Host": host})
    assert response.status_code == 307
    location = response.headers["location"]
    assert "evil.example" not in location
    assert location == "/login?next=/account"
    assert (await api.http.get(location)).status_code == 200


async def test_double_slash_path_is_no_redirect_to_another_host(api):
    response = await api.http.get("//evil.example/")
    # No redirect (the landing page, or a 404, depending on how the path arrives).
    assert response.status_code in (200, 404)
    assert "location" not in response.headers
