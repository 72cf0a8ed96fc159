"""The admin API's client endpoints, through HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from tests.factories import NATIVE_APP, SERVICE, WEB_APP, metadata

pytestmark = pytest.mark.anyio


async def snapshot(api) -> tuple[list[str], int]:
    """What a failed request must not change: the clients and the audit trail."""
    clients = (await api.get("/admin/v1/clients?limit=200")).json()["items"]
    events = (await api.get("/admin/v1/audit-events?limit=200")).json()["items"]
    return [c["client_id"] for c in clients], len(events)


async def test_create_returns_client_and_secret_once(api):
    response = await api.post("/admin/v1/clients", metadata(WEB_APP, owner="team-web"))
    assert response.status_code == 201
    body = response.json()
    assert body["client_secret"].startswith("apwcs_")
    assert body["client_secret_expires_at"] == 0
    assert body["status"] == "active"
    assert body["registration_source"] == "admin"
    assert body["owner"] == "team-web"
    assert body["revision"] == 1
    assert response.headers["etag"] == '"1"'
    assert response.headers["location"] == f"/admin/v1/clients/{body['client_id']}"
    assert response.headers["cache-control"] == "no-store"
    meta = body["metadata"]
    assert meta["redirect_uris"] == WEB_APP["redirect_uris"]
    assert meta["response_types"] == ["code"]
    assert meta["require_pkce"] is True
    assert meta["issue_refresh_tokens"] is True
    assert meta["access_token_ttl"] == 3600

    read = await api.get(f"/admin/v1/clients/{body['client_id']}")
    assert read.status_code == 200
    assert "client_secret" not in read.json()
    assert body["client_secret"] not in read.text


async def test_public_client_gets_no_secret(api):
    response = await api.post("/admin/v1/clients", NATIVE_APP)
    assert response.status_code == 201, response.text
    assert response.json()["client_secret"] is None
    listed = await api.get(f"/admin/v1/clients/{response.json()['client_id']}/secrets")
    assert listed.json()["items"] == []


async def test_client_ids_are_unique_and_unguessable(api):
    ids = {(await api.post("/admin/v1/clients", SERVICE)).json()["client_id"] for _ in range(5)}
    assert len(ids) == 5
    assert all(len(i) >= 24 for i in ids)


BAD_INPUTS = [
    pytest.param(
        metadata(WEB_APP, redirect_uris=["https://app.example.com/cb#frag"]),
        "invalid_redirect_uri",
        "redirect_uris[0]",
        id="fragment",
    ),
    pytest.param(
        metadata(WEB_APP, redirect_uris=["https://*.example.com/cb"]),
        "invalid_redirect_uri",
        "redirect_uris[0]",
        id="wildcard",
    ),
    pytest.param(
        metadata(WEB_APP, redirect_uris=["http://app.example.com/cb"]),
        "invalid_redirect_uri",
        "redirect_uris[0]",
        id="plain-http",
    ),
    pytest.param(
        metadata(WEB_APP, redirect_uris=["http://localhost:3000/cb"]),
        "invalid_redirect_uri",
        "redirect_uris[0]",
        id="localhost-name",
    ),
    pytest.param(
        metadata(WEB_APP, redirect_uris=["https://user:pw@app.example.com/cb"]),
        "invalid_redirect_uri",
        "redirect_uris[0]",
        id="userinfo",
    ),
    pytest.param(
        metadata(WEB_APP, redirect_uris=["/relative/cb"]),
        "invalid_redirect_uri",
        "redirect_uris[0]",
        id="relative",
    ),
    pytest.param(
        metadata(WEB_APP, redirect_uris=["myapp:/cb"]),
        "invalid_redirect_uri",
        "redirect_uris[0]",
        id="private-scheme-on-web-client",
    ),
    pytest.param(
        metadata(NATIVE_APP, redirect_uris=["myapp:/cb"]),
        "invalid_redirect_uri",
        "redirect_uris[0]",
        id="private-scheme-not-reverse-domain",
    ),
    pytest.param(
        metadata(WEB_APP, redirect_uris=[]),
        "invalid_redirect_uri",
        "redirect_uris",
        id="code-grant-without-redirect",
    ),
    pytest.param(
        metadata(NATIVE_APP, grant_types=["client_credentials"]),
        "invalid_client_metadata",
        "grant_types",
        id="public-client-credentials",
    ),
    pytest.param(
        metadata(NATIVE_APP, require_pkce=False),
        "invalid_client_metadata",
        "require_pkce",
        id="public-without-pkce",
    ),
    pytest.param(
        metadata(WEB_APP, response_types=[]),
        "invalid_client_metadata",
        "response_types",
        id="code-grant-without-code-response",
    ),
    pytest.param(
        metadata(SERVICE, response_types=["code"]),
        "invalid_client_metadata",
        "response_types",
        id="code-response-without-code-grant",
    ),
    pytest.param(
        metadata(WEB_APP, grant_types=["implicit"]),
        "invalid_client_metadata",
        "grant_types[0]",
        id="implicit-grant",
    ),
    pytest.param(
        metadata(SERVICE, scope="no-such-scope"),
        "invalid_client_metadata",
        "scope",
        id="unknown-scope",
    ),
    pytest.param(
        metadata(SERVICE, access_token_ttl=10**9),
        "invalid_client_metadata",
        "access_token_ttl",
        id="ttl-over-bound",
    ),
    pytest.param(
        metadata(SERVICE, access_token_ttl=5),
        "invalid_client_metadata",
        "access_token_ttl",
        id="ttl-under-bound",
    ),
    pytest.param(
        metadata(
            SERVICE,
            jwks_uri="https://app.example.com/jwks",
            jwks={"keys": [{"kty": "oct", "k": "c2VjcmV0"}]},
        ),
        "invalid_client_metadata",
        "jwks",
        id="jwks-private-and-both",
    ),
    pytest.param(
        metadata(SERVICE, token_endpoint_auth_method="private_key_jwt"),
        "invalid_client_metadata",
        "jwks",
        id="private-key-jwt-without-keys",
    ),
    pytest.param(
        metadata(SERVICE, token_endpoint_auth_method="client_secret_magic"),
        "invalid_client_metadata",
        "token_endpoint_auth_method",
        id="unknown-auth-method",
    ),
    pytest.param(
        metadata(SERVICE, logo_uri="http://cdn.example.com/logo.png"),
        "invalid_client_metadata",
        "logo_uri",
        id="http-logo",
    ),
    pytest.param(
        metadata(SERVICE, contacts=["not-an-email"]),
        "invalid_client_metadata",
        "contacts[0]",
        id="bad-contact",
    ),
    pytest.param(
        metadata(SERVICE, client_name=""),
        "invalid_client_metadata",
        "client_name",
        id="empty-name",
    ),
    pytest.param(
        metadata(SERVICE, is_admin=True),
        "invalid_client_metadata",
        "is_admin",
        id="unknown-field",
    ),
    pytest.param(
        metadata(SERVICE, owner=["x"]),
        "invalid_input",
        "owner",
        id="bad-owner",
    ),
    pytest.param(
        metadata(SERVICE, redirect_uris="https://app.example.com/cb"),
        "invalid_redirect_uri",
        "redirect_uris",
        id="string-instead-of-list",
    ),
]


@pytest.mark.parametrize(("body", "error", "field"), BAD_INPUTS)
async def test_bad_metadata_is_refused_with_field_error_and_nothing_stored(api, body, error, field):
    before = await snapshot(api)
    response = await api.post("/admin/v1/clients", body)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["error"] == error
    assert problem["status"] == 400
    assert problem["type"] == f"urn:appward:error:{error}"
    assert field in [e["field"] for e in problem["errors"]], problem
    assert problem["detail"]
    assert await snapshot(api) == before


@pytest.mark.parametrize(
    "raw",
    [b"not json", b"[1, 2]", b"", b"\xff\xfe"],
    ids=["text", "array", "empty", "bad-utf8"],
)
async def test_body_that_is_not_a_json_object_is_refused(api, raw):
    before = await snapshot(api)
    response = await api.http.post(
        "/admin/v1/clients",
        content=raw,
        headers={**api.auth, "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_input"
    assert await snapshot(api) == before


async def test_loopback_and_native_redirects_are_accepted(api):
    body = metadata(
        NATIVE_APP,
        redirect_uris=[
            "http://127.0.0.1:51004/cb",
            "http://[::1]/cb",
            "com.example.app:/oauth2redirect",
            "https://app.example.com/universal-link",
        ],
    )
    response = await api.post("/admin/v1/clients", body)
    assert response.status_code == 201, response.text


async def test_list_paginates_with_cursor_and_filters(api):
    for i in range(5):
        await api.post("/admin/v1/clients", metadata(SERVICE, client_name=f"Svc {i}"))
    await api.post("/admin/v1/clients", metadata(WEB_APP, client_name="Shop Frontend"))
    first = (await api.get("/admin/v1/clients?limit=4")).json()
    assert len(first["items"]) == 4
    assert first["next_cursor"]
    second = (await api.get(f"/admin/v1/clients?limit=4&cursor={first['next_cursor']}")).json()
    assert second["next_cursor"] is None
    ids = [c["client_id"] for c in first["items"] + second["items"]]
    assert len(ids) == len(set(ids)) == 7  # five services, the web app, the admin

    by_name = (await api.get("/admin/v1/clients?name=shop")).json()["items"]
    assert [c["metadata"]["client_name"] for c in by_name] == ["Shop Frontend"]
    # q: the console's search box, a substring of the name or of the client_id.
    shop = by_name[0]["client_id"]
    assert [
        c["client_id"] for c in (await api.get("/admin/v1/clients?q=FRONTEND")).json()["items"]
    ] == [shop]
    by_id = (await api.get(f"/admin/v1/clients?q={shop[3:15]}")).json()["items"]
    assert [c["client_id"] for c in by_id] == [shop]

    victim = first["items"][1]["client_id"]
    await api.post(f"/admin/v1/clients/{victim}/disable")
    disabled = (await api.get("/admin/v1/clients?status=disabled")).json()["items"]
    assert [c["client_id"] for c in disabled] == [victim]
    assert len((await api.get("/admin/v1/clients?source=admin")).json()["items"]) == 7
    assert (await api.get("/admin/v1/clients?source=dcr")).json()["items"] == []


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=gone", "status"),
        ("source=elsewhere", "source"),
        ("cursor=%%%", "cursor"),
        ("cursor=Zm9vOjE", "cursor"),
        ("limit=0", "limit"),
        ("limit=abc", "limit"),
    ],
)
async def test_bad_list_parameters_get_a_field_error(api, query, field):
    response = await api.get(f"/admin/v1/clients?{query}")
    assert response.status_code == 400, response.text
    assert field in [e["field"] for e in response.json()["errors"]]


async def test_update_requires_if_match_and_refuses_stale_revision(api):
    created = (await api.post("/admin/v1/clients", SERVICE)).json()
    url = f"/admin/v1/clients/{created['client_id']}"

    missing = await api.patch(url, {"client_name": "Renamed"})
    assert missing.status_code == 428
    assert missing.json()["error"] == "precondition_required"

    ok = await api.patch(url, {"client_name": "Renamed"}, if_match='"1"')
    assert ok.status_code == 200, ok.text
    assert ok.json()["revision"] == 2
    assert ok.headers["etag"] == '"2"'

    stale = await api.patch(url, {"client_name": "Lost update"}, if_match='"1"')
    assert stale.status_code == 412
    assert stale.json()["error"] == "precondition_failed"
    current = (await api.get(url)).json()
    assert current["metadata"]["client_name"] == "Renamed"
    assert current["revision"] == 2

    garbage = await api.patch(url, {"client_name": "x"}, if_match="yesterday")
    assert garbage.status_code == 400


async def test_update_merges_and_null_resets_to_default(api):
    created = (await api.post("/admin/v1/clients", metadata(SERVICE, access_token_ttl=600))).json()
    url = f"/admin/v1/clients/{created['client_id']}"
    patched = await api.patch(url, {"client_uri": "https://billing.example.com"}, if_match='"1"')
    meta = patched.json()["metadata"]
    assert meta["client_uri"] == "https://billing.example.com"
    assert meta["access_token_ttl"] == 600
    assert meta["client_name"] == SERVICE["client_name"]

    reset = await api.patch(url, {"access_token_ttl": None, "owner": "ops"}, if_match="*")
    assert reset.json()["metadata"]["access_token_ttl"] == 3600
    assert reset.json()["owner"] == "ops"


async def test_invalid_update_changes_nothing(api):
    created = (await api.post("/admin/v1/clients", SERVICE)).json()
    url = f"/admin/v1/clients/{created['client_id']}"
    before = await snapshot(api)
    response = await api.patch(
        url, {"token_endpoint_auth_method": "none"}, if_match='"1"'
    )  # a public client cannot keep client_credentials
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "grant_types"
    assert await snapshot(api) == before
    assert (await api.get(url)).json()["revision"] == 1


async def test_update_without_changes_keeps_revision(api):
    created = (await api.post("/admin/v1/clients", SERVICE)).json()
    url = f"/admin/v1/clients/{created['client_id']}"
    same = await api.patch(url, {"client_name": SERVICE["client_name"]}, if_match='"1"')
    assert same.status_code == 200
    assert same.json()["revision"] == 1


async def test_switching_to_public_revokes_secrets_and_back_issues_one(api, clock):
    created = (await api.post("/admin/v1/clients", metadata(WEB_APP))).json()
    url = f"/admin/v1/clients/{created['client_id']}"
    public = await api.patch(url, {"token_endpoint_auth_method": "none"}, if_match='"1"')
    assert public.status_code == 200, public.text
    assert public.json().get("client_secret") is None
    secrets = (await api.get(f"{url}/secrets")).json()["items"]
    assert [s["usable"] for s in secrets] == [False]

    clock.advance(1)
    back = await api.patch(
        url, {"token_endpoint_auth_method": "client_secret_post"}, if_match='"2"'
    )
    assert back.json()["client_secret"].startswith("apwcs_")
    secrets = (await api.get(f"{url}/secrets")).json()["items"]
    assert [s["usable"] for s in secrets] == [False, True]


async def test_disable_stops_tokens_and_enable_restores(api):
    created = (await api.post("/admin/v1/clients", SERVICE)).json()
    client_id, secret = created["client_id"], created["client_secret"]
    assert (await api.client_credentials(client_id, secret)).status_code == 200

    disabled = await api.post(f"/admin/v1/clients/{client_id}/disable")
    assert disabled.json()["status"] == "disabled"
    refused = await api.client_credentials(client_id, secret)
    assert refused.status_code == 401
    assert refused.json()["error"] == "invalid_client"

    await api.post(f"/admin/v1/clients/{client_id}/enable")
    assert (await api.client_credentials(client_id, secret)).status_code == 200


async def test_delete_revokes_everything_and_never_reuses_the_id(api):
    created = (await api.post("/admin/v1/clients", SERVICE)).json()
    client_id, secret = created["client_id"], created["client_secret"]
    deleted = await api.delete(f"/admin/v1/clients/{client_id}")
    assert deleted.status_code == 204
    assert (await api.get(f"/admin/v1/clients/{client_id}")).status_code == 404
    assert (await api.delete(f"/admin/v1/clients/{client_id}")).status_code == 404
    assert (await api.client_credentials(client_id, secret)).status_code == 401
    listed = (await api.get("/admin/v1/clients")).json()["items"]
    assert client_id not in [c["client_id"] for c in listed]
    revoked = (await api.get(f"/admin/v1/audit-events?client_id={client_id}")).json()["items"]
    assert {e["action"] for e in revoked} >= {"client:deleted", "client:secret:revoked"}


async def test_unknown_client_is_404_problem(api):
    response = await api.get("/admin/v1/clients/nope")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
    assert response.headers["content-type"] == "application/problem+json"


async def test_openapi_documents_the_admin_api(api):
    spec = (await api.http.get("/openapi.json")).json()
    paths = spec["paths"]
    for path in (
        "/admin/v1/clients",
        "/admin/v1/clients/{client_id}",
        "/admin/v1/clients/{client_id}/secrets",
        "/admin/v1/clients/{client_id}/secrets/{secret_id}",
        "/admin/v1/scopes",
        "/admin/v1/audit-events",
        "/oauth2/token",
    ):
        assert path in paths
    create = paths["/admin/v1/clients"]["post"]["requestBody"]["content"]["application/json"]
    assert "redirect_uris" in create["schema"]["properties"]


async def test_changing_grant_types_rederives_untouched_defaults(api):
    """response_types and issue_refresh_tokens follow grant_types unless set by hand."""
    created = (await api.post("/admin/v1/clients", WEB_APP)).json()
    url = f"/admin/v1/clients/{created['client_id']}"
    machine = await api.patch(
        url, {"grant_types": ["client_credentials"], "redirect_uris": None}, if_match="*"
    )
    assert machine.status_code == 200, machine.text
    meta = machine.json()["metadata"]
    assert meta["response_types"] == []
    assert meta["issue_refresh_tokens"] is False


@pytest.mark.parametrize("url", ["/admin/v1/clients", "/admin/v1/scopes"])
@pytest.mark.parametrize(
    ("raw", "status", "error", "detail"),
    [
        (b"not json", 400, "invalid_input", "the request body is not valid JSON"),
        (b"[1, 2]", 400, "invalid_input", "the request body must be a JSON object"),
        (
            b'{"a": NaN}',
            400,
            "invalid_input",
            "the request body holds NaN, which is not a JSON number",
        ),
        (
            b'{"a": "' + b"x" * 256 * 1024 + b'"}',
            413,
            "invalid_request",
            "the request body is larger than 262144 bytes",
        ),
    ],
    ids=["text", "array", "nan", "too-large"],
)
async def test_every_admin_body_is_read_by_the_one_reader(api, url, raw, status, error, detail):
    """Metadata bodies and model bodies alike: the same problems, in the same words."""
    response = await api.http.post(
        url, content=raw, headers={**api.auth, "Content-Type": "application/json"}
    )
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    assert (response.json()["error"], response.json()["detail"]) == (error, detail)
