"""Token introspection (RFC 7662) and revocation (RFC 7009) through the HTTP endpoints."""

from __future__ import annotations

import httpx
import pytest

from tests.factories import NATIVE_APP, SERVICE, WEB_APP, basic, metadata
from tests.oauth_helpers import PASSWORD, Browser, pkce_pair

pytestmark = pytest.mark.anyio

ISSUER = "http://127.0.0.1:8000"
REDIRECT = "https://app.example.com/callback"
INACTIVE = {"active": False}


@pytest.fixture
async def setup(api):
    for name in ("profile", "orders"):
        created = await api.post("/admin/v1/scopes", {"name": name, "description": name})
        assert created.status_code == 201, created.text
    user = await api.post("/admin/v1/users", {"username": "alice", "password": PASSWORD})
    assert user.status_code == 201, user.text
    return api


async def create_client(api, base: dict, **changes) -> dict:
    response = await api.post("/admin/v1/clients", metadata(base, **changes))
    assert response.status_code == 201, response.text
    return response.json()


async def service(api, **changes) -> dict:
    """A confidential client_credentials client holding the ``orders`` scope."""
    return await create_client(api, SERVICE, **{"scope": "orders", **changes})


async def web_app(api, **changes) -> dict:
    return await create_client(api, WEB_APP, **{"scope": "profile orders", **changes})


async def native_app(api, **changes) -> dict:
    return await create_client(api, NATIVE_APP, **{"scope": "profile", **changes})


async def resource_server(api, **changes) -> dict:
    """A confidential client granted the introspection permission by an admin."""
    client = await service(api, **{"scope": None, **changes})
    granted = await api.post(f"/admin/v1/clients/{client['client_id']}/grant-introspection")
    assert granted.status_code == 200, granted.text
    assert granted.json()["may_introspect_others"] is True
    return client


def credentials(client: dict) -> tuple[dict[str, str], dict[str, str]]:
    """Returns (headers, form fields) authenticating ``client`` as it registered."""
    if client.get("client_secret"):
        return basic(client["client_id"], client["client_secret"]), {}
    return {}, {"client_id": client["client_id"]}


async def post_as(api, client: dict | None, path: str, form: dict[str, str]) -> httpx.Response:
    headers, extra = credentials(client) if client is not None else ({}, {})
    return await api.http.post(path, data={**form, **extra}, headers=headers)


async def introspect(api, requester: dict | None, token: str | None, **form) -> httpx.Response:
    body = {**form} if token is None else {"token": token, **form}
    return await post_as(api, requester, "/oauth2/introspect", body)


async def introspected(api, requester: dict, token: str) -> dict:
    response = await introspect(api, requester, token)
    assert response.status_code == 200, response.text
    return response.json()


async def revoke(api, requester: dict | None, token: str | None, **form) -> httpx.Response:
    body = {**form} if token is None else {"token": token, **form}
    return await post_as(api, requester, "/oauth2/revoke", body)


async def access_token(api, client: dict, **form) -> dict:
    response = await api.client_credentials(client["client_id"], client["client_secret"], **form)
    assert response.status_code == 200, response.text
    return response.json()


async def user_tokens(api, client: dict, **params) -> dict:
    """Runs the code flow as alice for ``client``; returns the token response."""
    verifier, challenge = pkce_pair()
    result = await Browser(api.http).code_for(
        response_type="code",
        client_id=client["client_id"],
        redirect_uri=client["metadata"]["redirect_uris"][0],
        code_challenge=challenge,
        code_challenge_method="S256",
        **params,
    )
    form = {
        "grant_type": "authorization_code",
        "code": result["code"],
        "code_verifier": verifier,
        "redirect_uri": client["metadata"]["redirect_uris"][0],
    }
    response = await post_as(api, client, "/oauth2/token", form)
    assert response.status_code == 200, response.text
    return response.json()


async def refresh(api, client: dict, token: str) -> httpx.Response:
    return await post_as(
        api, client, "/oauth2/token", {"grant_type": "refresh_token", "refresh_token": token}
    )


# --- introspection: who may ask ---


async def test_introspection_without_client_authentication_is_invalid_client(setup):
    """RFC 7662 §2.1: the endpoint MUST require some form of authorization."""
    api = setup
    caller = await service(api)
    token = (await access_token(api, caller))["access_token"]
    response = await introspect(api, None, token)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response.headers["cache-control"] == "no-store"


async def test_introspection_with_a_wrong_secret_is_invalid_client(setup):
    """RFC 7662 §2.1 and RFC 6749 §5.2: a failed Basic attempt gets 401 and a challenge."""
    api = setup
    caller = await service(api)
    token = (await access_token(api, caller))["access_token"]
    wrong = {**caller, "client_secret": caller["client_secret"][:-2] + "zz"}
    response = await introspect(api, wrong, token)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response.headers["www-authenticate"].startswith("Basic")


async def test_public_client_cannot_introspect(setup):
    """RFC 7662 §2.1: a public client cannot authenticate, so it is not authorised to ask."""
    api = setup
    native = await native_app(api)
    tokens = await user_tokens(api, native)
    response = await introspect(api, native, tokens["access_token"])
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


async def test_introspection_without_token_is_invalid_request(setup):
    """RFC 7662 §2.1: ``token`` is REQUIRED."""
    api = setup
    caller = await service(api)
    response = await introspect(api, caller, None)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


async def test_disabled_client_cannot_introspect(setup):
    """RFC 7662 §2.1: only an authorised (here: active, authenticated) client may ask."""
    api = setup
    caller = await service(api)
    other = await service(api)
    token = (await access_token(api, other))["access_token"]
    await api.post(f"/admin/v1/clients/{caller['client_id']}/disable")
    response = await introspect(api, caller, token)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


# --- introspection: the answer ---


async def test_active_access_token_introspects_with_its_claims(setup):
    """RFC 7662 §2.2: an active token's response carries active, scope, client_id,
    token_type, exp, iat and sub; it is never cached."""
    api = setup
    caller = await service(api, access_token_ttl=900)
    issued = await access_token(api, caller)
    response = await introspect(api, caller, issued["access_token"])
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["active"] is True
    assert body["client_id"] == caller["client_id"]
    assert body["sub"] == caller["client_id"]  # client_credentials: the client itself
    assert body["scope"] == "orders"
    assert body["token_type"] == "Bearer"
    assert body["iss"] == ISSUER
    assert body["exp"] - body["iat"] == issued["expires_in"] == 900


async def test_user_access_token_introspects_with_the_user_as_subject(setup):
    """RFC 7662 §2.2: ``sub`` is the resource owner who authorised the token."""
    api = setup
    client = await web_app(api)
    tokens = await user_tokens(api, client, scope="profile")
    body = await introspected(api, client, tokens["access_token"])
    assert body["active"] is True
    assert body["client_id"] == client["client_id"]
    assert body["scope"] == "profile"
    assert body["sub"] not in ("", client["client_id"])


async def test_another_clients_access_token_is_inactive_without_the_permission(setup):
    """RFC 7662 §2.1 leaves it to the server which tokens a client may ask about: here
    only its own, so another client's active token is exactly {"active": false}, while
    its owner still sees it active."""
    api = setup
    owner = await service(api)
    stranger = await service(api, scope=None)
    token = (await access_token(api, owner))["access_token"]
    assert await introspected(api, stranger, token) == INACTIVE
    assert (await introspected(api, owner, token))["active"] is True


async def test_a_resource_server_with_the_permission_introspects_another_clients_token(setup):
    """RFC 7662 §2.1: a protected resource the administrator granted the introspection
    permission learns about any client's token it was handed."""
    api = setup
    owner = await service(api)
    server = await resource_server(api)
    token = (await access_token(api, owner))["access_token"]
    body = await introspected(api, server, token)
    assert body["active"] is True
    assert body["client_id"] == owner["client_id"]
    assert body["scope"] == "orders"


async def test_withdrawing_the_permission_makes_other_clients_tokens_inactive_at_once(setup):
    """The permission is read on every request (the credential cache holds it and drops
    it on a change): the very next introspection answers inactive; its own tokens stay
    visible."""
    api = setup
    owner = await service(api)
    server = await resource_server(api)
    token = (await access_token(api, owner))["access_token"]
    assert (await introspected(api, server, token))["active"] is True  # cached now
    own = (await access_token(api, server))["access_token"]
    withdrawn = await api.post(f"/admin/v1/clients/{server['client_id']}/withdraw-introspection")
    assert withdrawn.status_code == 200, withdrawn.text
    assert withdrawn.json()["may_introspect_others"] is False
    assert await introspected(api, server, token) == INACTIVE
    assert (await introspected(api, server, own))["active"] is True


async def test_the_admin_client_introspects_any_token_by_its_admin_scope(setup):
    """The admin client (scope appward:admin, as ``appward admin create-client`` and
    ``make run`` make it) may introspect every client's tokens without the permission,
    as the README shows; a client that loses the scope loses that at once."""
    api = setup
    owner = await web_app(api)
    tokens = await user_tokens(api, owner)
    admin = {"client_id": api.admin_id, "client_secret": api.admin_secret}
    shown = (await api.get(f"/admin/v1/clients/{api.admin_id}")).json()
    assert shown["may_introspect_others"] is False
    assert (await introspected(api, admin, tokens["access_token"]))["active"] is True
    assert (await introspected(api, admin, tokens["refresh_token"]))["active"] is True

    other_admin = await service(api, scope="appward:admin orders")
    assert (await introspected(api, other_admin, tokens["access_token"]))["active"] is True
    dropped = await api.patch(
        f"/admin/v1/clients/{other_admin['client_id']}", {"scope": "orders"}, if_match="*"
    )
    assert dropped.status_code == 200, dropped.text
    assert await introspected(api, other_admin, tokens["access_token"]) == INACTIVE


@pytest.mark.parametrize(
    "token",
    [
        "garbage",
        "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",  # alg none
        "apwrt_notarefreshtoken",
        "apwac_notatoken",
        "x" * 5000,
    ],
)
async def test_unknown_token_is_exactly_inactive(setup, token):
    """RFC 7662 §2.2: for a token that is not active the response is {"active": false}
    and nothing else, so the endpoint leaks nothing about it."""
    api = setup
    caller = await service(api)
    response = await introspect(api, caller, token)
    assert response.status_code == 200, response.text
    assert response.json() == INACTIVE
    assert response.headers["cache-control"] == "no-store"


async def test_expired_access_token_is_inactive(setup, clock):
    """RFC 7662 §2.2: a token past its ``exp`` is not active."""
    api = setup
    caller = await service(api, access_token_ttl=300)
    issued = await access_token(api, caller)
    clock.advance(issued["expires_in"] - 1)
    assert (await introspected(api, caller, issued["access_token"]))["active"] is True
    clock.advance(1)
    assert await introspected(api, caller, issued["access_token"]) == INACTIVE


async def test_revoked_access_token_is_inactive(setup):
    """RFC 7662 §2.2 with RFC 7009 §2.1: a revoked token is no longer active."""
    api = setup
    caller = await service(api)
    token = (await access_token(api, caller))["access_token"]
    assert (await revoke(api, caller, token)).status_code == 200
    assert await introspected(api, caller, token) == INACTIVE


async def test_disabled_clients_tokens_are_inactive(setup):
    """RFC 7662 §2.2: a token whose client was disabled is not active (checked at
    introspection time, not only at issue)."""
    api = setup
    owner = await service(api)
    server = await resource_server(api)
    token = (await access_token(api, owner))["access_token"]
    assert (await introspected(api, server, token))["active"] is True
    disabled = await api.post(f"/admin/v1/clients/{owner['client_id']}/disable")
    assert disabled.status_code == 200, disabled.text
    assert await introspected(api, server, token) == INACTIVE


async def test_disabled_clients_refresh_token_is_inactive(setup):
    """RFC 7662 §2.2: nor is a refresh token of a disabled client, asked by anyone."""
    api = setup
    owner = await web_app(api)
    server = await resource_server(api)
    tokens = await user_tokens(api, owner)
    assert (await introspected(api, server, tokens["refresh_token"]))["active"] is True
    await api.post(f"/admin/v1/clients/{owner['client_id']}/disable")
    assert await introspected(api, server, tokens["access_token"]) == INACTIVE
    assert await introspected(api, server, tokens["refresh_token"]) == INACTIVE


async def test_refresh_tokens_of_a_client_whose_tokens_were_all_revoked_are_inactive(setup, clock):
    """RFC 7662 §2.2: the owner's revoke-all (tokens_not_before) is what counts, whoever
    asks."""
    api = setup
    owner = await web_app(api)
    server = await resource_server(api)
    tokens = await user_tokens(api, owner)
    clock.advance(1)
    revoked = await api.post(f"/admin/v1/clients/{owner['client_id']}/revoke-tokens")
    assert revoked.status_code == 200, revoked.text
    assert await introspected(api, server, tokens["refresh_token"]) == INACTIVE
    assert await introspected(api, owner, tokens["refresh_token"]) == INACTIVE


async def test_deleted_clients_tokens_are_inactive(setup):
    """RFC 7662 §2.2: a token whose client no longer exists is not active."""
    api = setup
    owner = await web_app(api)
    server = await resource_server(api)
    tokens = await user_tokens(api, owner)
    assert (await api.delete(f"/admin/v1/clients/{owner['client_id']}")).status_code == 204
    assert await introspected(api, server, tokens["access_token"]) == INACTIVE
    assert await introspected(api, server, tokens["refresh_token"]) == INACTIVE


async def test_refresh_token_introspects_for_its_own_client_and_a_permitted_one(setup):
    """RFC 7662 §2.1/§4: a refresh token is described to the client it was issued to and
    to a client holding the introspection permission, as access tokens are; any other
    client gets {"active": false}."""
    api = setup
    owner = await web_app(api)
    stranger = await web_app(api)
    unpermitted = await service(api)
    server = await resource_server(api)
    tokens = await user_tokens(api, owner, scope="profile orders")
    body = await introspected(api, owner, tokens["refresh_token"])
    assert body["active"] is True
    assert body["client_id"] == owner["client_id"]
    assert body["scope"] == "profile orders"
    assert body["exp"] > body["iat"]
    assert await introspected(api, stranger, tokens["refresh_token"]) == INACTIVE
    assert await introspected(api, unpermitted, tokens["refresh_token"]) == INACTIVE
    assert await introspected(api, server, tokens["refresh_token"]) == body
    assert await introspected(api, stranger, tokens["access_token"]) == INACTIVE
    seen = await introspected(api, server, tokens["access_token"])
    assert seen["active"] is True
    assert seen["client_id"] == owner["client_id"]


async def test_expired_refresh_token_is_inactive(setup, clock):
    """RFC 7662 §2.2: a refresh token past its lifetime is not active."""
    api = setup
    client = await web_app(api, refresh_token_ttl=600)
    tokens = await user_tokens(api, client)
    clock.advance(599)
    assert (await introspected(api, client, tokens["refresh_token"]))["active"] is True
    clock.advance(1)
    assert await introspected(api, client, tokens["refresh_token"]) == INACTIVE


async def test_introspection_body_must_be_a_form(setup):
    """RFC 7662 §2.1: the request is application/x-www-form-urlencoded."""
    api = setup
    caller = await service(api)
    token = (await access_token(api, caller))["access_token"]
    response = await api.http.post(
        "/oauth2/introspect",
        json={"token": token},
        headers=basic(caller["client_id"], caller["client_secret"]),
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


async def test_rotated_refresh_token_is_inactive(setup):
    """RFC 7662 §2.2 with RFC 9700 §4.14.2: a rotated-out refresh token is spent."""
    api = setup
    client = await web_app(api)
    first = await user_tokens(api, client)
    second = await refresh(api, client, first["refresh_token"])
    assert second.status_code == 200, second.text
    assert await introspected(api, client, first["refresh_token"]) == INACTIVE
    assert (await introspected(api, client, second.json()["refresh_token"]))["active"] is True


async def test_a_misleading_token_type_hint_does_not_hide_the_token(setup):
    """RFC 7662 §2.1: if the token is not found under the hint, the server MUST extend
    its search across all of its supported token types."""
    api = setup
    client = await web_app(api)
    tokens = await user_tokens(api, client)
    by_refresh_hint = await introspect(
        api, client, tokens["access_token"], token_type_hint="refresh_token"
    )
    assert by_refresh_hint.json()["active"] is True
    by_access_hint = await introspect(
        api, client, tokens["refresh_token"], token_type_hint="access_token"
    )
    assert by_access_hint.json()["active"] is True


# --- revocation ---


async def test_client_revokes_its_own_access_token(setup):
    """RFC 7009 §2.1/§2.2: the token is invalidated at once and the answer is 200."""
    api = setup
    client = await service(api)
    token = (await access_token(api, client))["access_token"]
    response = await revoke(api, client, token, token_type_hint="access_token")
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["cache-control"] == "no-store"
    assert await introspected(api, client, token) == INACTIVE


async def test_revoking_twice_is_still_200(setup):
    """RFC 7009 §2.2: an already invalid token is answered with 200 as well."""
    api = setup
    client = await service(api)
    token = (await access_token(api, client))["access_token"]
    assert (await revoke(api, client, token)).status_code == 200
    assert (await revoke(api, client, token)).status_code == 200
    assert await introspected(api, client, token) == INACTIVE


async def test_revoked_admin_token_is_refused_by_the_admin_api(api):
    """RFC 7009 §2.1: after revocation the token must no longer be usable at the
    resource server; the admin API answers 401."""
    assert (await api.get("/admin/v1/clients")).status_code == 200
    admin = {"client_id": api.admin_id, "client_secret": api.admin_secret}
    assert (await revoke(api, admin, api.admin_token)).status_code == 200
    response = await api.get("/admin/v1/clients")
    assert response.status_code == 401
    assert "invalid_token" in response.headers["www-authenticate"]


async def test_client_revokes_its_own_refresh_token_and_the_grant_dies(setup):
    """RFC 7009 §2.1: revoking a refresh token SHOULD also invalidate the access tokens
    of the same grant; the refresh grant then fails with invalid_grant."""
    api = setup
    client = await web_app(api)
    tokens = await user_tokens(api, client)
    response = await revoke(api, client, tokens["refresh_token"], token_type_hint="refresh_token")
    assert response.status_code == 200
    refused = await refresh(api, client, tokens["refresh_token"])
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_grant"
    assert await introspected(api, client, tokens["access_token"]) == INACTIVE
    assert await introspected(api, client, tokens["refresh_token"]) == INACTIVE


def assert_refused_as_not_its_own(response: httpx.Response) -> None:
    """RFC 7009 §2.1/§2.2.1: refused with an RFC 6749 §5.2 error (unauthorized_client:
    see clients/policy.check_may_revoke for why this code), never cached, naming no
    token."""
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error"] == "unauthorized_client"
    assert "not issued to this client" in body["error_description"]
    assert response.headers["cache-control"] == "no-store"


async def test_revoking_another_clients_access_token_is_refused_and_it_stays_active(setup):
    """RFC 7009 §2.1: the server verifies the token was issued to the requesting client;
    if not, "the request is refused and the client is informed of the error"."""
    api = setup
    owner = await service(api)
    attacker = await service(api)
    token = (await access_token(api, owner))["access_token"]
    assert_refused_as_not_its_own(await revoke(api, attacker, token))
    assert_refused_as_not_its_own(await revoke(api, attacker, token, token_type_hint="foo"))
    assert (await introspected(api, owner, token))["active"] is True


async def test_revoking_another_clients_refresh_token_is_refused_and_the_grant_lives(setup):
    """RFC 7009 §2.1: as for access tokens; the owner's refresh token still refreshes."""
    api = setup
    owner = await web_app(api)
    attacker = await web_app(api)
    tokens = await user_tokens(api, owner)
    refused = await revoke(api, attacker, tokens["refresh_token"], token_type_hint="refresh_token")
    assert_refused_as_not_its_own(refused)
    assert (await introspected(api, owner, tokens["refresh_token"]))["active"] is True
    assert (await introspected(api, owner, tokens["access_token"]))["active"] is True
    assert (await refresh(api, owner, tokens["refresh_token"])).status_code == 200


async def test_neither_the_permission_nor_the_admin_scope_lets_a_client_revoke_others_tokens(
    setup,
):
    """RFC 7009 §2.1: revocation is only ever of one's own tokens; the introspection
    permission is about reading, and the admin revokes through the admin API."""
    api = setup
    owner = await web_app(api)
    server = await resource_server(api)
    admin = {"client_id": api.admin_id, "client_secret": api.admin_secret}
    tokens = await user_tokens(api, owner)
    for requester in (server, admin):
        for kind in ("access_token", "refresh_token"):
            assert_refused_as_not_its_own(await revoke(api, requester, tokens[kind]))
    assert (await introspected(api, owner, tokens["access_token"]))["active"] is True
    assert (await refresh(api, owner, tokens["refresh_token"])).status_code == 200


async def test_revoking_another_clients_expired_token_is_200(setup, clock):
    """RFC 7009 §2.2: an invalid (here: expired) token is answered 200, whoever it was
    issued to: nothing about it is worth refusing."""
    api = setup
    owner = await service(api, access_token_ttl=60)
    other = await service(api)
    token = (await access_token(api, owner))["access_token"]
    clock.advance(61)
    response = await revoke(api, other, token)
    assert response.status_code == 200
    assert response.content == b""


@pytest.mark.parametrize("token", ["garbage", "apwrt_unknown", "a.b.c"])
async def test_revoking_an_unknown_token_is_200(setup, token):
    """RFC 7009 §2.2: invalid tokens do not cause an error response."""
    api = setup
    client = await service(api)
    response = await revoke(api, client, token)
    assert response.status_code == 200
    assert response.content == b""


async def test_revoking_an_expired_token_is_200(setup, clock):
    """RFC 7009 §2.2: an invalid (here: expired) token is answered with 200."""
    api = setup
    client = await service(api, access_token_ttl=60)
    token = (await access_token(api, client))["access_token"]
    clock.advance(61)
    assert (await revoke(api, client, token)).status_code == 200


async def test_revocation_without_token_is_invalid_request(setup):
    """RFC 7009 §2.1: ``token`` is REQUIRED; §2.2.1 errors follow RFC 6749 §5.2."""
    api = setup
    client = await service(api)
    response = await revoke(api, client, None)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


async def test_revocation_without_client_authentication_is_invalid_client(setup):
    """RFC 7009 §2.1: the server first authenticates the client."""
    api = setup
    client = await service(api)
    token = (await access_token(api, client))["access_token"]
    response = await revoke(api, None, token)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert (await introspected(api, client, token))["active"] is True


async def test_revocation_with_a_wrong_secret_is_invalid_client(setup):
    """RFC 7009 §2.1 and RFC 6749 §5.2: a wrong secret is 401 and nothing is revoked."""
    api = setup
    client = await service(api)
    token = (await access_token(api, client))["access_token"]
    wrong = {**client, "client_secret": client["client_secret"][:-2] + "zz"}
    response = await revoke(api, wrong, token)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert (await introspected(api, client, token))["active"] is True


async def test_public_client_revokes_its_own_tokens_with_just_client_id(setup):
    """RFC 7009 §5: a public client identifies itself with client_id and may revoke its
    own tokens; the refresh token's grant goes with it."""
    api = setup
    native = await native_app(api)
    server = await resource_server(api)
    first = await user_tokens(api, native)
    assert (await introspected(api, server, first["access_token"]))["active"] is True
    assert (await revoke(api, native, first["access_token"])).status_code == 200
    assert await introspected(api, server, first["access_token"]) == INACTIVE

    second = await user_tokens(api, native)
    assert (await revoke(api, native, second["refresh_token"])).status_code == 200
    assert await introspected(api, server, second["access_token"]) == INACTIVE
    refused = await refresh(api, native, second["refresh_token"])
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_grant"


async def test_public_client_cannot_revoke_another_clients_token(setup):
    """RFC 7009 §2.1 and §5: knowing a client_id is not enough to revoke someone else's
    token."""
    api = setup
    native = await native_app(api)
    owner = await service(api)
    token = (await access_token(api, owner))["access_token"]
    assert_refused_as_not_its_own(await revoke(api, native, token))
    assert (await introspected(api, owner, token))["active"] is True
