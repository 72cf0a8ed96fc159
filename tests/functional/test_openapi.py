"""The OpenAPI document and the pages that show it: what they say matches what the
server does, and the pages need nothing from outside the app."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate

from appward.clock import FrozenClock
from appward.config import Settings
from appward.registration.initial_access_tokens import InitialAccessTokenRequest
from appward.tokens.grant_types import GRANT_TYPES
from tests.factories import SERVICE, basic
from tests.functional.conftest import Api, create_admin_targets, open_api

pytestmark = pytest.mark.anyio

METHODS = ("get", "put", "post", "delete", "patch")
REDIRECT = "https://app.example.com/callback"
WEB_APP = {"client_name": "Docs App", "redirect_uris": [REDIRECT]}
# Words of the code's docstrings ("Returns ... / Raises ...", Sphinx roles, literals):
# none of them belongs in what the document tells a caller.
DOCSTRING_MARKERS = re.compile(r"\bReturns\b|\bRaises\b|:func:|:class:|``")


async def document(api: Api) -> dict[str, Any]:
    response = await api.http.get("/openapi.json")
    assert response.status_code == 200
    spec: dict[str, Any] = response.json()
    return spec


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


def descriptions(node: Any) -> list[str]:
    """Every description anywhere in the document, schemas included."""
    if isinstance(node, dict):
        found = [node["description"]] if isinstance(node.get("description"), str) else []
        return found + [d for value in node.values() for d in descriptions(value)]
    if isinstance(node, list):
        return [d for value in node for d in descriptions(value)]
    return []


def assert_documented(
    spec: dict[str, Any], method: str, path: str, response: httpx.Response
) -> None:
    """The answer's status is documented for the operation, with its media type and a
    schema that the body satisfies."""
    operation = spec["paths"][path][method]
    documented = operation["responses"].get(str(response.status_code))
    assert documented is not None, (method, path, response.status_code, response.text)
    if response.status_code == 204:
        assert not documented.get("content")
        return
    media_type = response.headers["content-type"].split(";")[0]
    assert media_type in documented["content"], (method, path, media_type)
    schema = documented["content"][media_type]["schema"]
    validator = OAS31Validator({**schema, "components": spec["components"]})
    errors = [e.message for e in validator.iter_errors(response.json())]
    assert not errors, (method, path, response.status_code, errors, response.text)


async def test_document_is_valid_openapi(api):
    validate(await document(api))


async def test_no_operation_documents_an_answer_the_server_never_gives(api):
    """FastAPI's 422 and its HTTPValidationError body: the app answers validation errors
    with a 400 problem instead."""
    spec = await document(api)
    for method, path, operation in operations(spec):
        assert "422" not in operation["responses"], (method, path)
    assert not {"HTTPValidationError", "ValidationError"} & set(spec["components"]["schemas"])
    invalid = await api.get("/admin/v1/clients?limit=0")
    assert invalid.status_code == 400
    assert_documented(spec, "get", "/admin/v1/clients", invalid)


async def test_every_admin_operation_needs_the_bearer_token_and_documents_problems(api):
    spec = await document(api)
    scheme = spec["components"]["securitySchemes"]["adminToken"]
    assert (scheme["type"], scheme["scheme"], scheme["bearerFormat"]) == ("http", "bearer", "JWT")
    problem = spec["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "detail", "error", "errors"} <= set(problem["properties"])
    admin = [op for op in operations(spec) if op[1].startswith("/admin/v1/")]
    assert len(admin) >= 20
    for method, path, operation in admin:
        assert operation["security"] == [{"adminToken": []}], (method, path)
        errors = {code: r for code, r in operation["responses"].items() if code >= "400"}
        assert {"401", "403"} <= set(errors), (method, path)
        for code, response in errors.items():
            content = response["content"]
            assert list(content) == ["application/problem+json"], (method, path, code)
            assert content["application/problem+json"]["schema"] == {
                "$ref": "#/components/schemas/Problem"
            }


async def test_the_admin_apis_real_errors_are_the_documented_ones(api):
    spec = await document(api)
    created = await api.post("/admin/v1/clients", WEB_APP)
    assert_documented(spec, "post", "/admin/v1/clients", created)
    client_url = f"/admin/v1/clients/{created.json()['client_id']}"
    clients = "/admin/v1/clients/{client_id}"
    machine = await api.post(
        "/admin/v1/clients", {"client_name": "m", "grant_types": ["client_credentials"]}
    )
    token = await api.client_credentials(
        machine.json()["client_id"], machine.json()["client_secret"]
    )
    not_admin = {"Authorization": f"Bearer {token.json()['access_token']}"}

    answers = [
        ("get", "/admin/v1/clients", await api.http.get("/admin/v1/clients")),
        ("get", "/admin/v1/clients", await api.http.get("/admin/v1/clients", headers=not_admin)),
        ("get", clients, await api.get(client_url)),
        ("get", clients, await api.get("/admin/v1/clients/nope")),
        ("patch", clients, await api.patch(client_url, {"client_name": "x"})),
        ("patch", clients, await api.patch(client_url, {"client_name": "x"}, if_match='"99"')),
        ("patch", clients, await api.patch(client_url, {"redirect_uris": ["ftp://x"]}, "*")),
        ("post", "/admin/v1/clients", await api.post("/admin/v1/clients", [1])),
        ("post", "/admin/v1/scopes", await api.post("/admin/v1/scopes", {"name": "a b"})),
        (
            "delete",
            "/admin/v1/scopes/{name}",
            await api.delete("/admin/v1/scopes/appward:admin"),
        ),
        ("delete", clients, await api.delete(client_url)),
    ]
    statuses = [response.status_code for _, _, response in answers]
    assert statuses == [401, 403, 200, 404, 428, 412, 400, 400, 400, 409, 204]
    for method, path, response in answers:
        assert_documented(spec, method, path, response)


async def test_if_match_is_documented_as_required_exactly_where_the_server_requires_it(api):
    """RFC 6585 §3: the server answers 428 to a request without If-Match where it needs
    one; the document must say so, and must not ask for it anywhere else."""
    spec = await document(api)
    client = (await api.post("/admin/v1/clients", WEB_APP)).json()
    secret_id = (await api.get(f"/admin/v1/clients/{client['client_id']}/secrets")).json()["items"][
        0
    ]["id"]
    scope = await api.post("/admin/v1/scopes", {"name": "docs:read", "description": "Read"})
    assert scope.status_code == 201, scope.text
    iat = await api.post("/admin/v1/initial-access-tokens", {})
    assert iat.status_code == 201, iat.text
    user = await api.post("/admin/v1/users", {"username": "docs", "password": "long enough pw"})
    assert user.status_code == 201, user.text
    values = {
        "client_id": client["client_id"],
        "secret_id": secret_id,
        "name": "docs:read",
        "token_id": iat.json()["id"],
        "public_id": user.json()["id"],
        "invitation_id": "1",
    }
    changes = [
        (method, path, operation)
        for method, path, operation in operations(spec)
        if path.startswith("/admin/v1/") and method in ("patch", "put", "delete")
    ]
    # Deleting the client last, so every other request finds what it names.
    changes.sort(key=lambda op: op[0] == "delete" and op[1] == "/admin/v1/clients/{client_id}")
    assert len(changes) >= 6
    for method, path, operation in changes:
        url = path.format(**values)
        headers = api.auth
        if method == "delete":
            response = await api.http.delete(url, headers=headers)
        else:
            response = await api.http.request(method, url, json={}, headers=headers)
        required = [
            p
            for p in operation.get("parameters", [])
            if p["in"] == "header" and p["name"].lower() == "if-match" and p.get("required")
        ]
        if response.status_code == 428:
            assert required, (method, path)
            assert "428" in operation["responses"], (method, path)
        else:
            assert not required, (method, path, response.status_code)


async def test_every_operation_has_a_one_line_summary_and_a_public_description(api):
    spec = await document(api)
    for method, path, operation in operations(spec):
        summary = operation.get("summary", "")
        assert summary, (method, path)
        assert "\n" not in summary, (method, path, summary)
        assert len(summary) <= 80, (method, path, summary)
        assert operation.get("description"), (method, path)
    for text in descriptions(spec):
        assert not DOCSTRING_MARKERS.search(text), text


async def test_form_endpoints_keep_their_form_bodies(api):
    spec = await document(api)
    for path, field in (
        ("/oauth2/token", "grant_type"),
        ("/oauth2/introspect", "token"),
        ("/oauth2/revoke", "token"),
    ):
        body = spec["paths"][path]["post"]["requestBody"]["content"]
        assert field in body["application/x-www-form-urlencoded"]["schema"]["properties"]
    refused = await api.http.post("/oauth2/token", data={"grant_type": "client_credentials"})
    assert refused.status_code == 401
    assert_documented(spec, "post", "/oauth2/token", refused)


async def test_form_endpoints_document_what_they_require_and_their_real_answers(api):
    """Found by the fuzzer (tests/fuzz.py): the form endpoints' successes had no body in
    the document, and nothing said which fields each one requires."""
    spec = await document(api)
    form = "application/x-www-form-urlencoded"
    token_form = spec["paths"]["/oauth2/token"]["post"]["requestBody"]["content"][form]
    assert token_form["schema"]["required"] == ["grant_type"]
    assert set(token_form["schema"]["properties"]["grant_type"]["enum"]) == set(GRANT_TYPES)
    for path in ("/oauth2/introspect", "/oauth2/revoke"):
        body = spec["paths"][path]["post"]["requestBody"]["content"][form]
        assert body["schema"]["required"] == ["token"], path

    created = (await api.post("/admin/v1/clients", SERVICE)).json()
    client = basic(created["client_id"], created["client_secret"])
    issued = await api.client_credentials(created["client_id"], created["client_secret"])
    token = issued.json()["access_token"]
    answers = [
        ("/oauth2/token", issued),
        ("/oauth2/token", await api.http.post("/oauth2/token", data={}, headers=client)),
        (
            "/oauth2/token",
            await api.http.post("/oauth2/token", data={"grant_type": "x"}, headers=client),
        ),
        (
            "/oauth2/introspect",
            await api.http.post("/oauth2/introspect", data={"token": token}, headers=client),
        ),
        (
            "/oauth2/introspect",
            await api.http.post("/oauth2/introspect", data={"token": "nope"}, headers=client),
        ),
        ("/oauth2/revoke", await api.http.post("/oauth2/revoke", data={}, headers=client)),
    ]
    assert [r.status_code for _, r in answers] == [200, 400, 400, 200, 200, 400]
    assert answers[3][1].json()["active"] is True
    assert answers[4][1].json() == {"active": False}
    for path, response in answers:
        assert_documented(spec, "post", path, response)
    revoked = await api.http.post("/oauth2/revoke", data={"token": token}, headers=client)
    assert (revoked.status_code, revoked.content) == (200, b"")
    assert not spec["paths"]["/oauth2/revoke"]["post"]["responses"]["200"].get("content")


async def test_a_query_parameter_that_is_not_a_boolean_is_a_documented_400(api):
    """Found by the fuzzer (tests/fuzz.py): ?confirm= and ?with_clients= take booleans,
    and the 400 that anything else gets was not in the document."""
    spec = await document(api)
    targets = await create_admin_targets(api)
    revoke = await api.delete(
        f"/admin/v1/clients/{targets.client_id}/secrets/{targets.secret_id}?confirm=maybe"
    )
    disable = await api.post(f"/admin/v1/users/{targets.public_id}/disable?with_clients=2")
    for method, path, response, field in (
        ("delete", "/admin/v1/clients/{client_id}/secrets/{secret_id}", revoke, "confirm"),
        ("post", "/admin/v1/users/{public_id}/disable", disable, "with_clients"),
    ):
        assert response.status_code == 400, response.text
        assert response.json()["errors"][0]["field"] == field
        assert_documented(spec, method, path, response)


async def test_every_operation_with_a_query_or_header_parameter_documents_its_400(api):
    """The app answers a parameter that fails validation with 400 (web/responses.py)."""
    spec = await document(api)
    for method, path, operation in operations(spec):
        checked = [p for p in operation.get("parameters", []) if p["in"] != "path"]
        if checked:
            assert "400" in operation["responses"], (method, path)


async def test_registration_bodies_are_described_and_match_the_real_answers(
    settings: Settings, clock: FrozenClock
) -> None:
    """RFC 7591 §2 metadata in, RFC 7591 §3.2.1 client information out; RFC 7592 §2.2's
    update names its client_id."""
    async with open_api(settings, clock) as closed:
        spec = await document(closed)
        assert_documented(
            spec,
            "post",
            "/oauth2/register",
            await closed.http.post("/oauth2/register", json=WEB_APP),
        )
    register = spec["paths"]["/oauth2/register"]["post"]
    manage = "/oauth2/register/{client_id}"
    body = register["requestBody"]["content"]["application/json"]["schema"]
    assert {"redirect_uris", "grant_types", "client_name", "software_statement"} <= set(
        body["properties"]
    )
    update = spec["paths"][manage]["put"]["requestBody"]["content"]["application/json"]
    assert "client_id" in update["schema"]["required"]
    assert {"initialAccessToken": []} in register["security"]
    assert {} in register["security"]  # optional where the policy is open
    for method in ("get", "put", "delete"):
        assert spec["paths"][manage][method]["security"] == [{"registrationAccessToken": []}]

    open_settings = Settings(**{**settings.model_dump(), "dcr_modes": "open"})
    async with open_api(open_settings, clock) as api:
        created = await api.http.post("/oauth2/register", json=WEB_APP)
        assert created.status_code == 201, created.text
        client = created.json()
        url = f"/oauth2/register/{client['client_id']}"
        token = {"Authorization": f"Bearer {client['registration_access_token']}"}
        answers = [
            ("post", "/oauth2/register", created),
            (
                "post",
                "/oauth2/register",
                await api.http.post("/oauth2/register", json={"redirect_uris": ["ftp://x"]}),
            ),
            (
                "post",
                "/oauth2/register",
                await api.http.post("/oauth2/register", content=b"{}"),
            ),
            ("get", manage, await api.http.get(url, headers=token)),
            ("get", manage, await api.http.get(url)),
            (
                "put",
                manage,
                await api.http.put(
                    url, json={**WEB_APP, "client_id": client["client_id"]}, headers=token
                ),
            ),
        ]
        replaced = answers[-1][2].json()
        token = {"Authorization": f"Bearer {replaced['registration_access_token']}"}
        answers.append(("delete", manage, await api.http.delete(url, headers=token)))
        statuses = [response.status_code for _, _, response in answers]
        assert statuses == [201, 400, 400, 200, 401, 200, 204]
        for method, path, response in answers:
            assert_documented(spec, method, path, response)


ASSET = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")
CONTENT_TYPES = {".js": "javascript", ".css": "text/css", ".png": "image/png"}


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_pages_load_everything_from_the_app(api, page):
    response = await api.http.get(page)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assets = ASSET.findall(html)
    assert len(assets) >= 2, html
    assert "/openapi.json" in html
    for url in assets:
        assert url.startswith("/"), url
        assert not url.startswith("//"), url
        served = await api.http.get(url)
        assert served.status_code == 200, url
        suffix = url[url.rindex(".") :]
        assert CONTENT_TYPES[suffix] in served.headers["content-type"], (url, served.headers)
    assert "fonts.googleapis.com" not in html
    assert "cdn." not in html


async def test_the_initial_access_token_body_documented_is_the_one_the_domain_validates(
    api: Api,
) -> None:
    """The admin API documents the domain's own model (under the API's schema name), so the
    document cannot drift from what registration.initial_access_tokens accepts."""
    spec = await document(api)
    body = spec["paths"]["/admin/v1/initial-access-tokens"]["post"]["requestBody"]
    schema = body["content"]["application/json"]["schema"]
    expected = InitialAccessTokenRequest.model_json_schema()
    assert schema["title"] == "InitialAccessTokenIn"
    assert schema["additionalProperties"] is False
    described = {name: field.get("description") for name, field in schema["properties"].items()}
    assert described == {
        name: field.get("description") for name, field in expected["properties"].items()
    }
