"""Request size limits on every endpoint (bodies and heads, configurable, 413/414/431 with
a clear body), and malformed JSON, forms, headers, Unicode and huge values answered with
a clear 4xx, through HTTP: the OAuth endpoints, the admin API, DCR and the pages' forms."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from appward.clock import FrozenClock
from appward.config import Settings
from tests.factories import SERVICE, basic
from tests.functional.conftest import Api, open_api
from tests.oauth_helpers import hidden_fields

pytestmark = pytest.mark.anyio
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
JSON = {"Content-Type": "application/json"}
LIMITS = {
    "max_form_bytes": 1024,
    "max_json_bytes": 4096,
    "dcr_max_body_bytes": 2048,
    "max_header_bytes": 2048,
    "max_headers": 20,
    "dcr_modes": ("open",),
}


@asynccontextmanager
async def server(settings: Settings, clock: FrozenClock, **overrides: Any) -> AsyncIterator[Api]:
    configured = Settings(**{**settings.model_dump(), **LIMITS, **overrides})
    async with open_api(configured, clock) as api:
        yield api


async def chunks(size: int) -> AsyncIterator[bytes]:
    """A body of ``size`` bytes sent without a Content-Length (chunked)."""
    for _ in range(size // 256):
        yield b"a=" + b"x" * 254
    yield b"x" * (size % 256)


# Pages the OpenAPI document leaves out.
PAGES = [
    ("GET", "/"),
    ("POST", "/login"),
    ("POST", "/logout"),
    ("GET", "/console"),
    ("GET", "/portal"),
]


def every_route(api: Api) -> list[tuple[str, str]]:
    """Each (method, path) of the app's OpenAPI document, path parameters filled in, and
    the pages."""
    routes = list(PAGES)
    for path, operations in api.app.openapi()["paths"].items():
        filled = re.sub(r"\{[^}]+\}", "x", path)
        routes.extend((method.upper(), filled) for method in operations if method != "parameters")
    return routes


def assert_clear(response: httpx.Response, status: int, words: str) -> None:
    assert response.status_code == status, response.text
    if response.headers["content-type"].startswith("text/html"):
        assert words in response.text
        return
    body = response.json()
    assert words in body.get("error_description", body.get("detail", "")), body
    assert body["error"] == "invalid_request"


# --- bodies ---


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)  # refused before storage
async def test_a_declared_body_larger_than_every_limit_is_refused_on_every_route(settings, clock):
    async with server(settings, clock) as api:
        routes = every_route(api)
        assert len(routes) > 50
        for method, path in routes:
            response = await api.http.request(
                method, path, content=b"x" * 4097, headers={**api.auth, **FORM}
            )
            assert_clear(response, 413, "larger than 4096 bytes")
            if path.startswith("/admin/"):
                assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    ("path", "limit"),
    [("/oauth2/token", 1024), ("/oauth2/introspect", 1024), ("/oauth2/revoke", 1024)],
)
@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
async def test_the_oauth_form_endpoints_hold_the_form_limit(settings, clock, path, limit, declared):
    async with server(settings, clock) as api:
        content: Any = b"a=" + b"x" * limit if declared else chunks(limit + 1)
        response = await api.http.post(
            path, content=content, headers={**FORM, **basic(api.admin_id, api.admin_secret)}
        )
        assert_clear(response, 413, f"larger than {limit} bytes")
        assert response.headers["cache-control"] == "no-store"
        # Within the limit, the same request is read.
        fine = await api.http.post(
            path, content=b"token=abc", headers={**FORM, **basic(api.admin_id, api.admin_secret)}
        )
        assert fine.status_code != 413


async def test_the_admin_api_holds_the_json_limit(settings, clock):
    async with server(settings, clock) as api:
        big = {**SERVICE, "description": "d" * 2000, "client_name": "n" * 1200}
        response = await api.http.post(
            "/admin/v1/clients",
            content=chunks(4097),
            headers={**api.auth, **JSON},
        )
        assert_clear(response, 413, "larger than 4096 bytes")
        assert response.headers["content-type"] == "application/problem+json"
        # A body between the form limit and the JSON limit is the admin API's to judge.
        within = await api.http.post("/admin/v1/clients", json=big, headers=api.auth)
        assert within.status_code == 400, within.text  # too long a name: a field error
        assert within.json()["error"] == "invalid_client_metadata"


async def test_registration_holds_its_own_limit(settings, clock):
    async with server(settings, clock) as api:
        metadata = b'{"redirect_uris": ["https://a.example/cb"], "client_name": "'
        body = metadata + b"n" * 2100 + b'"}'
        for content in (body, chunks(2049)):
            response = await api.http.post("/oauth2/register", content=content, headers=JSON)
            assert_clear(response, 413, "larger than 2048 bytes")


@pytest.mark.parametrize("path", ["/login", "/password-reset", "/portal/signup"])
async def test_the_pages_forms_hold_the_form_limit(settings, clock, path):
    async with server(settings, clock, portal_signup="open") as api:
        page = await api.http.get(path)
        assert page.status_code == 200, page.text
        fields = hidden_fields(page.text)
        form = "&".join(f"{k}={v}" for k, v in fields.items()).encode()
        response = await api.http.post(path, content=form + b"&p=" + b"x" * 1100, headers=FORM)
        assert response.status_code == 413, response.text
        assert response.headers["content-type"].startswith("text/html")
        assert "larger than 1024 bytes" in response.text


async def test_the_body_limits_are_configurable(settings, clock):
    async with server(settings, clock, max_form_bytes=8192) as api:
        response = await api.http.post(
            "/oauth2/token",
            content=b"grant_type=client_credentials&pad=" + b"x" * 5000,
            headers={**FORM, **basic(api.admin_id, api.admin_secret)},
        )
        assert response.status_code == 200, response.text


# --- heads ---


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)  # refused before storage
@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/oauth2/token"), ("GET", "/admin/v1/clients"), ("GET", "/login")],
)
async def test_heads_over_the_limits_are_refused_whatever_the_server(settings, clock, method, path):
    """The app's own check, for servers other than `appward serve` (which refuses them
    while parsing: web/http_protocol.py)."""
    async with server(settings, clock) as api:
        many = {f"x-extra-{i}": "1" for i in range(20)}
        assert_clear(
            await api.http.request(method, path, headers=many), 431, "more than 20 header fields"
        )
        big = {"x-big": "b" * 2100}
        assert_clear(
            await api.http.request(method, path, headers=big), 431, "head is larger than 2048"
        )
        long_target = f"{path}?q={'q' * 2100}"
        assert_clear(await api.http.request(method, long_target), 414, "longer than 2048 bytes")
        assert (await api.http.request(method, path, headers=api.auth)).status_code < 413


# --- malformed input ---


MALFORMED_FORMS = {
    "bad UTF-8": b"grant_type=client_credentials&scope=\xff\xfe",
    "repeated parameter": b"grant_type=client_credentials&grant_type=client_credentials",
    "NUL": b"grant_type=client_credentials&scope=a%00b",
    "lone surrogate": b"grant_type=client_credentials&scope=%ED%A0%80",
    "huge value": b"grant_type=client_credentials&scope=" + b"s" * 1000,
}


@pytest.mark.parametrize("body", MALFORMED_FORMS.values(), ids=MALFORMED_FORMS.keys())
async def test_malformed_token_requests_get_a_clear_4xx(api, body):
    response = await api.http.post(
        "/oauth2/token", content=body, headers={**FORM, **basic(api.admin_id, api.admin_secret)}
    )
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["error"] in ("invalid_request", "invalid_scope")
    assert len(response.json()["error_description"]) <= 500 * 3  # cut, then %-escaped


MALFORMED_HEADERS = {
    "Basic not base64": [(b"authorization", b"Basic ***")],
    "Basic not ASCII": [(b"authorization", b"Basic \xe9\xe9")],
    "Basic with a NUL": [(b"authorization", b"Basic YQBiOmM=")],  # "a\0b:c"
    "other scheme": [(b"authorization", b"Negotiate abc")],
    "repeated Authorization": [(b"authorization", b"Basic YTpi"), (b"authorization", b"Basic")],
    "repeated Content-Type": [(b"content-type", b"text/plain")],
}


@pytest.mark.parametrize("headers", MALFORMED_HEADERS.values(), ids=MALFORMED_HEADERS.keys())
async def test_malformed_headers_at_the_token_endpoint_get_a_clear_4xx(api, headers):
    response = await api.http.post(
        "/oauth2/token",
        content=b"grant_type=client_credentials",
        headers=[(b"content-type", b"application/x-www-form-urlencoded"), *headers],
    )
    assert response.status_code in (400, 401), response.text
    assert response.json()["error"] in ("invalid_request", "invalid_client")


MALFORMED_JSON = {
    "not JSON": b"{",
    "bad UTF-8": b'{"client_name": "\xff"}',
    "lone surrogate": b'{"client_name": "\\ud800", "redirect_uris": ["https://a.example/cb"]}',
    "NUL": b'{"client_name": "a\\u0000b", "redirect_uris": ["https://a.example/cb"]}',
    "NaN": b'{"client_name": NaN}',
    "nested deeply": b"[" * 500 + b"]" * 500,
    "not an object": b"[1]",
    "huge value": b'{"client_name": "' + b"n" * 1500 + b'", "grant_types": ["client_credentials"]}',
}


@pytest.mark.parametrize("body", MALFORMED_JSON.values(), ids=MALFORMED_JSON.keys())
@pytest.mark.parametrize("path", ["/admin/v1/clients", "/oauth2/register"])
async def test_malformed_json_gets_a_clear_4xx(settings, clock, path, body):
    async with server(settings, clock) as api:
        response = await api.http.post(path, content=body, headers={**api.auth, **JSON})
        assert response.status_code == 400, response.text
        described = response.json().get("error_description") or response.json()["detail"]
        assert described
        assert len(described) <= 500 * 3


async def test_a_nul_in_the_admin_api_path_or_query_gets_a_clear_4xx(api):
    for url in ("/admin/v1/clients/a%00b", "/admin/v1/clients?cursor=%00"):
        response = await api.get(url)
        assert response.status_code in (400, 404), response.text
        assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    "username",
    ["a\x00b", "\ud800", "u" * 900],
    ids=["NUL", "lone surrogate", "huge"],
)
async def test_malformed_sign_in_forms_get_a_clear_4xx(api, username):
    page = await api.http.get("/login")
    fields = hidden_fields(page.text)
    encoded = username.encode("utf-8", "surrogatepass")
    quoted = "".join(f"%{b:02X}" for b in encoded).encode()
    form = "&".join(f"{k}={v}" for k, v in fields.items()).encode()
    response = await api.http.post(
        "/login", content=form + b"&username=" + quoted + b"&password=x", headers=FORM
    )
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"].startswith("text/html")
