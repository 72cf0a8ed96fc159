"""Dynamic Client Registration (RFC 7591) and its management (RFC 7592), through HTTP."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from redis.asyncio import Redis
from typer.testing import CliRunner

from appward.cli import app as cli_app
from appward.clock import FrozenClock
from appward.config import Settings
from appward.web.app import create_app
from tests.conftest import settings_env
from tests.factories import basic
from tests.functional.conftest import Api, open_api
from tests.oauth_helpers import PASSWORD, Browser, pkce_pair

pytestmark = pytest.mark.anyio

REDIRECT = "https://app.example.com/callback"
PUBLISHER = "https://publisher.example.com"
REFUSED_RAT = "the registration access token is not valid for this client"
FROZEN_NOW = int(datetime(2026, 6, 1, 12, 0, tzinfo=UTC).timestamp())  # the clock fixture
WEB_CLIENT = {
    "client_name": "Partner App",
    "redirect_uris": [REDIRECT],
    "grant_types": ["authorization_code", "refresh_token"],
    "scope": "api:read",
}


def _key_pair() -> tuple[ec.EllipticCurvePrivateKey, dict[str, Any]]:
    private = ec.generate_private_key(ec.SECP256R1())
    public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(private.public_key()))
    return private, {**public, "kid": "pub-1", "use": "sig"}


PUBLISHER_KEY, PUBLISHER_JWK = _key_pair()
OTHER_KEY, _ = _key_pair()


def statement(claims: dict[str, Any], key: Any = PUBLISHER_KEY, **header: Any) -> str:
    body = {"iss": PUBLISHER, "iat": int(time.time()), **claims}
    return jwt.encode(body, key, algorithm="ES256", headers={"kid": "pub-1", **header})


EVIL = "https://attacker.example/callback"


@asynccontextmanager
async def server(settings: Settings, clock: FrozenClock, **overrides: Any) -> AsyncIterator[Api]:
    """The app with registration settings of the test's choosing, and scopes to grant."""
    configured = Settings(**{**settings.model_dump(), **overrides})
    async with open_api(configured, clock) as api:
        for name, admin_only in (("api:read", False), ("api:write", False), ("ops", True)):
            created = await api.post(
                "/admin/v1/scopes",
                {"name": name, "description": f"The {name} scope", "admin_only": admin_only},
            )
            assert created.status_code == 201, created.text
        yield api


async def register(api: Api, body: Any, token: str | None = None, **kw: Any) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return await api.http.post("/oauth2/register", json=body, headers=headers, **kw)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def client_count(api: Api) -> int:
    return len((await api.get("/admin/v1/clients?source=dcr")).json()["items"])


def assert_error(response: Any, status: int, error: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["error"] == error, body
    assert body["error_description"]
    return body


# --- modes ---


async def test_closed_by_default(settings, clock):
    async with server(settings, clock) as api:
        assert_error(await register(api, WEB_CLIENT), 404, "not_found")
        metadata = (await api.http.get("/.well-known/oauth-authorization-server")).json()
        assert "registration_endpoint" not in metadata
        assert await client_count(api) == 0


async def test_open_registration_returns_everything_rfc7591_asks_for(settings, clock):
    async with server(settings, clock, dcr_modes="open") as api:
        metadata = (await api.http.get("/.well-known/oauth-authorization-server")).json()
        assert metadata["registration_endpoint"] == "http://127.0.0.1:8000/oauth2/register"
        response = await register(api, WEB_CLIENT)
        assert response.status_code == 201, response.text
        assert response.headers["cache-control"] == "no-store"
        body = response.json()
        assert body["client_secret"].startswith("apwcs_")
        assert body["client_secret_expires_at"] == 0
        assert body["registration_access_token"].startswith("apwrat_")
        assert body["registration_client_uri"] == (
            f"http://127.0.0.1:8000/oauth2/register/{body['client_id']}"
        )
        assert body["client_id_issued_at"] == int(clock.now().timestamp())
        assert body["redirect_uris"] == [REDIRECT]
        assert body["grant_types"] == ["authorization_code", "refresh_token"]
        assert body["response_types"] == ["code"]
        assert body["token_endpoint_auth_method"] == "client_secret_basic"
        assert body["client_name"] == "Partner App"
        assert body["scope"] == "api:read"
        record = (await api.get(f"/admin/v1/clients/{body['client_id']}")).json()
        assert record["registration_source"] == "dcr"
        assert record["status"] == "active"


async def test_unknown_and_server_policy_fields_are_ignored_not_stored(settings, clock):
    async with server(settings, clock, dcr_modes="open") as api:
        body = {
            **WEB_CLIENT,
            "x_vendor_extension": {"a": 1},
            "skip_consent": True,
            "require_pkce": False,
            "access_token_ttl": 86400,
            "client_secret": "chosen-by-me",
        }
        response = await register(api, body)
        assert response.status_code == 201, response.text
        registered = response.json()
        for name in ("x_vendor_extension", "skip_consent", "require_pkce", "access_token_ttl"):
            assert name not in registered
        assert registered["client_secret"] != "chosen-by-me"
        stored = (await api.get(f"/admin/v1/clients/{registered['client_id']}")).json()
        assert stored["metadata"]["skip_consent"] is False
        assert stored["metadata"]["require_pkce"] is True
        assert stored["metadata"]["access_token_ttl"] == 3600
        assert "x_vendor_extension" not in stored["metadata"]


async def test_public_native_client_with_loopback_redirect(settings, clock):
    async with server(settings, clock, dcr_modes="open") as api:
        response = await register(
            api,
            {
                "client_name": "CLI tool",
                "redirect_uris": ["http://127.0.0.1/callback"],
                "token_endpoint_auth_method": "none",
                "application_type": "native",
            },
        )
        assert response.status_code == 201, response.text
        body = response.json()
        assert "client_secret" not in body
        assert "client_secret_expires_at" not in body
        assert body["registration_access_token"]


# --- what a self-registered client may get ---


async def test_open_registration_cannot_get_client_credentials(settings, clock):
    async with server(settings, clock, dcr_modes="open") as api:
        response = await register(
            api, {"client_name": "svc", "grant_types": ["client_credentials"]}
        )
        body = assert_error(response, 400, "invalid_client_metadata")
        assert "client_credentials" in body["error_description"]
        assert await client_count(api) == 0


async def test_scopes_beyond_policy_are_down_scoped_and_the_response_says_so(settings, clock):
    async with server(settings, clock, dcr_modes="open") as api:
        response = await register(
            api, {**WEB_CLIENT, "scope": "api:read ops appward:admin nonexistent"}
        )
        assert response.status_code == 201, response.text
        assert response.json()["scope"] == "api:read"


async def test_scopes_beyond_policy_are_refused_when_configured(settings, clock):
    async with server(
        settings, clock, dcr_modes="open", dcr_scope_policy="refuse", dcr_scopes="api:read"
    ) as api:
        response = await register(api, {**WEB_CLIENT, "scope": "api:read api:write"})
        body = assert_error(response, 400, "invalid_client_metadata")
        assert "api:write" in body["error_description"]
        assert await client_count(api) == 0
        assert (await register(api, WEB_CLIENT)).status_code == 201


@pytest.mark.parametrize(
    "scopes", ["api:read ops", "ops", "appward:admin", "api:read appward:admin"]
)
async def test_admin_only_scopes_never_reach_a_self_registered_client(settings, clock, scopes):
    # Even a configuration that names them cannot hand them out.
    async with server(
        settings, clock, dcr_modes="open", dcr_scope_policy="refuse", dcr_scopes=scopes
    ) as api:
        response = await register(api, {**WEB_CLIENT, "scope": scopes})
        assert_error(response, 400, "invalid_client_metadata")
        assert await client_count(api) == 0


async def test_auth_methods_outside_policy_are_refused(settings, clock):
    async with server(settings, clock, dcr_modes="open", dcr_auth_methods="none") as api:
        response = await register(api, WEB_CLIENT)
        body = assert_error(response, 400, "invalid_client_metadata")
        assert "client_secret_basic" in body["error_description"]


# --- errors, each storing nothing ---


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({**WEB_CLIENT, "redirect_uris": ["http://app.example.com/cb"]}, "invalid_redirect_uri"),
        ({**WEB_CLIENT, "redirect_uris": ["https://app.example.com/cb#x"]}, "invalid_redirect_uri"),
        ({**WEB_CLIENT, "redirect_uris": ["com.example.app:/cb"]}, "invalid_redirect_uri"),
        ({**WEB_CLIENT, "redirect_uris": []}, "invalid_redirect_uri"),
        ({**WEB_CLIENT, "redirect_uris": "https://app.example.com/cb"}, "invalid_redirect_uri"),
        (
            {**WEB_CLIENT, "redirect_uris": [f"https://app.example.com/{i}" for i in range(11)]},
            "invalid_redirect_uri",
        ),
        ({**WEB_CLIENT, "client_name": 42}, "invalid_client_metadata"),
        ({**WEB_CLIENT, "client_name": "x" * 201}, "invalid_client_metadata"),
        ({**WEB_CLIENT, "logo_uri": "javascript:alert(1)"}, "invalid_client_metadata"),
        (
            {**WEB_CLIENT, "contacts": [f"a{i}@example.com" for i in range(21)]},
            "invalid_client_metadata",
        ),
        ({**WEB_CLIENT, "grant_types": ["password"]}, "invalid_client_metadata"),
        ({**WEB_CLIENT, "response_types": ["token"]}, "invalid_client_metadata"),
        (
            {**WEB_CLIENT, "token_endpoint_auth_method": "tls_client_auth"},
            "invalid_client_metadata",
        ),
        (
            {**WEB_CLIENT, "jwks": {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}},
            "invalid_client_metadata",
        ),
        ({**WEB_CLIENT, "client_name": "bad\u202ename"}, "invalid_client_metadata"),
        ({**WEB_CLIENT, "client_name": "nul\x00"}, "invalid_client_metadata"),
        ([WEB_CLIENT], "invalid_client_metadata"),
        ("just a string", "invalid_client_metadata"),
    ],
)
async def test_bad_metadata_gets_the_rfc7591_error_and_stores_nothing(settings, clock, body, error):
    async with server(settings, clock, dcr_modes="open") as api:
        assert_error(await register(api, body), 400, error)
        assert await client_count(api) == 0


@pytest.mark.parametrize(
    ("content", "content_type", "status"),
    [
        (b"{not json", "application/json", 400),
        (b"[" * 100_000 + b"]" * 100_000, "application/json", 413),
        (b"[" * 5000 + b"]" * 5000, "application/json", 400),
        (json.dumps(WEB_CLIENT).encode(), "application/x-www-form-urlencoded", 400),
        (
            json.dumps({**WEB_CLIENT, "client_uri": "https://e.com/" + "a" * 17000}).encode(),
            "application/json",
            413,
        ),
    ],
)
async def test_malformed_or_oversized_bodies_are_refused(
    settings, clock, content, content_type, status
):
    async with server(settings, clock, dcr_modes="open") as api:
        response = await api.http.post(
            "/oauth2/register", content=content, headers={"Content-Type": content_type}
        )
        assert response.status_code == status, response.text
        assert response.json()["error"] in ("invalid_client_metadata", "invalid_request")
        assert await client_count(api) == 0


async def test_rate_limit_per_source_address(settings, clock):
    async with server(settings, clock, dcr_modes="open", dcr_rate_limit=3) as api:
        statuses = [(await register(api, {"x": 1})).status_code for _ in range(3)]
        assert statuses == [400, 400, 400]  # failures count too
        limited = await register(api, WEB_CLIENT)
        assert_error(limited, 429, "too_many_attempts")
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        assert await client_count(api) == 0
        clock.advance(61)
        assert (await register(api, WEB_CLIENT)).status_code == 201


async def test_no_url_from_the_metadata_is_fetched(settings, clock, monkeypatch):
    """SSRF: registration takes logo_uri, jwks_uri and the rest as data, never as targets."""
    attempts: list[object] = []
    real_connect = socket.socket.connect

    def watched_connect(self: socket.socket, address: Any) -> Any:
        attempts.append(address)
        return real_connect(self, address)

    async with server(settings, clock, dcr_modes="open") as api:
        monkeypatch.setattr(socket.socket, "connect", watched_connect)
        response = await register(
            api,
            {
                **WEB_CLIENT,
                # A name is data here; a literal private address is refused outright
                # (test_a_literal_private_jwks_uri_is_refused).
                "jwks_uri": "https://jwks.internal.example/jwks.json",
                "logo_uri": "https://169.254.169.254/latest/meta-data/",
                "client_uri": "https://192.168.1.1/",
                "tos_uri": "https://[fd00::1]/tos",
            },
        )
        monkeypatch.undo()
        assert response.status_code == 201, response.text
        assert not [a for a in attempts if "127.0.0.1" not in str(a)], attempts


@pytest.mark.parametrize(
    "uri", ["https://10.0.0.1/jwks.json", "https://169.254.169.254/", "http://127.0.0.1/jwks"]
)
async def test_a_literal_private_jwks_uri_is_refused(settings, clock, uri):
    async with server(settings, clock, dcr_modes="open") as api:
        response = await register(api, {**WEB_CLIENT, "jwks_uri": uri})
        assert_error(response, 400, "invalid_client_metadata")
        assert await client_count(api) == 0


# --- initial access tokens ---


async def create_iat(api: Api, **body: Any) -> dict[str, Any]:
    response = await api.post("/admin/v1/initial-access-tokens", body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def test_initial_access_token_mode(settings, clock):
    async with server(settings, clock, dcr_modes="initial_access_token") as api:
        missing = await register(api, WEB_CLIENT)
        assert_error(missing, 401, "invalid_token")
        # RFC 6750 §3.1: no error code in the challenge when no token was sent.
        assert missing.headers["www-authenticate"] == 'Bearer realm="appward"'
        wrong = await register(api, WEB_CLIENT, "apwiat_wrong")
        assert wrong.headers["www-authenticate"] == 'Bearer realm="appward", error="invalid_token"'
        assert_error(await register(api, WEB_CLIENT, "apwiat_wrong"), 401, "invalid_token")
        assert_error(await register(api, WEB_CLIENT, "not-even-ours"), 401, "invalid_token")
        token = await create_iat(api, label="partner onboarding", max_uses=2)
        assert token["token"].startswith("apwiat_")
        assert (await register(api, WEB_CLIENT, token["token"])).status_code == 201
        listed = (await api.get("/admin/v1/initial-access-tokens")).json()["items"]
        assert [(t["id"], t["uses"], "token" in t) for t in listed] == [(token["id"], 1, False)]


async def test_initial_access_token_use_count_expiry_and_revocation(settings, clock):
    async with server(settings, clock, dcr_modes="initial_access_token") as api:
        once = await create_iat(api, max_uses=1)
        # A failed registration does not use the token up.
        bad = await register(
            api, {**WEB_CLIENT, "redirect_uris": ["http://x.example"]}, once["token"]
        )
        assert_error(bad, 400, "invalid_redirect_uri")
        assert (await register(api, WEB_CLIENT, once["token"])).status_code == 201
        assert_error(await register(api, WEB_CLIENT, once["token"]), 401, "invalid_token")

        short = await create_iat(api, expires_in=60)
        clock.advance(60)
        assert_error(await register(api, WEB_CLIENT, short["token"]), 401, "invalid_token")

        revoked = await create_iat(api)
        assert (
            await api.delete(f"/admin/v1/initial-access-tokens/{revoked['id']}")
        ).status_code == 204
        assert_error(await register(api, WEB_CLIENT, revoked["token"]), 401, "invalid_token")
        assert await client_count(api) == 1


async def test_a_token_template_can_allow_client_credentials_within_its_scopes(settings, clock):
    async with server(settings, clock, dcr_modes="initial_access_token") as api:
        token = await create_iat(api, grant_types=["client_credentials"], scopes=["api:read"])
        response = await register(
            api,
            {
                "client_name": "partner service",
                "grant_types": ["client_credentials"],
                "scope": "api:read api:write",
            },
            token["token"],
        )
        assert response.status_code == 201, response.text
        client = response.json()
        assert client["scope"] == "api:read"
        issued = await api.client_credentials(client["client_id"], client["client_secret"])
        assert issued.status_code == 200, issued.text
        assert issued.json()["scope"] == "api:read"
        beyond = await api.client_credentials(
            client["client_id"], client["client_secret"], scope="api:write"
        )
        assert_error(beyond, 400, "invalid_scope")
        code_flow = await register(
            api, WEB_CLIENT, (await create_iat(api, grant_types=["client_credentials"]))["token"]
        )
        assert_error(code_flow, 400, "invalid_client_metadata")


@pytest.mark.parametrize(
    "body",
    [
        {"scopes": ["ops"]},
        {"scopes": ["appward:admin"]},
        {"scopes": ["nonexistent"]},
        {"grant_types": ["password"]},
        {"grant_types": []},
        {"max_uses": 0},
        {"expires_in": -5},
        {"label": "x" * 101},
        {"unknown": 1},
    ],
)
async def test_initial_access_token_templates_are_validated(settings, clock, body):
    async with server(settings, clock, dcr_modes="initial_access_token") as api:
        response = await api.post("/admin/v1/initial-access-tokens", body)
        assert response.status_code == 400, response.text
        assert response.json()["error"] == "invalid_input"
        assert (await api.get("/admin/v1/initial-access-tokens")).json()["items"] == []


async def test_an_unknown_initial_access_token_field_is_named_as_such(settings, clock):
    """The body is an initial access token's, not client metadata: the error says so."""
    async with server(settings, clock, dcr_modes="initial_access_token") as api:
        response = await api.post("/admin/v1/initial-access-tokens", {"label": "x", "redirect": 1})
        assert response.status_code == 400, response.text
        problem = response.json()
        assert problem["errors"] == [
            {"field": "redirect", "message": "is not a known initial access token field"}
        ]
        assert "client metadata" not in response.text
        assert (await api.get("/admin/v1/initial-access-tokens")).json()["items"] == []


async def test_initial_access_tokens_need_the_admin_scope(settings, clock):
    async with server(settings, clock, dcr_modes="initial_access_token") as api:
        anonymous = await api.http.post("/admin/v1/initial-access-tokens", json={})
        assert anonymous.status_code == 401
        token = await create_iat(api)
        # An initial access token is no admin token.
        assert (
            await api.http.get("/admin/v1/initial-access-tokens", headers=bearer(token["token"]))
        ).status_code == 401


# --- software statements ---


def publishers() -> dict[str, Any]:
    return {PUBLISHER: {"keys": [PUBLISHER_JWK]}}


def statement_server(settings: Settings, clock: FrozenClock) -> Any:
    """The app admitting registrations with a statement from the test publisher only."""
    return server(
        settings,
        clock,
        dcr_modes="software_statement",
        dcr_software_statement_publishers=publishers(),
    )


async def test_software_statement_claims_override_the_request(settings, clock):
    async with statement_server(settings, clock) as api:
        signed = statement(
            {
                "software_id": "partner-app",
                "client_name": "Vetted Name",
                "redirect_uris": [REDIRECT],
            }
        )
        response = await register(
            api,
            {
                **WEB_CLIENT,
                "client_name": "Self-chosen",
                "redirect_uris": ["https://evil.example/cb"],
                "software_statement": signed,
            },
        )
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["client_name"] == "Vetted Name"
        assert body["redirect_uris"] == [REDIRECT]
        assert body["software_id"] == "partner-app"


@pytest.mark.parametrize(
    ("make", "error"),
    [
        (lambda: None, "invalid_software_statement"),  # none presented
        (lambda: "not-a-jwt", "invalid_software_statement"),
        (
            lambda: jwt.encode({"iss": PUBLISHER}, None, algorithm="none"),
            "invalid_software_statement",
        ),
        (
            lambda: jwt.encode({"iss": PUBLISHER}, "k" * 32, algorithm="HS256"),
            "invalid_software_statement",
        ),
        (lambda: statement({}, key=OTHER_KEY), "invalid_software_statement"),
        (lambda: statement({}, kid="another"), "invalid_software_statement"),
        (lambda: statement({"exp": FROZEN_NOW - 3600}), "invalid_software_statement"),
        (lambda: statement({"nbf": FROZEN_NOW + 3600}), "invalid_software_statement"),
        (lambda: statement({"exp": "tomorrow"}), "invalid_software_statement"),
        (lambda: statement({"iss": "https://stranger.example"}), "unapproved_software_statement"),
        (
            lambda: statement({"iss": "https://stranger.example"}, key=OTHER_KEY),
            "unapproved_software_statement",
        ),
        (lambda: 12345, "invalid_software_statement"),
    ],
)
async def test_bad_software_statements_are_refused(settings, clock, make, error):
    async with statement_server(settings, clock) as api:
        body = dict(WEB_CLIENT)
        value = make()
        if value is not None:
            body["software_statement"] = value
        assert_error(await register(api, body), 400, error)
        assert await client_count(api) == 0


async def test_modes_combine(settings, clock):
    async with server(
        settings,
        clock,
        dcr_modes="initial_access_token,software_statement",
        dcr_software_statement_publishers=publishers(),
    ) as api:
        neither = await register(api, WEB_CLIENT)
        body = assert_error(neither, 401, "invalid_token")
        assert "software statement" in body["error_description"]
        token = await create_iat(api)
        assert (await register(api, WEB_CLIENT, token["token"])).status_code == 201
        signed = statement({"software_id": "x"})
        assert (
            await register(api, {**WEB_CLIENT, "software_statement": signed})
        ).status_code == 201
        assert await client_count(api) == 2


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("dcr_auth_methods", "client_secret_basic,self_signed_tls_client_auth"),
        ("dcr_auth_methods", "tls_client_auth"),
        ("dcr_grant_types", "authorization_code,password"),
    ],
)
def test_the_server_refuses_to_start_offering_what_it_cannot_do(settings, variable, value):
    """A method the token endpoint cannot authenticate, or a grant it does not serve, in
    the DCR policy stops the app at start with one line naming the variable."""
    configured = Settings(**{**settings.model_dump(), "dcr_modes": "open", variable: value})
    with pytest.raises(SystemExit) as refused:
        create_app(configured)
    message = str(refused.value.code)
    assert message.startswith(f"invalid configuration: APPWARD_{variable.upper()}: ")
    assert "\n" not in message
    assert "supported: " in message


def test_appward_serve_stops_at_start_on_an_unsupported_dcr_method(settings):
    env = {k: None for k in os.environ if k.startswith("APPWARD_")}
    bad = {"APPWARD_DCR_MODES": "open", "APPWARD_DCR_AUTH_METHODS": "none,tls_client_auth"}
    result = CliRunner().invoke(
        cli_app, ["serve", "--port", "0"], env={**env, **settings_env(settings), **bad}
    )
    assert result.exit_code == 2
    assert result.output.strip() == (
        "appward: invalid configuration: APPWARD_DCR_AUTH_METHODS: not supported: tls_client_auth; "
        "supported: client_secret_basic, client_secret_post, none, private_key_jwt, "
        "client_secret_jwt"
    )


def test_software_statement_mode_needs_a_publisher(settings):
    with pytest.raises(ValueError, match="PUBLISHERS"):
        Settings(**{**settings.model_dump(), "dcr_modes": "software_statement"})


@pytest.mark.parametrize(
    "publishers_json",
    [
        {PUBLISHER: {"keys": [{"kty": "oct", "k": "c2VjcmV0c2VjcmV0"}]}},
        {PUBLISHER: {"nokeys": []}},
    ],
)
def test_publisher_keys_must_be_usable_public_keys(settings, publishers_json):
    with pytest.raises(ValueError, match="dcr_software_statement_publishers"):
        Settings(**{**settings.model_dump(), "dcr_software_statement_publishers": publishers_json})


# --- RFC 7592 management ---


async def registered(
    api: Api, body: dict[str, Any] | None = None, token: str | None = None
) -> dict[str, Any]:
    response = await register(api, body or WEB_CLIENT, token)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def test_read_returns_the_registration_without_secrets(settings, clock):
    async with server(settings, clock, dcr_modes="open") as api:
        client = await registered(api)
        response = await api.http.get(
            client["registration_client_uri"].removeprefix("http://127.0.0.1:8000"),
            headers=bearer(client["registration_access_token"]),
        )
        assert response.status_code == 200, response.text
        assert response.headers["cache-control"] == "no-store"
        body = response.json()
        assert body["client_id"] == client["client_id"]
        assert body["redirect_uris"] == [REDIRECT]
        assert "client_secret" not in body
        assert "registration_access_token" not in body


async def test_a_registration_token_manages_only_its_own_client(settings, clock):
    async with server(settings, clock, dcr_modes="open") as api:
        a = await registered(api)
        b = await registered(api)
        url_b = f"/oauth2/register/{b['client_id']}"
        answers = []
        for method in ("GET", "PUT", "DELETE"):
            for headers in (
                bearer(a["registration_access_token"]),  # A's token on B
                bearer("apwrat_wrong"),
                {},
                {"Authorization": f"Basic {a['registration_access_token']}"},
            ):
                response = await api.http.request(
                    method, url_b, headers=headers, json={**WEB_CLIENT, "client_id": b["client_id"]}
                )
                answers.append((response.status_code, response.json()))
            unknown = await api.http.request(
                method,
                "/oauth2/register/doesnotexist",
                headers=bearer(a["registration_access_token"]),
                json={**WEB_CLIENT, "client_id": "doesnotexist"},
            )
            answers.append((unknown.status_code, unknown.json()))
        # One answer for all: nothing tells whether B or the unknown id exists.
        assert {json.dumps(a, sort_keys=True) for a in answers} == {
            json.dumps(
                (
                    401,
                    {
                        "error": "invalid_token",
                        "error_description": REFUSED_RAT,
                    },
                ),
                sort_keys=True,
            )
        }
        still = await api.get(f"/admin/v1/clients/{b['client_id']}")
        assert still.json()["metadata"]["client_name"] == "Partner App"


async def test_replace_resets_omitted_fields_and_rotates_the_token(settings, clock):
    async with server(settings, clock, dcr_modes="open") as api:
        client = await registered(api, {**WEB_CLIENT, "client_uri": "https://app.example.com"})
        url = f"/oauth2/register/{client['client_id']}"
        new_body = {
            "client_id": client["client_id"],
            "redirect_uris": ["https://app.example.com/v2/callback"],
            "grant_types": ["authorization_code"],
            "scope": "api:read api:write ops",
        }
        response = await api.http.put(
            url, json=new_body, headers=bearer(client["registration_access_token"])
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["redirect_uris"] == ["https://app.example.com/v2/callback"]
        assert "client_uri" not in body  # reset to defaults
        assert "client_name" not in body
        assert body["scope"] == "api:read api:write"  # down-scoped: ops is admin-only
        assert body["registration_access_token"] != client["registration_access_token"]
        old = await api.http.get(url, headers=bearer(client["registration_access_token"]))
        assert_error(old, 401, "invalid_token")
        assert (
            await api.http.get(url, headers=bearer(body["registration_access_token"]))
        ).status_code == 200
        # The secret is untouched: the client keeps authenticating with it.
        assert (await api.client_credentials(client["client_id"], client["client_secret"])).json()[
            "error"
        ] == "unauthorized_client"


async def test_replace_validates_like_registration(settings, clock):
    async with server(settings, clock, dcr_modes="open") as api:
        client = await registered(api)
        url = f"/oauth2/register/{client['client_id']}"
        token = bearer(client["registration_access_token"])
        cases = [
            ({**WEB_CLIENT}, "invalid_client_metadata"),  # no client_id
            ({**WEB_CLIENT, "client_id": "someoneelse"}, "invalid_client_metadata"),
            (
                {
                    **WEB_CLIENT,
                    "client_id": client["client_id"],
                    "client_secret": "apwcs_0000000000000000_wrong",
                },
                "invalid_client_metadata",
            ),
            (
                {
                    **WEB_CLIENT,
                    "client_id": client["client_id"],
                    "grant_types": ["client_credentials"],
                },
                "invalid_client_metadata",
            ),
            (
                {
                    **WEB_CLIENT,
                    "client_id": client["client_id"],
                    "redirect_uris": ["http://evil.example"],
                },
                "invalid_redirect_uri",
            ),
        ]
        for body, error in cases:
            assert_error(await api.http.put(url, json=body, headers=token), 400, error)
        # Nothing changed, and the token was not rotated by the failures.
        current = await api.http.get(url, headers=token)
        assert current.status_code == 200
        assert current.json()["client_name"] == "Partner App"
        matching = {
            **WEB_CLIENT,
            "client_id": client["client_id"],
            "client_secret": client["client_secret"],
            "client_name": "Renamed",
        }
        renamed = await api.http.put(url, json=matching, headers=token)
        assert renamed.status_code == 200, renamed.text
        assert renamed.json()["client_name"] == "Renamed"


async def test_delete_stops_the_client_its_secret_and_its_token_at_once(settings, clock):
    async with server(settings, clock, dcr_modes="open") as api:
        service = await create_iat(api)  # unused here; the list must be unaffected
        client = await registered(api, {**WEB_CLIENT, "grant_types": ["authorization_code"]})
        url = f"/oauth2/register/{client['client_id']}"
        token = bearer(client["registration_access_token"])
        assert (await api.http.delete(url, headers=token)).status_code == 204
        assert_error(await api.http.get(url, headers=token), 401, "invalid_token")
        assert_error(await api.http.delete(url, headers=token), 401, "invalid_token")
        assert (await api.get(f"/admin/v1/clients/{client['client_id']}")).status_code == 404
        refused = await api.http.post(
            "/oauth2/token",
            data={
                "grant_type": "authorization_code",
                "code": "x",
                "code_verifier": "y" * 43,
                "redirect_uri": REDIRECT,
            },
            headers=basic(client["client_id"], client["client_secret"]),
        )
        assert_error(refused, 401, "invalid_client")
        assert service["id"]


# --- a registered client in use ---


async def test_a_self_registered_client_gets_exactly_what_its_metadata_allows(settings, clock):
    async with server(settings, clock, dcr_modes="open") as api:
        assert (
            await api.post("/admin/v1/users", {"username": "alice", "password": PASSWORD})
        ).status_code == 201
        client = await registered(api)
        browser = Browser(api.http)
        consent = await browser.consent_page(client["client_id"])
        assert 'id="unverified"' in consent.text
        assert "Partner App" in consent.text

        verifier, challenge = pkce_pair()
        request = {
            "response_type": "code",
            "client_id": client["client_id"],
            "redirect_uri": REDIRECT,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        result = await browser.code_for(**request, scope="api:read", state="s1")
        assert result["state"] == "s1"
        tokens = await api.http.post(
            "/oauth2/token",
            data={
                "grant_type": "authorization_code",
                "code": result["code"],
                "code_verifier": verifier,
                "redirect_uri": REDIRECT,
            },
            headers=basic(client["client_id"], client["client_secret"]),
        )
        assert tokens.status_code == 200, tokens.text
        assert tokens.json()["scope"] == "api:read"
        assert tokens.json()["refresh_token"]

        beyond = await browser.authorize(**request, scope="api:write", state="s2")
        assert beyond.status_code == 303
        assert "error=invalid_scope" in beyond.headers["location"]
        no_cc = await api.client_credentials(client["client_id"], client["client_secret"])
        assert_error(no_cc, 400, "unauthorized_client")

        # An admin sees the client among self-registered ones and can disable it.
        listed = (await api.get("/admin/v1/clients?source=dcr")).json()["items"]
        assert [c["client_id"] for c in listed] == [client["client_id"]]
        assert (
            await api.post(f"/admin/v1/clients/{client['client_id']}/disable")
        ).status_code == 200
        refresh = await api.http.post(
            "/oauth2/token",
            data={"grant_type": "refresh_token", "refresh_token": tokens.json()["refresh_token"]},
            headers=basic(client["client_id"], client["client_secret"]),
        )
        assert_error(refresh, 401, "invalid_client")


@pytest.mark.parametrize(
    "method",
    ["tls_client_auth", "self_signed_tls_client_auth"],
)
async def test_a_method_the_token_endpoint_cannot_enforce_is_refused_at_registration(
    settings, clock, method
):
    """The bug: a self-registered private_key_jwt client was created, then could never get
    a token. Nothing this server cannot enforce may be registered (RFC 7591 §3.2.2)."""
    async with server(settings, clock, dcr_modes="open") as api:
        before = (await api.get("/admin/v1/clients")).json()["items"]
        response = await register(
            api,
            {
                **WEB_CLIENT,
                "token_endpoint_auth_method": method,
                "jwks": {"keys": [PUBLISHER_JWK]},
            },
        )
        assert_error(response, 400, "invalid_client_metadata")
        assert (await api.get("/admin/v1/clients")).json()["items"] == before
        metadata = (await api.http.get("/.well-known/oauth-authorization-server")).json()
        assert method not in metadata["token_endpoint_auth_methods_supported"]


@pytest.mark.parametrize("auth_methods", ["client_secret_basic,none"])
async def test_private_key_jwt_is_refused_by_the_dcr_policy(settings, clock, auth_methods):
    """DCR's allowed methods are the registry's (auth.registry) or fewer: a method the
    policy leaves out is refused (by default private_key_jwt is allowed:
    test_private_key_jwt_registration.py)."""
    overrides = {"dcr_auth_methods": auth_methods}
    async with server(settings, clock, dcr_modes="open", **overrides) as api:
        response = await register(
            api,
            {
                **WEB_CLIENT,
                "token_endpoint_auth_method": "private_key_jwt",
                "jwks": {"keys": [PUBLISHER_JWK]},
            },
        )
        body = assert_error(response, 400, "invalid_client_metadata")
        assert "private_key_jwt" in body["error_description"]
        assert await client_count(api) == 0


async def test_every_method_the_token_endpoint_supports_can_register_by_default(settings, clock):
    async with server(settings, clock, dcr_modes="open") as api:
        for method in ("client_secret_basic", "client_secret_post", "none"):
            response = await register(api, {**WEB_CLIENT, "token_endpoint_auth_method": method})
            assert response.status_code == 201, response.text


async def test_no_credential_is_stored_or_audited_in_plaintext(settings, clock):
    async with server(settings, clock, dcr_modes="initial_access_token") as api:
        iat = await create_iat(api)
        client = await registered(api, token=iat["token"])
        put = await api.http.put(
            f"/oauth2/register/{client['client_id']}",
            json={**WEB_CLIENT, "client_id": client["client_id"]},
            headers=bearer(client["registration_access_token"]),
        )
        assert put.status_code == 200
        events = (await api.get("/admin/v1/audit-events?limit=200")).json()["items"]
        actions = [e["action"] for e in events]
        assert "dcr:registered" in actions
        assert "dcr:replaced" in actions
        registered_event = next(e for e in events if e["action"] == "dcr:registered")
        assert registered_event["actor"] == "dcr"
        assert registered_event["changes"]["initial_access_token"] == iat["id"]
        dump = json.dumps(events)
        for plaintext in (
            iat["token"],
            client["client_secret"],
            client["registration_access_token"],
            put.json()["registration_access_token"],
        ):
            assert plaintext not in dump
        state = api.app.state.appward
        async with state.sessions()() as session:
            from sqlalchemy import text

            rows = []
            for table in (
                "initial_access_tokens",
                "registration_tokens",
                "client_secrets",
                "clients",
            ):
                rows += [
                    str(tuple(r))
                    for r in (await session.execute(text(f"SELECT * FROM {table}"))).all()
                ]
        stored = "\n".join(rows)
        for plaintext in (
            iat["token"],
            client["client_secret"],
            put.json()["registration_access_token"],
        ):
            assert plaintext not in stored
            assert plaintext.split("_", 1)[1] not in stored


async def test_a_single_use_token_registers_once_under_concurrency(settings, clock):
    async with server(settings, clock, dcr_modes="initial_access_token") as api:
        once = await create_iat(api, max_uses=1)
        responses = await asyncio.gather(
            *(register(api, WEB_CLIENT, once["token"]) for _ in range(5))
        )
        statuses = sorted(r.status_code for r in responses)
        assert statuses[0] == 201
        assert set(statuses[1:]) <= {401, 503}  # 503 only if the database was busy
        assert statuses.count(201) == 1
        assert await client_count(api) == 1


async def forget_rate_counts(redis_url: str) -> None:
    # Every test runs at the same frozen time, so in the same window: start from zero.
    redis = Redis.from_url(redis_url)
    try:
        async for key in redis.scan_iter(match="appward:rate:registrations:*"):
            await redis.delete(key)
    finally:
        await redis.aclose()


async def test_rate_limit_is_shared_through_redis(settings, clock, redis_url):
    # Two app instances, as two hosts would be: the second sees the first one's count.
    overrides = {"dcr_modes": "open", "dcr_rate_limit": 2, "redis_url": redis_url}
    async with server(settings, clock, **overrides) as first:
        await forget_rate_counts(redis_url)
        assert (await register(first, WEB_CLIENT)).status_code == 201
        second_settings = {**overrides, "data_dir": settings.data_dir / "second"}
        async with open_api(
            Settings(**{**settings.model_dump(), **second_settings}), clock
        ) as second:
            assert (await register(second, WEB_CLIENT)).status_code == 201
            limited = await register(second, WEB_CLIENT)
            assert_error(limited, 429, "too_many_attempts")
            assert_error(await register(first, WEB_CLIENT), 429, "too_many_attempts")


async def test_localized_names_are_stored_returned_and_shown_by_language(settings, clock):
    async with server(settings, clock, dcr_modes="open") as api:
        assert (
            await api.post("/admin/v1/users", {"username": "alice", "password": PASSWORD})
        ).status_code == 201
        client = await registered(
            api,
            {
                **WEB_CLIENT,
                "client_name#fr": "Appli Partenaire",
                "client_name#de-CH": "Partner-App",
            },
        )
        assert client["client_name#fr"] == "Appli Partenaire"
        assert client["client_name#de-CH"] == "Partner-App"
        read = await api.http.get(
            f"/oauth2/register/{client['client_id']}",
            headers=bearer(client["registration_access_token"]),
        )
        assert read.json()["client_name#fr"] == "Appli Partenaire"
        for language, shown in (
            ("fr-CA, en;q=0.5", "Appli Partenaire"),
            ("de;q=0.9, fr;q=0.1", "Partner-App"),
            ("ja", "Partner App"),
        ):
            api.http.headers["Accept-Language"] = language
            consent = await Browser(api.http).consent_page(client["client_id"])
            assert f'<h1 id="client-name">{shown}</h1>' in consent.text, language
            api.http.cookies.clear()


@pytest.mark.parametrize(
    "extra",
    [
        {"client_name#not a tag": "x"},
        {"client_name#fr": 42},
        {"client_name#fr": "bad\u202e"},
        {f"client_name#l{i:02d}": "x" for i in range(21)},
    ],
)
async def test_bad_localized_names_are_refused(settings, clock, extra):
    async with server(settings, clock, dcr_modes="open") as api:
        assert_error(await register(api, {**WEB_CLIENT, **extra}), 400, "invalid_client_metadata")


async def test_the_software_statement_is_returned_unmodified(settings, clock):
    async with statement_server(settings, clock) as api:
        signed = statement({"software_id": "partner-app", "software_version": "1.0"})
        client = await registered(api, {**WEB_CLIENT, "software_statement": signed})
        assert client["software_statement"] == signed
        url = f"/oauth2/register/{client['client_id']}"
        token = bearer(client["registration_access_token"])
        assert (await api.http.get(url, headers=token)).json()["software_statement"] == signed
        newer = statement({"software_id": "partner-app", "software_version": "2.0"})
        replaced = await api.http.put(
            url,
            json={
                **WEB_CLIENT,
                "client_id": client["client_id"],
                "software_version": "9.9",
                "software_statement": newer,
            },
            headers=token,
        )
        assert replaced.status_code == 200, replaced.text
        assert replaced.json()["software_version"] == "2.0"  # the statement wins
        assert replaced.json()["software_statement"] == newer
        forged = await api.http.put(
            url,
            json={
                **WEB_CLIENT,
                "client_id": client["client_id"],
                "software_statement": statement({}, key=OTHER_KEY),
            },
            headers=bearer(replaced.json()["registration_access_token"]),
        )
        assert_error(forged, 400, "invalid_software_statement")


@pytest.mark.parametrize(
    "uri", ["http://127.0.0.1", "http://127.0.0.1:8080/cb", "http://[::1]/cb", "https://a.example"]
)
async def test_https_and_loopback_redirect_uris_are_accepted(settings, clock, uri):
    async with server(settings, clock, dcr_modes="open") as api:
        response = await register(api, {**WEB_CLIENT, "redirect_uris": [uri]})
        assert response.status_code == 201, response.text


# --- regressions from the security review ---


async def test_an_update_without_the_statement_keeps_its_vetted_claims(settings, clock):
    async with statement_server(settings, clock) as api:
        signed = statement(
            {"client_name": "Vetted Name", "redirect_uris": [REDIRECT], "software_id": "app"}
        )
        client = await registered(api, {**WEB_CLIENT, "software_statement": signed})
        url = f"/oauth2/register/{client['client_id']}"
        response = await api.http.put(
            url,
            json={
                "client_id": client["client_id"],
                "client_name": "PayPal Official",
                "client_name#en": "PayPal Official",
                "redirect_uris": ["https://attacker.example/cb"],
                "software_id": "bank-app",
            },
            headers=bearer(client["registration_access_token"]),
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["client_name"] == "Vetted Name"
        assert "client_name#en" not in body
        assert body["redirect_uris"] == [REDIRECT]
        assert body["software_id"] == "app"
        assert body["software_statement"] == signed


async def test_sending_back_the_stored_statement_works_after_it_expired(settings, clock):
    async with statement_server(settings, clock) as api:
        signed = statement({"software_id": "app", "exp": FROZEN_NOW + 60})
        client = await registered(api, {**WEB_CLIENT, "software_statement": signed})
        clock.advance(3600)
        url = f"/oauth2/register/{client['client_id']}"
        token = bearer(client["registration_access_token"])
        current = (await api.http.get(url, headers=token)).json()
        echoed = {k: v for k, v in current.items() if k != "registration_client_uri"}
        response = await api.http.put(url, json=echoed, headers=token)
        assert response.status_code == 200, response.text
        assert response.json()["software_statement"] == signed


async def test_localized_names_cannot_shadow_the_statement_name(settings, clock):
    async with statement_server(settings, clock) as api:
        signed = statement({"client_name": "Vetted Name"})
        client = await registered(
            api,
            {**WEB_CLIENT, "software_statement": signed, "client_name#en": "Google Drive"},
        )
        assert client["client_name"] == "Vetted Name"
        assert "client_name#en" not in client


URIS = b'{"redirect_uris": ["https://app.example.com/callback"], '


@pytest.mark.parametrize(
    "raw",
    [
        URIS + b'"grant_types": ["authorization_code", "\\ud800"]}',
        URIS + b'"scope": "api:read \\udfff"}',
        URIS + b'"software_statement": "\\ud800"}',
        URIS + b'"\\ud800": 1}',
        URIS + b'"x": NaN}',
        URIS + b'"x": -Infinity}',
        URIS + b'"x": ' + b"[" * 40 + b"]" * 40 + b"}",
    ],
)
async def test_json_that_python_accepts_but_is_not_proper_json_gets_a_400(settings, clock, raw):
    async with server(settings, clock, dcr_modes="open", dcr_scope_policy="refuse") as api:
        response = await api.http.post(
            "/oauth2/register", content=raw, headers={"Content-Type": "application/json"}
        )
        assert_error(response, 400, "invalid_client_metadata")
        client = await registered(api)
        put = await api.http.put(
            f"/oauth2/register/{client['client_id']}",
            content=raw,
            headers={
                "Content-Type": "application/json",
                **bearer(client["registration_access_token"]),
            },
        )
        assert_error(put, 400, "invalid_client_metadata")
        admin = await api.http.post(
            "/admin/v1/clients",
            content=raw,
            headers={"Content-Type": "application/json", **api.auth},
        )
        assert admin.status_code == 400, admin.text
        assert await client_count(api) == 1


async def test_only_public_jwk_members_are_kept(settings, clock):
    async with server(settings, clock, dcr_modes="open") as api:
        jwk = {**PUBLISHER_JWK, "ext": True, "x-note": "a" * 1000}
        client = await registered(api, {**WEB_CLIENT, "jwks": {"keys": [jwk]}})
        assert client["jwks"] == {"keys": [PUBLISHER_JWK]}
        bad = {**PUBLISHER_JWK, "kid": 7}
        response = await register(api, {**WEB_CLIENT, "jwks": {"keys": [bad]}})
        assert_error(response, 400, "invalid_client_metadata")


async def test_management_requests_count_against_the_rate_limit(settings, clock):
    async with server(settings, clock, dcr_modes="open", dcr_rate_limit=3) as api:
        client = await registered(api)
        url = f"/oauth2/register/{client['client_id']}"
        token = bearer(client["registration_access_token"])
        assert (await api.http.get(url, headers=token)).status_code == 200
        assert (await api.http.get(url, headers=bearer("apwrat_guess"))).status_code == 401
        assert_error(await api.http.get(url, headers=token), 429, "too_many_attempts")


async def test_management_is_rate_limited_with_registration_closed_too(settings, clock):
    """Registrations made while DCR was open keep their RFC 7592 endpoint after it closes;
    a PUT there can cost an argon2 run, so those requests count as well."""
    async with server(settings, clock, dcr_modes="open") as api:
        client = await registered(api)
    closed = Settings(**{**settings.model_dump(), "dcr_modes": ("closed",), "dcr_rate_limit": 2})
    async with open_api(closed, clock) as api:
        url = f"/oauth2/register/{client['client_id']}"
        token = bearer(client["registration_access_token"])
        assert (await api.http.get(url, headers=token)).status_code == 200
        assert (await api.http.get(url, headers=token)).status_code == 200
        assert_error(await api.http.get(url, headers=token), 429, "too_many_attempts")


async def test_a_disabled_client_cannot_manage_its_registration(settings, clock):
    """Else it could change its redirect URIs while disabled and come back, re-enabled,
    with metadata no administrator reviewed."""
    async with server(settings, clock, dcr_modes="open") as api:
        client = await registered(api)
        url = f"/oauth2/register/{client['client_id']}"
        token = bearer(client["registration_access_token"])
        disabled = await api.post(f"/admin/v1/clients/{client['client_id']}/disable")
        assert disabled.status_code == 200, disabled.text
        assert_error(await api.http.get(url, headers=token), 401, "invalid_token")
        body = {**WEB_CLIENT, "client_id": client["client_id"], "redirect_uris": [EVIL]}
        assert_error(await api.http.put(url, json=body, headers=token), 401, "invalid_token")
        assert_error(await api.http.delete(url, headers=token), 401, "invalid_token")
        await api.post(f"/admin/v1/clients/{client['client_id']}/enable")
        current = await api.http.get(url, headers=token)
        assert current.status_code == 200
        assert current.json()["redirect_uris"] == client["redirect_uris"]


async def test_concurrent_updates_with_one_token_rotate_it_once(settings, clock):
    async with server(settings, clock, dcr_modes="open") as api:
        client = await registered(api)
        url = f"/oauth2/register/{client['client_id']}"
        token = bearer(client["registration_access_token"])
        body = {**WEB_CLIENT, "client_id": client["client_id"]}
        responses = await asyncio.gather(
            *(
                api.http.put(url, json={**body, "client_name": f"n{i}"}, headers=token)
                for i in range(5)
            )
        )
        winners = [r for r in responses if r.status_code == 200]
        assert len(winners) == 1, [r.status_code for r in responses]
        assert {r.status_code for r in responses} - {200} <= {401}
        new_token = bearer(winners[0].json()["registration_access_token"])
        current = (await api.http.get(url, headers=new_token)).json()
        assert current["client_name"] == winners[0].json()["client_name"]


async def test_delete_makes_tokens_issued_before_it_inactive(settings, clock):
    async with server(settings, clock, dcr_modes="initial_access_token") as api:
        iat = await create_iat(api, grant_types=["client_credentials"], scopes=["api:read"])
        client = await registered(
            api,
            {"client_name": "svc", "grant_types": ["client_credentials"], "scope": "api:read"},
            iat["token"],
        )
        issued = await api.client_credentials(client["client_id"], client["client_secret"])
        access_token = issued.json()["access_token"]

        async def active() -> bool:
            response = await api.http.post(
                "/oauth2/introspect",
                data={"token": access_token},
                headers=basic(api.admin_id, api.admin_secret),
            )
            assert response.status_code == 200, response.text
            return bool(response.json()["active"])

        assert await active()
        url = f"/oauth2/register/{client['client_id']}"
        deleted = await api.http.delete(url, headers=bearer(client["registration_access_token"]))
        assert deleted.status_code == 204
        assert not await active()
        again = await api.client_credentials(client["client_id"], client["client_secret"])
        assert_error(again, 401, "invalid_client")


def test_self_registered_clients_are_managed_from_the_cli(settings, clock):
    async def register_one() -> dict[str, Any]:
        async with server(settings, clock, dcr_modes="open") as api:
            return await registered(api)

    client = asyncio.run(register_one())  # the CLI runs its own event loop: not inside one
    env = {k: None for k in os.environ if k.startswith("APPWARD_")}
    runner = CliRunner()

    def run(*args: str) -> Any:
        result = runner.invoke(cli_app, list(args), env={**env, **settings_env(settings)})
        assert result.exit_code == 0, result.output
        return result.stdout

    listed = json.loads(run("clients", "list", "--source", "dcr", "--json"))["items"]
    assert [c["client_id"] for c in listed] == [client["client_id"]]
    run("clients", "disable", client["client_id"])
    shown = json.loads(run("clients", "show", client["client_id"], "--json"))
    assert shown["status"] == "disabled"
