"""An app's Keys on the portal (web/portal/app_keys.py, web/keys_tab.py): its owners and
co-owners see and edit the keys, jwks_uri, TLS subject and bound tokens through the same
ClientService.update as the console; a viewer is refused, another developer gets a 404,
an end user without the developer role is refused; the portal never sets the assertion
audience nor the introspection permission. (test_portal_isolation.py also runs these
routes through its whole matrix of callers.)"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest

from appward.clients.auth_methods import ClientAuthMethod
from appward.services import unit_of_work
from tests.factories import SETUP_ACTOR
from tests.functional.conftest import Api
from tests.functional.console_tabs import element, field_error
from tests.keys_helpers import METHOD_IDS, METHODS, ec_jwk, private_ec_jwk, rsa_jwk
from tests.oauth_helpers import hidden_fields
from tests.portal_helpers import browser_on, create_account, post_form, register_app, sign_in

pytestmark = pytest.mark.anyio


@pytest.fixture
async def dev(api: Api) -> AsyncIterator[httpx.AsyncClient]:
    await create_account(api, "dana")
    async with browser_on(api) as http:
        await sign_in(http, "dana")
        yield http


async def stored(api: Api, client_id: str) -> dict[str, object]:
    record = (await api.get(f"/admin/v1/clients/{client_id}")).json()
    return {**record, **record.pop("metadata")}


async def change(api: Api, client_id: str, patch: dict[str, object]) -> None:
    async with unit_of_work(api.app.state.appward, SETUP_ACTOR) as services:
        await services.clients.update(client_id, patch, expected_revision=None)


def url(client_id: str) -> str:
    return f"/portal/apps/{client_id}/keys"


async def keys_form(http: httpx.AsyncClient, client_id: str, **changes: str) -> dict[str, str]:
    page = await http.get(url(client_id))
    assert page.status_code == 200, page.text
    return {**hidden_fields(page.text), "jwks": "", "jwks_uri": "", **changes}


@pytest.mark.parametrize("method", METHODS, ids=METHOD_IDS)
async def test_an_owner_sees_the_keys_tab_for_each_method(api, dev, method: ClientAuthMethod):
    client_id, _ = await register_app(dev)
    patch: dict[str, object] = {
        "token_endpoint_auth_method": method.name,
        "jwks": {"keys": [rsa_jwk(), ec_jwk(alg="ES256")]},
    }
    if method.names_subject:
        patch["tls_client_auth_san_dns"] = "app.example.com"
    await change(api, client_id, patch)

    page = await dev.get(url(client_id))

    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert "rsa-1 RSA 2048" in element(page.text, "keys")
    assert "ec-1 EC P-256 ES256" in element(page.text, "keys")
    assert ('name="token_endpoint_auth_signing_alg"' in page.text) is bool(method.signing_algs)
    assert ('name="tls_subject_field"' in page.text) is method.names_subject
    app = (await dev.get(f"/portal/apps/{client_id}")).text
    assert 'id="app-keys"' in app
    assert ('id="app-secrets"' in app) is method.uses_secret


async def test_the_keys_page_headings_follow_its_h1(api, dev):
    """Under the portal page's h1 the sections are h2 (the console's tab, under its h2,
    keeps h3): axe-core's heading-order, found by the portal's Keys page check."""
    client_id, _ = await register_app(dev)
    await change(
        api,
        client_id,
        {
            "token_endpoint_auth_method": "tls_client_auth",
            "tls_client_auth_san_dns": "app.example.com",
        },
    )
    page = (await dev.get(url(client_id))).text
    assert '<h2 id="keys-heading">Registered keys</h2>' in page
    assert "<h2>TLS client certificate</h2>" in page
    assert '<h2 id="edit-keys-heading">Change the keys</h2>' in page
    assert "<h3" not in page


async def test_an_owner_saves_a_jwk_set_and_a_private_key_is_refused_beside_it(api, dev):
    client_id, _ = await register_app(dev)
    key = ec_jwk("dana-1", alg="ES256")
    saved = await dev.post(
        url(client_id), data=await keys_form(dev, client_id, jwks=json.dumps({"keys": [key]}))
    )
    assert saved.status_code == 303
    assert saved.headers["location"] == f"{url(client_id)}?done=saved"
    assert (await stored(api, client_id))["jwks"] == {"keys": [key]}
    page = (await dev.get(saved.headers["location"])).text
    assert "saved" in element(page, "notice")

    before = await stored(api, client_id)
    for bad, message in (
        (json.dumps({"keys": [private_ec_jwk()]}), "public keys only"),
        ("{not json", "is not valid JSON"),
        (json.dumps({"keys": [ec_jwk("x"), rsa_jwk("x")]}), "unique"),
    ):
        refused = await dev.post(url(client_id), data=await keys_form(dev, client_id, jwks=bad))
        assert refused.status_code == 400
        assert message in field_error(refused.text, "jwks")
    assert await stored(api, client_id) == before


async def test_a_co_owner_edits_the_keys_a_viewer_is_refused(api, dev):
    client_id, _ = await register_app(dev)
    await create_account(api, "cora")
    await create_account(api, "vera")
    for email, role in (("cora@example.com", "owner"), ("vera@example.com", "viewer")):
        added = await post_form(
            dev, f"/portal/apps/{client_id}/owners", {"email": email, "role": role}
        )
        assert added.status_code == 303, added.text
    async with browser_on(api) as cora, browser_on(api) as vera:
        await sign_in(cora, "cora")
        await sign_in(vera, "vera")
        form = await keys_form(cora, client_id, jwks=json.dumps({"keys": [rsa_jwk("cora")]}))
        assert (await cora.post(url(client_id), data=form)).status_code == 303
        before = await stored(api, client_id)
        assert "cora" in json.dumps(before["jwks"])

        assert (await vera.get(url(client_id))).status_code == 403
        refused = await vera.post(url(client_id), data={**form, "jwks": ""})
        assert refused.status_code == 403
        assert await stored(api, client_id) == before


async def test_another_developer_gets_a_404_and_an_end_user_is_refused(api, dev):
    client_id, _ = await register_app(dev)
    await change(api, client_id, {"jwks": {"keys": [rsa_jwk("danas-key")]}})
    await create_account(api, "otto")
    await create_account(api, "eve", None)
    before = await stored(api, client_id)
    async with browser_on(api) as otto, browser_on(api) as eve:
        await sign_in(otto, "otto")
        await sign_in(eve, "eve")
        token = hidden_fields((await otto.get("/login")).text)["csrf"]
        seen = await otto.get(url(client_id))
        assert seen.status_code == 404
        assert "danas-key" not in seen.text
        posted = await otto.post(url(client_id), data={"csrf": token, "revision": "2", "jwks": ""})
        assert posted.status_code == 404
        for method in ("GET", "POST"):
            response = await eve.request(method, url(client_id))
            assert response.status_code in (400, 403), (method, response.status_code)
            assert "danas-key" not in response.text
        assert (await eve.get(url(client_id))).status_code == 403
    assert await stored(api, client_id) == before


async def test_the_portal_never_sets_the_assertion_audience_or_introspection(api, dev):
    client_id, _ = await register_app(dev)
    form = await keys_form(
        dev,
        client_id,
        jwks=json.dumps({"keys": [rsa_jwk()]}),
        assertion_audience="compat",
        may_introspect_others="on",
        token_endpoint_auth_method="none",
    )
    assert (await dev.post(url(client_id), data=form)).status_code == 303
    record = await stored(api, client_id)
    assert record.get("assertion_audience") is None
    assert record["may_introspect_others"] is False
    assert record["token_endpoint_auth_method"] == "client_secret_basic"
    assert "rsa-1" in json.dumps(record["jwks"])
