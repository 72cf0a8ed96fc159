"""Who may use the admin API: a bearer token with appward:admin from this server."""

from __future__ import annotations

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from tests.factories import basic
from tests.functional.conftest import (
    ADMIN_ROUTES,
    admin_request,
    audit_trail,
    create_admin_targets,
    non_admin_token,
)

pytestmark = pytest.mark.anyio


async def test_the_route_list_is_the_whole_admin_api(api):
    """What the role tests below go through is every admin operation the app serves."""
    spec = (await api.http.get("/openapi.json")).json()
    served = {
        (method.upper(), path)
        for path, item in spec["paths"].items()
        if path.startswith("/admin/")
        for method in item
    }
    assert len(ADMIN_ROUTES) >= 20
    assert set(ADMIN_ROUTES) == served


@pytest.mark.parametrize(("method", "path"), ADMIN_ROUTES)
async def test_missing_token_is_401_with_challenge(api, method, path):
    """RFC 6750 §3.1: a request without a token gets the challenge, and no error code."""
    targets = await create_admin_targets(api)
    before = await audit_trail(api)
    response = await admin_request(api, method, targets.url(path), {})
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "invalid_token"
    assert response.headers["www-authenticate"] == 'Bearer realm="appward"'
    assert await audit_trail(api) == before


@pytest.mark.parametrize(
    "header",
    ["Bearer", "Bearer not-a-jwt", "Basic abc", "Bearer a.b.c", "bearer "],
)
async def test_malformed_token_is_401(api, header):
    response = await api.http.get("/admin/v1/clients", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"


@pytest.mark.parametrize(("method", "path"), ADMIN_ROUTES)
async def test_token_without_admin_scope_is_403(api, method, path):
    targets = await create_admin_targets(api)
    token = await non_admin_token(api)
    before = await audit_trail(api)
    response = await admin_request(
        api, method, targets.url(path), {"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 403, response.text
    assert response.json()["error"] == "insufficient_scope"
    assert 'scope="appward:admin"' in response.headers["www-authenticate"]
    assert await audit_trail(api) == before


async def test_token_signed_by_another_key_is_401(api):
    rogue = ec.generate_private_key(ec.SECP256R1())
    kid = api.app.state.appward.key_ring().signing_kid
    forged = jwt.encode(
        {
            "iss": "http://127.0.0.1:8000",
            "aud": "http://127.0.0.1:8000",
            "sub": api.admin_id,
            "client_id": api.admin_id,
            "scope": "appward:admin",
            "iat": 1,
            "exp": 4_000_000_000,
            "jti": "x",
        },
        rogue,
        algorithm="ES256",
        headers={"typ": "at+jwt", "kid": kid},
    )
    response = await api.http.get(
        "/admin/v1/clients", headers={"Authorization": f"Bearer {forged}"}
    )
    assert response.status_code == 401


async def test_unsigned_token_is_401(api):
    unsigned = jwt.encode(
        {"client_id": api.admin_id, "scope": "appward:admin"},
        key=None,
        algorithm="none",
        headers={"typ": "at+jwt"},
    )
    response = await api.http.get(
        "/admin/v1/clients", headers={"Authorization": f"Bearer {unsigned}"}
    )
    assert response.status_code == 401


async def test_expired_token_is_401(api, clock):
    clock.advance(3601)
    response = await api.get("/admin/v1/clients")
    assert response.status_code == 401
    assert "expired" in response.json()["detail"]


async def test_disabling_the_admin_client_cuts_off_its_tokens(api):
    # Another admin disables the first one; the first one's token stops working at once.
    second = (
        await api.post(
            "/admin/v1/clients",
            {
                "client_name": "second admin",
                "grant_types": ["client_credentials"],
                "scope": "appward:admin",
            },
        )
    ).json()
    token = (
        await api.http.post(
            "/oauth2/token",
            data={"grant_type": "client_credentials"},
            headers=basic(second["client_id"], second["client_secret"]),
        )
    ).json()["access_token"]
    await api.post(f"/admin/v1/clients/{api.admin_id}/disable")
    assert (await api.get("/admin/v1/clients")).status_code == 401
    ok = await api.http.get("/admin/v1/clients", headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 200
