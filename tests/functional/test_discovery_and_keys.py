"""Server metadata (RFC 8414), the JWKS (RFC 7517) and signing key rotation."""

from __future__ import annotations

import jwt
import pytest
from cryptography.fernet import Fernet

from appward.tokens.keys import load_key_encryption, rotate_signing_key
from appward.web.app import create_app, reload_keys
from tests.factories import SERVICE, metadata
from tests.functional.conftest import open_api

pytestmark = pytest.mark.anyio

ISSUER = "http://127.0.0.1:8000"
METADATA_PATH = "/.well-known/oauth-authorization-server"
# What a P-256 public JWK may carry (RFC 7518 §6.2.1 plus RFC 7517 §4 members).
PUBLIC_EC_MEMBERS = {"kty", "crv", "x", "y", "kid", "use", "alg"}
PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}


async def server_metadata(api) -> dict:
    response = await api.http.get(METADATA_PATH)
    assert response.status_code == 200, response.text
    return response.json()


async def jwks(api) -> dict:
    response = await api.http.get("/oauth2/jwks")
    assert response.status_code == 200, response.text
    return response.json()


async def published_kids(api) -> set[str]:
    # A set: keys made at the same (frozen) instant have no defined order.
    kids = [key["kid"] for key in (await jwks(api))["keys"]]
    assert len(kids) == len(set(kids)), kids
    return set(kids)


async def service_token(api) -> str:
    created = await api.post("/admin/v1/clients", metadata(SERVICE))
    assert created.status_code == 201, created.text
    client = created.json()
    response = await api.client_credentials(client["client_id"], client["client_secret"])
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def kid_of(token: str) -> str:
    return jwt.get_unverified_header(token)["kid"]


async def introspect(api, token: str) -> dict:
    # The admin client is confidential, so it may introspect (RFC 7662 §2.1).
    response = await api.http.post(
        "/oauth2/introspect",
        data={"token": token},
        auth=(api.admin_id, api.admin_secret),
    )
    assert response.status_code == 200, response.text
    return response.json()


async def rotate(api) -> str:
    """Rotates the signing key as the CLI does, then reloads this worker's key ring."""
    state = api.app.state.appward
    async with state.sessions()() as session:
        record = await rotate_signing_key(session, state.cipher, state.clock)
        await session.commit()
        kid = record.kid
    await reload_keys(state)
    return kid


# --- RFC 8414 metadata ---


async def test_metadata_names_the_issuer_and_every_endpoint(api):
    """RFC 8414 §2 and §3.3: ``issuer`` is identical to the issuer the metadata was
    requested for, and every endpoint is an absolute URL under it."""
    body = await server_metadata(api)
    assert body["issuer"] == ISSUER
    assert body["authorization_endpoint"] == f"{ISSUER}/oauth2/authorize"
    assert body["token_endpoint"] == f"{ISSUER}/oauth2/token"
    assert body["jwks_uri"] == f"{ISSUER}/oauth2/jwks"
    assert body["introspection_endpoint"] == f"{ISSUER}/oauth2/introspect"
    assert body["revocation_endpoint"] == f"{ISSUER}/oauth2/revoke"


async def test_metadata_endpoints_are_served_where_advertised(api):
    """RFC 8414 §2: the advertised URLs are the ones that answer."""
    body = await server_metadata(api)
    assert (await api.http.get(body["jwks_uri"].removeprefix(ISSUER))).status_code == 200
    for name in ("token_endpoint", "introspection_endpoint", "revocation_endpoint"):
        path = body[name].removeprefix(ISSUER)
        response = await api.http.post(path, data={})
        assert response.status_code in (400, 401), (name, response.status_code)
        assert "error" in response.json(), name


async def test_metadata_lists_supported_grants_and_client_auth_methods(api):
    """RFC 8414 §2: grant_types_supported and token_endpoint_auth_methods_supported."""
    body = await server_metadata(api)
    assert sorted(body["grant_types_supported"]) == [
        "authorization_code",
        "client_credentials",
        "refresh_token",
    ]
    assert sorted(body["token_endpoint_auth_methods_supported"]) == [
        "client_secret_basic",
        "client_secret_jwt",
        "client_secret_post",
        "none",
        "private_key_jwt",
    ]
    # RFC 7662 §2.1: public clients cannot introspect, so "none" is not offered there.
    assert "none" not in body["introspection_endpoint_auth_methods_supported"]


async def test_metadata_advertises_only_code_with_s256_and_iss(api):
    """RFC 8414 §2 with OAuth 2.1: only the code response type, PKCE with S256 only
    (RFC 7636 §4.2), and the RFC 9207 §3 iss response parameter."""
    body = await server_metadata(api)
    assert body["response_types_supported"] == ["code"]
    assert body["code_challenge_methods_supported"] == ["S256"]
    assert body["authorization_response_iss_parameter_supported"] is True


async def test_metadata_scopes_exclude_admin_only_scopes(api):
    """RFC 8414 §2: scopes_supported MAY omit scopes; admin-only ones are never
    advertised."""
    for name, admin_only in (("profile", False), ("orders", False), ("billing:admin", True)):
        created = await api.post(
            "/admin/v1/scopes", {"name": name, "description": name, "admin_only": admin_only}
        )
        assert created.status_code == 201, created.text
    scopes = (await server_metadata(api))["scopes_supported"]
    assert "profile" in scopes
    assert "orders" in scopes
    assert "appward:admin" not in scopes
    assert "billing:admin" not in scopes


async def test_metadata_is_json_and_cacheable(api):
    """RFC 8414 §3.2: a 200 with application/json."""
    response = await api.http.get(METADATA_PATH)
    assert response.headers["content-type"].startswith("application/json")
    assert "no-store" not in response.headers.get("cache-control", "")


# --- JWKS ---


async def test_jwks_has_only_public_ec_members(api):
    """RFC 7517 §4 and RFC 7518 §6.2: the published key set holds public keys only."""
    keys = (await jwks(api))["keys"]
    assert keys
    for key in keys:
        assert not PRIVATE_MEMBERS & key.keys(), key
        assert set(key) <= PUBLIC_EC_MEMBERS, key
        assert key["kty"] == "EC"
        assert key["crv"] == "P-256"
        assert key["alg"] == "ES256"
        assert key["use"] == "sig"
        assert key["kid"]


async def test_access_tokens_name_a_published_kid_that_verifies_them(api):
    """RFC 9068 §4 and RFC 7515 §4.1.4: the ``kid`` in the token header selects the JWKS
    key that verifies the signature."""
    token = await service_token(api)
    keys = {key["kid"]: key for key in (await jwks(api))["keys"]}
    assert kid_of(token) in keys
    public = jwt.PyJWK(keys[kid_of(token)]).key
    claims = jwt.decode(
        token, public, algorithms=["ES256"], audience=ISSUER, options={"verify_exp": False}
    )
    assert claims["iss"] == ISSUER


# --- key rotation ---


async def test_rotation_signs_new_tokens_with_the_new_key(api):
    old_token = await service_token(api)
    new_kid = await rotate(api)
    new_token = await service_token(api)
    assert kid_of(new_token) == new_kid != kid_of(old_token)
    assert (await introspect(api, new_token))["active"] is True


async def test_tokens_signed_before_rotation_still_verify(api):
    """RFC 7517 §5: a retired key stays in the set while tokens it signed are live, so
    resource servers caching the JWKS can still verify them."""
    old_token = await service_token(api)
    old_kid = kid_of(old_token)
    new_kid = await rotate(api)
    assert (await introspect(api, old_token))["active"] is True
    assert await published_kids(api) == {old_kid, new_kid}


async def test_a_lost_key_encryption_key_is_replaced_by_rotating_under_a_new_one(
    api, settings, clock
):
    """What docs/deployment.md promises: a server given another key-encryption key than
    the signing key was stored with refuses to start; `appward keys rotate` under a new
    one lets it start, and tokens signed before still verify (public keys are in clear)."""
    old_token = await service_token(api)
    new_kek = Fernet.generate_key().decode()
    replaced = settings.model_copy(update={"key_encryption_key": new_kek})
    refused = create_app(replaced, clock=clock)
    with pytest.raises(RuntimeError, match="cannot decrypt the signing key"):
        async with refused.router.lifespan_context(refused):
            pass
    async with api.app.state.appward.sessions()() as session:  # `appward keys rotate`
        await rotate_signing_key(session, load_key_encryption(new_kek, settings.data_dir), clock)
        await session.commit()
    async with open_api(replaced, clock) as restarted:
        assert (await introspect(restarted, old_token))["active"] is True
        new_token = await service_token(restarted)
        assert kid_of(new_token) != kid_of(old_token)
        assert await published_kids(restarted) == {kid_of(old_token), kid_of(new_token)}


# access_token_ttl_max plus key_reload_interval: a worker may sign with a retired key
# until its next reload, and such a token must verify for its whole lifetime.
WINDOW = 86400 + 30


async def test_retired_key_leaves_the_jwks_once_its_tokens_have_expired(api, clock):
    """A retired key is published for access_token_ttl_max + key_reload_interval after
    retirement, the longest any token it signed can live, and not after."""
    old_kid = kid_of(await service_token(api))
    new_kid = await rotate(api)

    clock.advance(WINDOW - 1)
    await reload_keys(api.app.state.appward)
    assert await published_kids(api) == {old_kid, new_kid}

    clock.advance(1)
    await reload_keys(api.app.state.appward)
    assert await published_kids(api) == {new_kid}


async def test_a_second_rotation_keeps_every_key_still_within_its_window(api, clock):
    """Two rotations inside a day publish three keys; each drops out WINDOW after its
    own retirement."""
    first = kid_of(await service_token(api))
    second = await rotate(api)
    clock.advance(3600)
    third = await rotate(api)
    assert await published_kids(api) == {first, second, third}
    clock.advance(WINDOW - 3600)
    await reload_keys(api.app.state.appward)
    assert await published_kids(api) == {second, third}
    clock.advance(3600)
    await reload_keys(api.app.state.appward)
    assert await published_kids(api) == {third}


async def test_longest_lived_token_signed_before_rotation_verifies_until_it_expires(api, clock):
    """The publication window covers the whole life of a token with the longest
    lifetime signed just before the key was retired."""
    created = await api.post("/admin/v1/clients", metadata(SERVICE, access_token_ttl=86400))
    assert created.status_code == 201, created.text
    client = created.json()
    response = await api.client_credentials(client["client_id"], client["client_secret"])
    old_token = response.json()["access_token"]
    await rotate(api)
    clock.advance(86399)
    await reload_keys(api.app.state.appward)
    assert (await introspect(api, old_token))["active"] is True
    assert kid_of(old_token) in await published_kids(api)


async def rotate_elsewhere(api) -> str:
    """Rotates the signing key in the database only, as ``appward keys rotate`` does from
    another process: this worker keeps signing with the old key until its next reload."""
    state = api.app.state.appward
    async with state.sessions()() as session:
        record = await rotate_signing_key(session, state.cipher, state.clock)
        await session.commit()
        return record.kid


async def test_token_signed_by_a_worker_before_its_reload_verifies_until_it_expires(api, clock):
    """A rotation made elsewhere reaches this worker only at its next reload; a token it
    signs meanwhile with the retired key must still verify for its whole lifetime."""
    created = await api.post("/admin/v1/clients", metadata(SERVICE, access_token_ttl=86400))
    assert created.status_code == 201, created.text
    client = created.json()
    await rotate_elsewhere(api)
    clock.advance(api.app.state.appward.settings.key_reload_interval - 1)
    response = await api.client_credentials(client["client_id"], client["client_secret"])
    token = response.json()["access_token"]
    await reload_keys(api.app.state.appward)
    clock.advance(86400 - 1)  # 29 s before the token's exp, 86429 s after retirement
    await reload_keys(api.app.state.appward)
    assert (await introspect(api, token))["active"] is True
