"""The console's Keys tab of a client (web/console/client_keys.py, web/keys_tab.py): the
registered keys with their kid, type, alg/use and last use, the jwks_uri, the TLS subject
and bound tokens; editing them through ClientService.update at a revision, each refusal
beside its input; who may."""

from __future__ import annotations

import json
from datetime import timedelta
from urllib.parse import quote

import pytest
from sqlalchemy import select

from appward.auth.client_keys import record_key_use
from appward.clients.auth_methods import ClientAuthMethod
from appward.clients.models import Client
from appward.services import unit_of_work
from tests.factories import SERVICE, SETUP_ACTOR, metadata
from tests.functional.conftest import Api, audit_trail, open_api
from tests.functional.console_tabs import (
    csrf,
    element,
    field_error,
    long_sessions,
    request,
    signed_in,
)
from tests.keys_helpers import METHOD_IDS, METHODS, client_for, ec_jwk, private_ec_jwk, rsa_jwk
from tests.oauth_helpers import hidden_fields

pytestmark = pytest.mark.anyio


@pytest.fixture
async def api(settings, clock):
    async with open_api(long_sessions(settings), clock) as opened:
        yield opened


async def new_client(api: Api, data: dict[str, object]) -> str:
    response = await api.post("/admin/v1/clients", data)
    assert response.status_code == 201, response.text
    client_id: str = response.json()["client_id"]
    return client_id


async def stored(api: Api, client_id: str) -> dict[str, object]:
    record = (await api.get(f"/admin/v1/clients/{client_id}")).json()
    return {**record, **record.pop("metadata")}


def tab(client_id: str) -> str:
    return f"/console/clients/{quote(client_id)}/keys"


async def keys_form(api: Api, client_id: str) -> dict[str, str]:
    """The Keys form as the page shows it (hidden fields and the JWK Set)."""
    page = (await api.http.get(tab(client_id))).text
    form = hidden_fields(page)
    form["jwks"] = json.dumps((await stored(api, client_id)).get("jwks")) or ""
    if 'name="tls_client_certificate_bound_access_tokens" value="on"\n    checked' in page:
        form["tls_client_certificate_bound_access_tokens"] = "on"
    return form


# --- what it shows ---


@pytest.mark.parametrize("method", METHODS, ids=METHOD_IDS)
async def test_the_keys_tab_shows_what_each_method_registered(api, method: ClientAuthMethod):
    client_id = await new_client(api, client_for(method))
    await signed_in(api)

    page = await api.http.get(tab(client_id))

    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert method.name in element(page.text, "keys-method")
    rows = element(page.text, "keys")
    assert "rsa-1 RSA 2048 any any never" in rows
    assert "ec-1 EC P-256 ES256 sig never" in rows
    assert 'aria-current="page">Keys<' in page.text
    # The method's descriptor decides what is offered, not its name.
    assert ('href="' + f"/console/clients/{client_id}/credentials" + '"' in page.text) is (
        method.uses_secret
    )
    assert ('name="token_endpoint_auth_signing_alg"' in page.text) is bool(method.signing_algs)
    for alg in method.signing_algs:
        assert f'<option value="{alg}"' in page.text
    assert ('name="tls_subject_field"' in page.text) is method.names_subject
    if method.names_subject:
        assert "client.example.com" in element(page.text, "tls-subject")
    assert "off" in element(page.text, "bound-tokens")


async def test_a_keys_last_use_and_a_kidless_keys_thumbprint_are_shown(api, clock):
    kidless = rsa_jwk(kid=None)
    client_id = await new_client(api, metadata(SERVICE, jwks={"keys": [ec_jwk(), kidless]}))
    async with unit_of_work(api.app.state.appward, SETUP_ACTOR) as services:
        pk = await services.session.scalar(select(Client.pk).where(Client.client_id == client_id))
        assert pk is not None
        await record_key_use(services.session, pk, "ec-1", clock.now() - timedelta(hours=1))
    await signed_in(api)

    rows = element((await api.http.get(tab(client_id))).text, "keys")

    used = (clock.now() - timedelta(hours=1)).strftime("%Y-%m-%d %H:%M")
    assert f"ec-1 EC P-256 any any {used} UTC" in rows
    assert "sha256:" in rows
    assert "RSA 2048 any any never" in rows


async def test_a_jwks_uri_client_shows_its_uri_and_that_keys_are_fetched(api):
    uri = "https://keys.example.com/jwks.json"
    client_id = await new_client(api, metadata(SERVICE, jwks_uri=uri))
    await signed_in(api)
    page = (await api.http.get(tab(client_id))).text
    assert uri in element(page, "no-keys")
    assert "fetched" in element(page, "no-keys")
    assert f'name="jwks_uri" type="url" value="{uri}"' in page


async def test_the_credentials_tab_is_not_offered_to_a_public_client(api):
    [none] = [m for m in METHODS if m.public]
    client_id = await new_client(api, client_for(none))
    await signed_in(api)
    page = (await api.http.get(f"/console/clients/{client_id}")).text
    assert f"/console/clients/{client_id}/keys" in page
    assert f"/console/clients/{client_id}/credentials" not in page
    # Opened anyway, it explains itself.
    credentials = (await api.http.get(f"/console/clients/{client_id}/credentials")).text
    assert "no secrets" in element(credentials, "no-secrets")


# --- editing ---


async def test_saving_a_new_jwk_set_stores_it_audited(api):
    client_id = await new_client(api, metadata(SERVICE, jwks={"keys": [rsa_jwk()]}))
    await signed_in(api)
    form = await keys_form(api, client_id)
    new_key = ec_jwk("ec-new", alg="ES256")
    form["jwks"] = json.dumps({"keys": [new_key]})
    form["tls_client_certificate_bound_access_tokens"] = "on"
    before = await audit_trail(api)

    saved = await api.http.post(tab(client_id), data=form)

    assert saved.status_code == 303
    assert saved.headers["location"] == f"{tab(client_id)}?done=saved"
    record = await stored(api, client_id)
    assert record["jwks"] == {"keys": [new_key]}
    assert record["tls_client_certificate_bound_access_tokens"] is True
    assert record["revision"] == 2
    page = (await api.http.get(saved.headers["location"])).text
    assert "The keys were saved" in element(page, "notice")
    assert "ec-new" in element(page, "keys")
    events = (await api.get("/admin/v1/audit-events?limit=50")).json()["items"]
    updated = [e for e in events if e["id"] not in before]
    assert [e["action"] for e in updated] == ["client:updated"]
    assert updated[0]["actor"].startswith("user:")
    assert set(updated[0]["changes"]) == {
        "jwks",
        "tls_client_certificate_bound_access_tokens",
    }


async def test_an_empty_jwk_set_with_a_jwks_uri_moves_the_client_to_the_uri(api):
    client_id = await new_client(api, metadata(SERVICE, jwks={"keys": [rsa_jwk()]}))
    await signed_in(api)
    form = {**await keys_form(api, client_id), "jwks": "", "jwks_uri": "https://k.example/j"}
    assert (await api.http.post(tab(client_id), data=form)).status_code == 303
    record = await stored(api, client_id)
    assert record.get("jwks") is None
    assert record["jwks_uri"] == "https://k.example/j"


BAD_KEYS = [
    # (the form's changes, the input the message is beside, part of the message)
    ({"jwks": json.dumps({"keys": [private_ec_jwk()]})}, "jwks", "public keys only"),
    ({"jwks": '{"keys": [ not json'}, "jwks", "is not valid JSON"),
    ({"jwks": json.dumps({"keys": [ec_jwk("same"), rsa_jwk("same")]})}, "jwks", "unique"),
    ({"jwks": json.dumps({"keys": []})}, "jwks", "non-empty"),
    ({"jwks": json.dumps({"keys": [{"kty": "EC", "crv": "P-256"}]})}, "jwks", "usable"),
    ({"jwks_uri": "https://k.example/j"}, "jwks", "cannot both be given"),
    ({"jwks": "", "jwks_uri": "http://k.example/j"}, "jwks_uri", "https"),
]


@pytest.mark.parametrize(("changes", "field", "message"), BAD_KEYS)
async def test_a_bad_key_change_is_refused_beside_its_input(api, changes, field, message):
    client_id = await new_client(api, metadata(SERVICE, jwks={"keys": [rsa_jwk()]}))
    before = await stored(api, client_id)
    await signed_in(api)
    form = {**await keys_form(api, client_id), **changes}

    refused = await api.http.post(tab(client_id), data=form)

    assert refused.status_code == 400, refused.text
    assert message in field_error(refused.text, field)
    assert "Nothing was saved" in refused.text
    # The edit is shown again as posted, and nothing is stored.
    assert f'name="jwks_uri" type="url" value="{form.get("jwks_uri", "")}"' in refused.text
    assert await stored(api, client_id) == before
    # Neither the private key nor anything else secret is echoed outside the textarea.
    assert refused.text.count('"d"') <= 1


async def test_a_signing_alg_the_method_does_not_take_is_refused_beside_it(api):
    client_id = await new_client(api, metadata(SERVICE, jwks={"keys": [rsa_jwk()]}))
    await signed_in(api)
    # Posted by hand: the form offers no select for a method without signing algs.
    form = {**await keys_form(api, client_id), "token_endpoint_auth_signing_alg": "RS256"}
    assert (await api.http.post(tab(client_id), data=form)).status_code == 303
    assert (await stored(api, client_id)).get("token_endpoint_auth_signing_alg") is None


async def test_a_stale_revision_keeps_the_edit_and_stores_nothing(api):
    client_id = await new_client(api, metadata(SERVICE, jwks={"keys": [rsa_jwk()]}))
    await signed_in(api)
    form = await keys_form(api, client_id)
    async with unit_of_work(api.app.state.appward, SETUP_ACTOR) as services:
        await services.clients.update(client_id, {"client_name": "Other"}, expected_revision=None)
    form["jwks"] = json.dumps({"keys": [ec_jwk("mine")]})

    refused = await api.http.post(tab(client_id), data=form)

    assert refused.status_code == 409
    assert "Someone else changed this client" in element(refused.text, "error-summary")
    assert "mine" in refused.text  # the edit is kept
    assert hidden_fields(refused.text)["revision"] == "2"
    assert (await stored(api, client_id))["jwks"] != {"keys": [ec_jwk("mine")]}
    assert "mine" not in json.dumps((await stored(api, client_id))["jwks"])


async def test_a_form_without_its_revision_is_refused(api):
    client_id = await new_client(api, metadata(SERVICE))
    await signed_in(api)
    form = await keys_form(api, client_id)
    form.pop("revision")
    refused = await api.http.post(tab(client_id), data=form)
    assert refused.status_code == 400
    assert "revision" in element(refused.text, "error-summary")
    assert (await stored(api, client_id))["revision"] == 1


async def test_a_keys_form_without_its_csrf_token_changes_nothing(api):
    client_id = await new_client(api, metadata(SERVICE))
    await signed_in(api)
    form = {**await keys_form(api, client_id), "jwks": json.dumps({"keys": [rsa_jwk()]})}
    form.pop("csrf")
    assert (await api.http.post(tab(client_id), data=form)).status_code == 400
    assert (await stored(api, client_id))["revision"] == 1


# --- who may ---

ROUTES = [("GET", "/keys"), ("POST", "/keys")]


@pytest.mark.parametrize(("method", "path"), ROUTES)
async def test_anonymous_is_sent_to_sign_in(api, method, path):
    client_id = await new_client(api, metadata(SERVICE))
    url = f"/console/clients/{client_id}{path}"
    response = await request(api.http, method, url, "")
    assert response.status_code == 303
    assert response.headers["location"] == f"/login?next={quote(url, safe='')}"


@pytest.mark.parametrize("role", [None, "developer"])
@pytest.mark.parametrize(("method", "path"), ROUTES)
async def test_an_account_that_is_no_admin_is_refused(api, role, method, path):
    client_id = await new_client(api, metadata(SERVICE))
    await signed_in(api, "nadia", role)
    token = hidden_fields((await api.http.get("/account")).text)["csrf"]
    response = await api.http.request(
        method,
        f"/console/clients/{client_id}{path}",
        data={"csrf": token, "revision": "1", "jwks": json.dumps({"keys": [rsa_jwk()]})}
        if method == "POST"
        else None,
    )
    assert response.status_code == 403
    assert "administrator" in response.text
    assert (await stored(api, client_id))["revision"] == 1


@pytest.mark.parametrize(("method", "path"), ROUTES)
async def test_an_unknown_client_is_a_404_page(api, method, path):
    await signed_in(api)
    response = await request(
        api.http, method, f"/console/clients/nosuchclient{path}", await csrf(api)
    )
    assert response.status_code == 404
    assert "No such client" in response.text


# --- the create form's credential group ---


async def test_the_create_form_offers_each_method_and_its_key_fields(api):
    await signed_in(api)
    page = (await api.http.get("/console/clients/new")).text
    for method in METHODS:
        assert f'<option value="{method.name}"' in page
    for name in ("jwks", "jwks_uri", "tls_subject_field", "tls_subject_value"):
        assert f'name="{name}"' in page
    form = hidden_fields(page)
    key = ec_jwk("made-here", alg="ES256")
    created = await api.http.post(
        "/console/clients/new",
        data={
            **form,
            "client_name": "Keyed",
            "token_endpoint_auth_method": "client_secret_basic",
            "grant_type.client_credentials": "on",
            "jwks": json.dumps({"keys": [key]}),
            "tls_client_certificate_bound_access_tokens": "on",
        },
    )
    assert created.status_code == 201, created.text
    listed = (await api.get("/admin/v1/clients?name=Keyed")).json()["items"]
    [client_id] = [c["client_id"] for c in listed]
    record = await stored(api, client_id)
    assert record["jwks"] == {"keys": [key]}
    assert record["tls_client_certificate_bound_access_tokens"] is True
    # A TLS subject for a method that uses no certificate: refused beside its value.
    refused = await api.http.post(
        "/console/clients/new",
        data={
            **form,
            "client_name": "Refused",
            "token_endpoint_auth_method": "client_secret_basic",
            "grant_type.client_credentials": "on",
            "tls_subject_field": "tls_client_auth_san_dns",
            "tls_subject_value": "svc.example.com",
        },
    )
    assert refused.status_code == 400
    assert "tls_client_auth" in field_error(refused.text, "tls_subject_value")
    assert (await api.get("/admin/v1/clients?name=Refused")).json()["items"] == []


async def test_the_keys_tab_refuses_a_malformed_dn_beside_it_and_stores_a_good_one_canonically(
    api,
):
    """The Keys tab's subject goes through the metadata validator's DN rule (RFC 4514),
    as the admin API's and DCR's does."""
    client_id = await new_client(
        api,
        metadata(
            SERVICE,
            token_endpoint_auth_method="tls_client_auth",
            tls_client_auth_san_dns="svc.example.com",
        ),
    )
    await signed_in(api)
    form = {
        **(await keys_form(api, client_id)),
        "tls_subject_field": "tls_client_auth_subject_dn",
        "tls_subject_value": "svc.example.com",
    }
    refused = await api.http.post(tab(client_id), data=form)
    assert refused.status_code == 400
    assert "RFC 4514" in field_error(refused.text, "tls_subject_value")
    assert (await stored(api, client_id))["tls_client_auth_san_dns"] == "svc.example.com"
    saved = await api.http.post(tab(client_id), data={**form, "tls_subject_value": "cn=svc, o=x"})
    assert saved.status_code == 303, saved.text
    record = await stored(api, client_id)
    assert record["tls_client_auth_subject_dn"] == "CN=svc,O=x"
    assert "tls_client_auth_san_dns" not in record


# --- a key change applies at once ---

KEY_CHANGES = [
    {"jwks": json.dumps({"keys": [ec_jwk("next")]})},
    {"jwks": "", "jwks_uri": "https://k.example/j"},
    {"tls_client_certificate_bound_access_tokens": "on"},
]


@pytest.mark.parametrize("changes", KEY_CHANGES)
async def test_a_key_change_is_announced_to_the_credential_cache(api, changes):
    """ClientService.update announces the change (as a secret's revocation is), so every
    process's cache of verified credentials is dropped once the save commits."""
    created = await api.post("/admin/v1/clients", metadata(SERVICE, jwks={"keys": [rsa_jwk()]}))
    client_id, secret = created.json()["client_id"], created.json()["client_secret"]
    cache = api.app.state.appward.credential_cache
    assert cache is not None
    token = await api.http.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=(client_id, secret),
    )
    assert token.status_code == 200
    await signed_in(api)
    form = {**await keys_form(api, client_id), **changes}
    before = cache.epoch()

    assert (await api.http.post(tab(client_id), data=form)).status_code == 303

    assert cache.epoch() != before
    # A refused change announces nothing.
    after = cache.epoch()
    refused = {**await keys_form(api, client_id), "jwks": '{"keys": []}'}
    assert (await api.http.post(tab(client_id), data=refused)).status_code == 400
    assert cache.epoch() == after


async def test_a_token_request_with_the_old_key_fails_right_after_the_change(api, clock):
    from tests.functional.test_private_key_jwt import claims_for, refused, sign, token
    from tests.keys import ec_key, rsa_key

    old, new = rsa_key("old-key"), ec_key("new-key")
    created = await api.post(
        "/admin/v1/clients",
        metadata(SERVICE, token_endpoint_auth_method="private_key_jwt", jwks=old.jwks()),
    )
    assert created.status_code == 201, created.text
    client_id = created.json()["client_id"]
    assert (await token(api, sign(old, claims_for(client_id, clock)))).status_code == 200
    await signed_in(api)
    page = (await api.http.get(tab(client_id))).text
    assert "old-key RSA 2048 any any" in element(page, "keys")
    assert "never" not in element(page, "keys")  # its use was recorded
    form = {
        **await keys_form(api, client_id),
        "jwks": json.dumps(new.jwks()),
        "token_endpoint_auth_signing_alg": "ES256",
    }

    assert (await api.http.post(tab(client_id), data=form)).status_code == 303

    refused(await token(api, sign(old, claims_for(client_id, clock))))
    assert (await token(api, sign(new, claims_for(client_id, clock)))).status_code == 200
    assert (await stored(api, client_id))["token_endpoint_auth_signing_alg"] == "ES256"
    rows = element((await api.http.get(tab(client_id))).text, "keys")
    assert "old-key" not in rows
    assert "new-key EC P-256" in rows
