"""The token endpoint's client_credentials path and its RFC 6749 §5.2 errors."""

from __future__ import annotations

import base64
import logging

import jwt
import pytest

from tests.factories import NATIVE_APP, SERVICE, WEB_APP, basic, metadata

pytestmark = pytest.mark.anyio


async def service(api, **changes) -> tuple[str, str]:
    body = (await api.post("/admin/v1/clients", metadata(SERVICE, **changes))).json()
    return body["client_id"], body["client_secret"]


async def test_issues_rfc9068_access_token(api):
    client_id, secret = await service(api, access_token_ttl=900)
    response = await api.client_credentials(client_id, secret)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    assert "refresh_token" not in body  # RFC 6749 §4.4.3
    header = jwt.get_unverified_header(body["access_token"])
    assert header["typ"] == "at+jwt"
    assert header["alg"] == "ES256"
    ring = api.app.state.appward.key_ring()
    claims = jwt.decode(
        body["access_token"],
        ring.public_keys[header["kid"]],
        algorithms=["ES256"],
        audience="http://127.0.0.1:8000",
        options={"verify_exp": False},
    )
    assert claims["iss"] == "http://127.0.0.1:8000"
    assert claims["sub"] == claims["client_id"] == client_id
    assert claims["exp"] - claims["iat"] == 900
    assert claims["jti"]


async def test_client_secret_post_for_a_client_registered_with_it(api):
    client_id, secret = await service(api, token_endpoint_auth_method="client_secret_post")
    ok = await api.http.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
    )
    assert ok.status_code == 200, ok.text
    basic_refused = await api.client_credentials(client_id, secret)
    assert basic_refused.status_code == 401
    assert basic_refused.json()["error"] == "invalid_client"


async def test_basic_credentials_are_form_urlencoded(api):
    """RFC 6749 §2.3.1: client_id and secret are form-urlencoded before Basic encoding."""
    client_id, secret = await service(api)
    encoded_ok = base64.b64encode(
        f"{client_id.replace('_', '%5F')}:{secret.replace('_', '%5F')}".encode()
    ).decode()
    response = await api.http.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {encoded_ok}"},
    )
    assert response.status_code == 200, response.text


async def test_wrong_secret_is_invalid_client_with_basic_challenge(api, caplog):
    caplog.set_level(logging.DEBUG)
    client_id, secret = await service(api)
    wrong = secret[:-4] + ("AAAA" if not secret.endswith("AAAA") else "BBBB")
    response = await api.client_credentials(client_id, wrong)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response.headers["www-authenticate"].startswith("Basic")
    assert response.headers["cache-control"] == "no-store"
    assert wrong not in caplog.text
    assert secret not in caplog.text


@pytest.mark.parametrize(
    ("headers", "form", "status", "error"),
    [
        ({}, {"grant_type": "client_credentials"}, 401, "invalid_client"),
        (
            {"Authorization": "Basic !!!"},
            {"grant_type": "client_credentials"},
            401,
            "invalid_client",
        ),
        (
            {"Authorization": "Basic " + base64.b64encode(b"no-colon").decode()},
            {"grant_type": "client_credentials"},
            401,
            "invalid_client",
        ),
        (
            {"Authorization": "Digest abc"},
            {"grant_type": "client_credentials"},
            401,
            "invalid_client",
        ),
        ({}, {}, 400, "invalid_request"),
        ({}, {"grant_type": "password"}, 400, "unsupported_grant_type"),
        (
            {},
            {"grant_type": "urn:ietf:params:oauth:grant-type:magic"},
            400,
            "unsupported_grant_type",
        ),
    ],
)
async def test_request_errors(api, headers, form, status, error):
    response = await api.http.post("/oauth2/token", data=form, headers=headers)
    assert response.status_code == status, response.text
    assert response.json()["error"] == error
    assert response.json()["error_description"]
    assert response.headers["cache-control"] == "no-store"


async def test_unknown_client_is_invalid_client(api):
    response = await api.client_credentials("no-such-client", "apwcs_0123456789abcdef_" + "a" * 43)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


async def test_repeated_parameter_is_invalid_request(api):
    """RFC 6749 §3.2: request parameters MUST NOT be included more than once."""
    client_id, secret = await service(api)
    response = await api.http.post(
        "/oauth2/token",
        content="grant_type=client_credentials&scope=a&scope=b",
        headers={**basic(client_id, secret), "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


async def test_json_body_is_invalid_request(api):
    client_id, secret = await service(api)
    response = await api.http.post(
        "/oauth2/token",
        json={"grant_type": "client_credentials"},
        headers=basic(client_id, secret),
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


async def test_two_authentication_methods_is_invalid_request(api):
    """RFC 6749 §2.3: the client MUST NOT use more than one authentication method."""
    client_id, secret = await service(api)
    response = await api.http.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials", "client_secret": secret},
        headers=basic(client_id, secret),
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


@pytest.mark.parametrize("path", ["/oauth2/token", "/oauth2/introspect", "/oauth2/revoke"])
async def test_a_repeated_authorization_header_is_invalid_request(api, path):
    """RFC 6749 §2.3: one authentication method per request; RFC 9110 §11.6.2 has one
    Authorization field. Taking either copy would let a proxy that reads the first and
    this server that read the last disagree on who the client is."""
    client_id, secret = await service(api)
    own, stranger = (
        basic(client_id, secret)["Authorization"],
        basic("someone", "else")["Authorization"],
    )
    for first, second in ((stranger, own), (own, stranger)):
        response = await api.http.post(
            path,
            content=b"grant_type=client_credentials&token=x",
            headers=[
                ("Content-Type", "application/x-www-form-urlencoded"),
                ("Authorization", first),
                ("Authorization", second),
            ],
        )
        assert response.status_code == 400, response.text
        assert response.json()["error"] == "invalid_request"


async def test_a_repeated_content_type_header_is_invalid_request(api):
    client_id, secret = await service(api)
    response = await api.http.post(
        "/oauth2/token",
        content=b"grant_type=client_credentials",
        headers=[
            ("Content-Type", "application/json"),
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Authorization", basic(client_id, secret)["Authorization"]),
        ],
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_request"


async def test_grant_not_registered_is_unauthorized_client(api):
    body = (await api.post("/admin/v1/clients", WEB_APP)).json()
    response = await api.client_credentials(body["client_id"], body["client_secret"])
    assert response.status_code == 400
    assert response.json()["error"] == "unauthorized_client"


async def test_public_client_cannot_get_client_credentials_tokens(api):
    body = (await api.post("/admin/v1/clients", NATIVE_APP)).json()
    response = await api.http.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials", "client_id": body["client_id"]},
    )
    assert response.status_code == 400
    assert response.json()["error"] == "unauthorized_client"


async def test_public_client_presenting_a_secret_is_invalid_client(api):
    body = (await api.post("/admin/v1/clients", NATIVE_APP)).json()
    response = await api.client_credentials(body["client_id"], "apwcs_" + "0" * 16 + "_" + "a" * 43)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


async def test_empty_scope_means_all_allowed_scopes(api):
    client_id, secret = await service(api, scope="appward:admin")
    response = await api.client_credentials(client_id, secret, scope="")
    assert response.json()["scope"] == "appward:admin"


async def test_malformed_scope_is_invalid_scope(api):
    client_id, secret = await service(api, scope="appward:admin")
    response = await api.client_credentials(client_id, secret, scope="appward:admin  x")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"
