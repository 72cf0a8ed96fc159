"""Accounts through the admin API (/admin/v1/users/{public_id}): roles, e-mail, disable,
enable, delete; the public id is the sub of every token; sign-ins and consents audited."""

from __future__ import annotations

import jwt
import pytest

from tests.factories import WEB_APP, basic
from tests.oauth_helpers import PASSWORD, Browser, code_flow_tokens

pytestmark = pytest.mark.anyio


async def create_user(api, username: str = "alice", **fields) -> dict:
    response = await api.post(
        "/admin/v1/users", {"username": username, "password": PASSWORD, **fields}
    )
    assert response.status_code == 201, response.text
    return response.json()


async def web_app(api) -> dict:
    response = await api.post("/admin/v1/clients", WEB_APP)
    assert response.status_code == 201, response.text
    return response.json()


async def user_tokens(api, client: dict, username: str = "alice") -> dict:
    redirect_uri = client["metadata"]["redirect_uris"][0]
    return await code_flow_tokens(
        api.http, client["client_id"], client["client_secret"], redirect_uri, username
    )


async def introspect(api, client: dict, token: str) -> dict:
    response = await api.http.post(
        "/oauth2/introspect",
        data={"token": token},
        headers=basic(client["client_id"], client["client_secret"]),
    )
    assert response.status_code == 200, response.text
    return response.json()


async def events(api, action: str) -> list[dict]:
    response = await api.get(f"/admin/v1/audit-events?action={action}")
    return response.json()["items"]


# --- the account's shape and its public id ---


async def test_an_account_is_shown_by_its_public_id_never_the_integer(api):
    created = await create_user(api, role="developer", email="Alice@Example.COM")
    assert len(created["id"]) >= 22
    assert not created["id"].isdigit()
    assert created["role"] == "developer"
    assert created["email"] == "Alice@example.com"
    assert created["email_verified"] is False
    assert created["disabled_at"] is None
    assert "password" not in str(created)
    assert "hash" not in str(created)
    read = await api.get(f"/admin/v1/users/{created['id']}")
    assert read.status_code == 200
    assert read.json() == created
    listed = (await api.get("/admin/v1/users")).json()["items"]
    assert listed == [created]


async def test_the_sub_of_tokens_and_introspection_is_the_public_id(api):
    alice = await create_user(api)
    client = await web_app(api)
    tokens = await user_tokens(api, client)
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    assert claims["sub"] == alice["id"]
    assert (await introspect(api, client, tokens["access_token"]))["sub"] == alice["id"]
    assert (await introspect(api, client, tokens["refresh_token"]))["sub"] == alice["id"]
    refreshed = await api.http.post(
        "/oauth2/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        headers=basic(client["client_id"], client["client_secret"]),
    )
    assert refreshed.status_code == 200, refreshed.text
    new_claims = jwt.decode(refreshed.json()["access_token"], options={"verify_signature": False})
    assert new_claims["sub"] == alice["id"]


@pytest.mark.parametrize("public_id", ["1", "nosuchuser", "a" * 22, "x" * 300, "%00"])
async def test_an_unknown_public_id_is_a_404_problem(api, public_id):
    await create_user(api)
    for method, path in [
        ("GET", ""),
        ("PATCH", ""),
        ("DELETE", ""),
        ("POST", "/disable"),
        ("POST", "/enable"),
        ("POST", "/end-sessions"),
    ]:
        body = {"json": {}} if method in ("PATCH", "POST") else {}
        response = await api.http.request(
            method, f"/admin/v1/users/{public_id}{path}", headers=api.auth, **body
        )
        assert response.status_code == 404, (method, path, response.text)
        assert response.json()["error"] == "not_found"


async def test_the_integer_id_does_not_address_an_account(api):
    await create_user(api)
    assert (await api.get("/admin/v1/users/1")).status_code == 404


# --- roles and e-mail ---


async def test_patch_changes_the_role_and_audits_it(api):
    alice = await create_user(api)
    # Another admin, so alice is not the last one when she loses the role.
    await api.post("/admin/v1/users", {"username": "root", "password": PASSWORD, "role": "admin"})
    url = f"/admin/v1/users/{alice['id']}"
    assert (await api.patch(url, {"role": "admin"})).json()["role"] == "admin"
    assert (await api.patch(url, {"role": "none"})).json()["role"] is None
    assert (await api.patch(url, {"role": "developer"})).json()["role"] == "developer"
    assert (await api.patch(url, {"role": None})).json()["role"] is None
    changes = [e["changes"]["role"] for e in await events(api, "account:role:changed")]
    assert changes == [["developer", None], [None, "developer"], ["admin", None], [None, "admin"]]


async def test_patch_sets_and_verifies_the_email_and_a_new_address_is_unverified(api):
    alice = await create_user(api)
    url = f"/admin/v1/users/{alice['id']}"
    set_ = (await api.patch(url, {"email": "alice@example.com", "email_verified": True})).json()
    assert (set_["email"], set_["email_verified"]) == ("alice@example.com", True)
    assert set_["email_verified_at"] is not None
    same = (await api.patch(url, {"email": "ALICE@example.com"})).json()
    assert same["email_verified"] is True  # the same address, in another case
    moved = (await api.patch(url, {"email": "new@example.com"})).json()
    assert (moved["email"], moved["email_verified"]) == ("new@example.com", False)
    removed = (await api.patch(url, {"email": None})).json()
    assert removed["email"] is None
    assert len(await events(api, "account:updated")) == 3


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"role": "root"}, "role"),
        ({"role": 3}, "role"),
        ({"email": "not an address"}, "email"),
        ({"email": "a@b"}, "email"),
        ({"email": "x" * 250 + "@example.com"}, "email"),
        ({"email": "ünï@example.com"}, "email"),
        ({"email_verified": "yes"}, "email_verified"),
        ({"email_verified": True}, "email_verified"),  # no address to verify
        ({"password": "a new one, please"}, "password"),
        ({"role": "admin", "email": "bad"}, "email"),  # nothing changes, the role neither
    ],
)
async def test_patch_with_bad_input_names_the_field_and_changes_nothing(api, body, field):
    alice = await create_user(api)
    url = f"/admin/v1/users/{alice['id']}"
    before = await api.get("/admin/v1/audit-events")
    response = await api.patch(url, body)
    assert response.status_code == 400, response.text
    problem = response.json()
    assert problem["error"] == "invalid_input"
    assert field in str(problem)
    assert (await api.get(url)).json() == alice
    assert (await api.get("/admin/v1/audit-events")).json() == before.json()


async def test_an_email_is_unique_regardless_of_case(api):
    await create_user(api, "alice", email="alice@example.com")
    bob = await create_user(api, "bob")
    taken = await api.patch(f"/admin/v1/users/{bob['id']}", {"email": "ALICE@example.com"})
    assert taken.status_code == 409
    assert (await api.get(f"/admin/v1/users/{bob['id']}")).json()["email"] is None
    again = await api.post(
        "/admin/v1/users",
        {"username": "carol", "password": PASSWORD, "email": "Alice@Example.com"},
    )
    assert again.status_code == 409


async def test_create_refuses_an_unknown_role(api):
    response = await api.post(
        "/admin/v1/users", {"username": "mallory", "password": PASSWORD, "role": "superuser"}
    )
    assert response.status_code == 400
    assert "role" in response.text
    assert (await api.get("/admin/v1/users")).json()["items"] == []


# --- disable, enable, delete ---


async def test_disable_stops_sign_in_and_the_accounts_tokens_and_enable_restores_it(api):
    alice = await create_user(api)
    client = await web_app(api)
    tokens = await user_tokens(api, client)
    disabled = await api.post(f"/admin/v1/users/{alice['id']}/disable")
    assert disabled.status_code == 200
    refreshed = await api.http.post(
        "/oauth2/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        headers=basic(client["client_id"], client["client_secret"]),
    )
    assert refreshed.json()["error"] == "invalid_grant"
    again = await api.post(f"/admin/v1/users/{alice['id']}/disable")
    assert again.json()["disabled_at"] == disabled.json()["disabled_at"]
    enabled = await api.post(f"/admin/v1/users/{alice['id']}/enable")
    assert enabled.json()["disabled_at"] is None
    actions = [e["action"] for e in (await api.get("/admin/v1/audit-events")).json()["items"]]
    assert actions.count("account:disabled") == 1
    assert actions.count("account:enabled") == 1


async def test_delete_removes_the_account_its_grants_and_tokens_but_not_its_audit_trail(api):
    alice = await create_user(api)
    client = await web_app(api)
    tokens = await user_tokens(api, client)
    deleted = await api.delete(f"/admin/v1/users/{alice['id']}")
    assert deleted.status_code == 204
    assert (await api.get(f"/admin/v1/users/{alice['id']}")).status_code == 404
    assert (await introspect(api, client, tokens["access_token"])) == {"active": False}
    assert (await introspect(api, client, tokens["refresh_token"])) == {"active": False}
    refreshed = await api.http.post(
        "/oauth2/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        headers=basic(client["client_id"], client["client_secret"]),
    )
    assert refreshed.json()["error"] == "invalid_grant"
    trail = (await api.get("/admin/v1/audit-events?limit=200")).json()["items"]
    deleted_event = next(e for e in trail if e["action"] == "account:deleted")
    assert deleted_event["target"] == "alice"
    assert deleted_event["changes"]["sub"] == alice["id"]
    assert any(e["actor"] == f"user:{alice['id']}" for e in trail)  # her own events stay
    # The name is free again, and the new account is someone else.
    newcomer = await create_user(api)
    assert newcomer["id"] != alice["id"]
    assert (await introspect(api, client, tokens["access_token"])) == {"active": False}


# --- the audit trail of signing in and consenting ---


async def test_sign_ins_failed_sign_ins_and_consents_are_audited_without_the_password(api):
    alice = await create_user(api)
    client = await web_app(api)
    b = Browser(api.http)
    assert (
        await b.login(await api.http.get("/login"), "alice", "wrong password!")
    ).status_code == 401
    assert (
        await b.login(await api.http.get("/login"), "nobody", "hunter2hunter2")
    ).status_code == 401
    await user_tokens(api, client)
    trail = (await api.get("/admin/v1/audit-events?limit=200")).json()["items"]
    failed = [e for e in trail if e["action"] == "account:sign_in_failed"]
    assert [(e["actor"], e["target"], e["changes"]["reason"]) for e in failed] == [
        ("anonymous", None, "unknown_user"),
        ("anonymous", "alice", "wrong_password"),
    ]
    signed_in = [e for e in trail if e["action"] == "account:signed_in"]
    assert [(e["actor"], e["target"]) for e in signed_in] == [(f"user:{alice['id']}", "alice")]
    assert signed_in[0]["source_ip"] == "127.0.0.9"
    consented = [e for e in trail if e["action"] == "account:consent:given"]
    assert [(e["actor"], e["client_id"]) for e in consented] == [
        (f"user:{alice['id']}", client["client_id"])
    ]
    text = str(trail)
    assert "wrong password" not in text
    assert PASSWORD not in text
    assert "hunter2" not in text
    assert "nobody" not in text
