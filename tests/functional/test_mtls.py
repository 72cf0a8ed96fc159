"""Mutual TLS client authentication and certificate-bound tokens (RFC 8705) through HTTP:
the certificate arrives in the proxy's header, believed only from a trusted proxy."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from jwt.algorithms import ECAlgorithm
from sqlalchemy import func, select

from appward.auth.models import ClientKeyUse
from appward.clock import FrozenClock
from appward.config import Settings
from appward.services import unit_of_work
from appward.tokens.models import RefreshToken
from appward.web.app import create_app
from tests.certificates import Issued, make_ca, make_leaf
from tests.factories import SERVICE, SETUP_ACTOR, WEB_APP, basic, metadata
from tests.functional.conftest import create_admin, open_api
from tests.oauth_helpers import PASSWORD, Browser, pkce_pair

pytestmark = pytest.mark.anyio

HEADER = "X-SSL-Client-Cert"
PROXY = ("127.0.0.9", 4711)  # the ASGI peer of requests "through the proxy"
STRANGER = ("10.1.2.3", 1234)  # any other peer
REDIRECT = "https://app.example.com/callback"
DN = "CN=billing,O=Appward Tests,C=DE"


@dataclass
class Mtls:
    """The app with mTLS on, its admin's token, and the test CA's certificates."""

    http: httpx.AsyncClient  # from the trusted proxy's address
    stranger: httpx.AsyncClient  # from an address that is no proxy
    admin: dict[str, str]
    ca: Issued
    good: Issued  # CN=billing, from the CA
    other: Issued  # CN=billing too, from another CA
    now: datetime  # the frozen clock's: certificates are made valid around it

    async def create(self, base: dict[str, Any], **changes: Any) -> dict[str, Any]:
        response = await self.http.post(
            "/admin/v1/clients", json=metadata(base, **changes), headers=self.admin
        )
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    async def token(
        self,
        client_id: str,
        certificate: Issued | None,
        *,
        via: httpx.AsyncClient | None = None,
        headers: dict[str, str] | None = None,
        **form: str,
    ) -> httpx.Response:
        """POST /oauth2/token as ``client_id`` (no secret) with ``certificate`` in the
        proxy's header; client_credentials unless ``form`` says otherwise."""
        sent = dict(headers or {})
        if certificate is not None:
            sent[HEADER] = certificate.nginx_header()
        data = {"grant_type": "client_credentials", **form}
        if "Authorization" not in sent:
            data["client_id"] = client_id
        return await (via or self.http).post("/oauth2/token", data=data, headers=sent)


@asynccontextmanager
async def open_mtls(settings: Settings, clock: FrozenClock, tmp_path: Path) -> AsyncIterator[Mtls]:
    now = clock.now()
    ca, other_ca = make_ca(now=now), make_ca("Other CA", now=now)
    bundle = tmp_path / "client-ca.pem"
    bundle.write_bytes(ca.pem)
    configured = settings.model_copy(
        update={
            "mtls_certificate_header": HEADER,
            "mtls_trusted_proxies": ("127.0.0.9/32",),
            "mtls_ca_bundle": bundle,
            "mtls_endpoint_base": "https://mtls.example.com",
        }
    )
    app = create_app(configured, clock=clock)
    async with app.router.lifespan_context(app):
        proxy = httpx.ASGITransport(app=app, client=PROXY)
        stranger = httpx.ASGITransport(app=app, client=STRANGER)
        async with (
            httpx.AsyncClient(transport=proxy, base_url="http://testserver") as http,
            httpx.AsyncClient(transport=stranger, base_url="http://testserver") as other,
        ):
            admin_id, admin_secret = await create_admin(app)
            token = await http.post(
                "/oauth2/token",
                data={"grant_type": "client_credentials"},
                headers=basic(admin_id, admin_secret),
            )
            assert token.status_code == 200, token.text
            bearer = {"Authorization": f"Bearer {token.json()['access_token']}"}
            yield Mtls(
                http,
                other,
                bearer,
                ca,
                make_leaf(ca, now=now, dns=("billing.example.com",)),
                make_leaf(other_ca, now=now, dns=("billing.example.com",)),
                now,
            )


@pytest.fixture
async def mtls(settings: Settings, clock: FrozenClock, tmp_path: Path) -> AsyncIterator[Mtls]:
    async with open_mtls(settings, clock, tmp_path) as opened:
        yield opened


def tls_service(**changes: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "token_endpoint_auth_method": "tls_client_auth",
        "tls_client_auth_subject_dn": DN,
        **changes,
    }
    return metadata(SERVICE, **fields)


def public_jwks(*issued: Issued) -> dict[str, Any]:
    keys = []
    for number, item in enumerate(issued):
        key = json.loads(ECAlgorithm.to_jwk(item.key.public_key()))  # type: ignore[arg-type]
        keys.append({**key, "kid": f"k{number}"})
    return {"keys": keys}


def claims_of(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    decoded: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return decoded


def assert_invalid_client(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "invalid_client"


# --- tls_client_auth (RFC 8705 §2.1) ---


async def test_tls_client_auth_with_the_registered_certificate_gets_a_token(mtls: Mtls) -> None:
    client = await mtls.create(tls_service())
    assert client["client_secret"] is None  # no secret for a certificate method
    response = await mtls.token(client["client_id"], mtls.good)
    assert claims_of(response)["client_id"] == client["client_id"]


@pytest.mark.parametrize(
    ("case", "subject"),
    [
        (
            "subject DN in another spelling",
            {"tls_client_auth_subject_dn": "cn=billing, o=Appward Tests, c=DE"},
        ),
        ("SAN DNS", {"tls_client_auth_san_dns": "billing.example.com"}),
    ],
)
async def test_tls_client_auth_matches_each_kind_of_subject(
    mtls: Mtls, case: str, subject: dict[str, str]
) -> None:
    changes: dict[str, Any] = {"tls_client_auth_subject_dn": None, **subject}
    client = await mtls.create(tls_service(**changes))
    assert (await mtls.token(client["client_id"], mtls.good)).status_code == 200, case


@pytest.mark.parametrize(
    "case",
    ["wrong subject", "wrong CA", "no certificate", "forged header from a non-proxy peer"],
)
async def test_tls_client_auth_refuses(mtls: Mtls, case: str) -> None:
    client = await mtls.create(tls_service())
    client_id = client["client_id"]
    if case == "wrong subject":
        # From the right CA, for another client.
        payroll = make_leaf(mtls.ca, now=mtls.now, common_name="payroll")
        response = await mtls.token(client_id, payroll)
    elif case == "wrong CA":
        response = await mtls.token(client_id, mtls.other)
    elif case == "no certificate":
        response = await mtls.token(client_id, None)
    else:
        # The very certificate that works through the proxy, sent by someone else.
        response = await mtls.token(client_id, mtls.good, via=mtls.stranger)
    assert_invalid_client(response)
    assert "access_token" not in response.json()


async def test_a_malformed_header_from_the_proxy_is_invalid_client(mtls: Mtls) -> None:
    client = await mtls.create(tls_service())
    response = await mtls.http.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials", "client_id": client["client_id"]},
        headers={HEADER: "not%20a%20certificate"},
    )
    assert_invalid_client(response)
    assert response.json()["error_description"] == "the client certificate is malformed"


async def test_tls_client_auth_with_a_secret_instead_is_refused(mtls: Mtls) -> None:
    client = await mtls.create(tls_service())
    response = await mtls.token(
        client["client_id"], mtls.good, headers=basic(client["client_id"], "apwcs_whatever")
    )
    assert_invalid_client(response)


async def test_the_certificate_authenticates_at_introspection_and_revocation(mtls: Mtls) -> None:
    client = await mtls.create(tls_service())
    token = (await mtls.token(client["client_id"], mtls.good)).json()["access_token"]
    form = {"client_id": client["client_id"], "token": token}
    header = {HEADER: mtls.good.nginx_header()}
    introspected = await mtls.http.post("/oauth2/introspect", data=form, headers=header)
    assert introspected.json()["active"] is True
    refused = await mtls.http.post("/oauth2/introspect", data=form)
    assert_invalid_client(refused)
    revoked = await mtls.http.post("/oauth2/revoke", data=form, headers=header)
    assert revoked.status_code == 200, revoked.text
    again = await mtls.http.post("/oauth2/introspect", data=form, headers=header)
    assert again.json() == {"active": False}


# --- the registered subject DN: parsed at registration (RFC 8705 §2.1.2, RFC 4514) ---

SPELLED_DN = " cn=billing , o=Appward Tests,c=DE "  # the DN of mtls.good, spelled loosely
MALFORMED_DNS = ["billing", "CN=billing,,O=Appward Tests", "XX=billing", "CN=#62696c6c"]


async def test_a_dn_in_another_spelling_is_stored_canonically_and_authenticates(
    mtls: Mtls,
) -> None:
    client = await mtls.create(tls_service(tls_client_auth_subject_dn=SPELLED_DN))
    assert client["metadata"]["tls_client_auth_subject_dn"] == DN
    assert (await mtls.token(client["client_id"], mtls.good)).status_code == 200


@pytest.mark.parametrize("dn", MALFORMED_DNS)
async def test_the_admin_api_refuses_a_malformed_dn(api: Any, dn: str) -> None:
    """A DN that can never match is invalid_client_metadata when it is registered, not
    an invalid_client at every token request afterwards."""
    response = await api.post("/admin/v1/clients", tls_service(tls_client_auth_subject_dn=dn))
    assert response.status_code == 400, response.text
    problem = response.json()
    assert problem["error"] == "invalid_client_metadata"
    assert [e["field"] for e in problem["errors"]] == ["tls_client_auth_subject_dn"]
    created = await api.post("/admin/v1/clients", tls_service())
    url = f"/admin/v1/clients/{created.json()['client_id']}"
    patched = await api.patch(url, {"tls_client_auth_subject_dn": dn}, if_match='"1"')
    assert patched.status_code == 400, patched.text
    assert (await api.get(url)).json()["metadata"]["tls_client_auth_subject_dn"] == DN


async def test_dcr_refuses_a_malformed_dn_and_stores_a_good_one_canonically(
    settings: Settings, clock: FrozenClock
) -> None:
    configured = settings.model_copy(
        update={"dcr_modes": ("open",), "dcr_grant_types": ("client_credentials",)}
    )
    async with open_api(configured, clock) as api:
        body = {
            "client_name": "Partner",
            "grant_types": ["client_credentials"],
            "token_endpoint_auth_method": "tls_client_auth",
        }
        for dn in MALFORMED_DNS:
            refused = await api.http.post(
                "/oauth2/register", json={**body, "tls_client_auth_subject_dn": dn}
            )
            assert refused.status_code == 400, refused.text
            assert refused.json()["error"] == "invalid_client_metadata"
            assert "tls_client_auth_subject_dn" in refused.json()["error_description"]
        registered = await api.http.post(
            "/oauth2/register", json={**body, "tls_client_auth_subject_dn": SPELLED_DN}
        )
        assert registered.status_code == 201, registered.text
        assert registered.json()["tls_client_auth_subject_dn"] == DN
        read = await api.http.get(
            registered.json()["registration_client_uri"],
            headers={"Authorization": f"Bearer {registered.json()['registration_access_token']}"},
        )
        assert read.json()["tls_client_auth_subject_dn"] == DN


# --- self_signed_tls_client_auth (RFC 8705 §2.2) ---


async def test_self_signed_certificate_with_a_registered_key_gets_a_token(
    mtls: Mtls, settings: Settings
) -> None:
    own = make_leaf(None, now=mtls.now)
    client = await mtls.create(
        SERVICE,
        token_endpoint_auth_method="self_signed_tls_client_auth",
        jwks=public_jwks(make_leaf(None, now=mtls.now), own),
    )
    assert client["client_secret"] is None
    response = await mtls.token(client["client_id"], own)
    assert claims_of(response)["client_id"] == client["client_id"]
    # The key that proved it is recorded (the Keys tab's "last used").
    async with unit_of_work(_state(mtls), SETUP_ACTOR) as services:
        kids = await services.session.scalars(select(ClientKeyUse.kid))
        assert list(kids) == ["k1"]


def _state(mtls: Mtls) -> Any:
    transport = mtls.http._transport
    assert isinstance(transport, httpx.ASGITransport)
    return transport.app.state.appward  # type: ignore[attr-defined]


@pytest.mark.parametrize("case", ["another key", "no certificate", "forged from a non-proxy peer"])
async def test_self_signed_tls_client_auth_refuses(mtls: Mtls, case: str) -> None:
    own = make_leaf(None, now=mtls.now)
    client = await mtls.create(
        SERVICE, token_endpoint_auth_method="self_signed_tls_client_auth", jwks=public_jwks(own)
    )
    if case == "another key":
        # The same subject, another key: only the key counts.
        response = await mtls.token(client["client_id"], make_leaf(None, now=mtls.now))
    elif case == "no certificate":
        response = await mtls.token(client["client_id"], None)
    else:
        response = await mtls.token(client["client_id"], own, via=mtls.stranger)
    assert_invalid_client(response)


# --- certificate-bound tokens (RFC 8705 §3) ---


async def test_a_bound_client_credentials_token_carries_cnf_and_introspection_returns_it(
    mtls: Mtls,
) -> None:
    client = await mtls.create(tls_service(tls_client_certificate_bound_access_tokens=True))
    response = await mtls.token(client["client_id"], mtls.good)
    cnf = {"x5t#S256": mtls.good.thumbprint}
    assert claims_of(response)["cnf"] == cnf
    introspected = await mtls.http.post(
        "/oauth2/introspect",
        data={"client_id": client["client_id"], "token": response.json()["access_token"]},
        headers={HEADER: mtls.good.nginx_header()},
    )
    assert introspected.json()["cnf"] == cnf


async def test_an_unbound_clients_token_has_no_cnf(mtls: Mtls) -> None:
    client = await mtls.create(tls_service())
    assert "cnf" not in claims_of(await mtls.token(client["client_id"], mtls.good))


async def test_a_client_secret_basic_client_with_bound_tokens(mtls: Mtls) -> None:
    """RFC 8705 §3: binding is independent of how the client authenticates."""
    client = await mtls.create(SERVICE, tls_client_certificate_bound_access_tokens=True)
    credentials = basic(client["client_id"], client["client_secret"])
    # Any certificate the client holds (no CA needed: it binds, it does not authenticate).
    own = make_leaf(None, now=mtls.now)
    response = await mtls.token(client["client_id"], own, headers=credentials)
    assert claims_of(response)["cnf"] == {"x5t#S256": own.thumbprint}

    without = await mtls.token(client["client_id"], None, headers=credentials)
    assert without.status_code == 400, without.text
    assert without.json()["error"] == "invalid_request"
    # Through a non-proxy peer the header does not count: the same refusal.
    forged = await mtls.token(client["client_id"], own, headers=credentials, via=mtls.stranger)
    assert forged.json()["error"] == "invalid_request"


async def test_the_hot_path_client_without_binding_ignores_a_certificate(mtls: Mtls) -> None:
    client = await mtls.create(SERVICE)
    credentials = basic(client["client_id"], client["client_secret"])
    response = await mtls.token(client["client_id"], mtls.good, headers=credentials)
    assert "cnf" not in claims_of(response)


async def _bound_web_app(mtls: Mtls) -> tuple[dict[str, Any], dict[str, str]]:
    user = await mtls.http.post(
        "/admin/v1/users", json={"username": "alice", "password": PASSWORD}, headers=mtls.admin
    )
    assert user.status_code == 201, user.text
    client = await mtls.create(WEB_APP, tls_client_certificate_bound_access_tokens=True)
    return client, basic(client["client_id"], client["client_secret"])


async def _code(mtls: Mtls, client_id: str) -> tuple[str, str]:
    verifier, challenge = pkce_pair()
    result = await Browser(mtls.http).code_for(
        response_type="code",
        client_id=client_id,
        redirect_uri=REDIRECT,
        code_challenge=challenge,
        code_challenge_method="S256",
    )
    return result["code"], verifier


async def _code_tokens(
    mtls: Mtls, client: dict[str, Any], credentials: dict[str, str], certificate: Issued | None
) -> httpx.Response:
    code, verifier = await _code(mtls, client["client_id"])
    return await mtls.token(
        client["client_id"],
        certificate,
        headers=credentials,
        grant_type="authorization_code",
        code=code,
        code_verifier=verifier,
        redirect_uri=REDIRECT,
    )


async def test_a_bound_refresh_token_refreshes_only_with_the_same_certificate(mtls: Mtls) -> None:
    client, credentials = await _bound_web_app(mtls)
    own = make_leaf(None, now=mtls.now)
    issued = await _code_tokens(mtls, client, credentials, own)
    assert claims_of(issued)["cnf"] == {"x5t#S256": own.thumbprint}
    refresh_token = issued.json()["refresh_token"]

    def refresh(
        token: str, certificate: Issued | None, via: httpx.AsyncClient | None = None
    ) -> Any:
        return mtls.token(
            client["client_id"],
            certificate,
            headers=credentials,
            via=via,
            grant_type="refresh_token",
            refresh_token=token,
        )

    # Another certificate: refused, and the token stays usable (no family revocation).
    for wrong in (make_leaf(None, now=mtls.now), mtls.good):
        refused = await refresh(refresh_token, wrong)
        assert refused.status_code == 400, refused.text
        assert refused.json()["error"] == "invalid_grant"
    # None (the client is bound: its request lacks the certificate), or one forged from
    # a peer that is no proxy.
    for via in (None, mtls.stranger):
        refused = await refresh(refresh_token, None if via is None else own, via)
        assert refused.status_code == 400, refused.text

    renewed = await refresh(refresh_token, own)
    assert claims_of(renewed)["cnf"] == {"x5t#S256": own.thumbprint}
    successor = renewed.json()["refresh_token"]
    assert successor != refresh_token
    # The rotated successor stays bound.
    refused = await refresh(successor, mtls.good)
    assert refused.json()["error"] == "invalid_grant"
    assert (await refresh(successor, own)).status_code == 200

    async with unit_of_work(_state(mtls), SETUP_ACTOR) as services:
        bound = await services.session.scalar(
            select(func.count()).where(RefreshToken.certificate_thumbprint == own.thumbprint)
        )
        assert bound == 3  # the first, its successor and that one's successor

    introspected = await mtls.http.post(
        "/oauth2/introspect",
        data={"token": renewed.json()["access_token"]},
        headers=credentials,
    )
    assert introspected.json()["cnf"] == {"x5t#S256": own.thumbprint}


async def test_a_bound_refresh_token_refuses_when_the_client_is_unbound_later(mtls: Mtls) -> None:
    """The binding is the token's: turning the client's flag off does not unbind it."""
    client, credentials = await _bound_web_app(mtls)
    own = make_leaf(None, now=mtls.now)
    refresh_token = (await _code_tokens(mtls, client, credentials, own)).json()["refresh_token"]
    changed = await mtls.http.patch(
        f"/admin/v1/clients/{client['client_id']}",
        json={"tls_client_certificate_bound_access_tokens": False},
        headers={**mtls.admin, "If-Match": "*"},
    )
    assert changed.status_code == 200, changed.text
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    refused = await mtls.token(client["client_id"], None, headers=credentials, **form)
    assert refused.json()["error"] == "invalid_grant"
    assert (
        await mtls.token(client["client_id"], own, headers=credentials, **form)
    ).status_code == 200


async def test_a_bound_client_without_a_certificate_keeps_its_code(mtls: Mtls) -> None:
    client, credentials = await _bound_web_app(mtls)
    code, verifier = await _code(mtls, client["client_id"])
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "code_verifier": verifier,
        "redirect_uri": REDIRECT,
    }
    refused = await mtls.token(client["client_id"], None, headers=credentials, **form)
    assert refused.json()["error"] == "invalid_request"
    own = make_leaf(None, now=mtls.now)
    assert (
        await mtls.token(client["client_id"], own, headers=credentials, **form)
    ).status_code == 200


# --- discovery (RFC 8705 §3.3, §5) ---


async def test_discovery_advertises_mtls_when_it_is_on(mtls: Mtls) -> None:
    document = (await mtls.http.get("/.well-known/oauth-authorization-server")).json()
    assert document["tls_client_certificate_bound_access_tokens"] is True
    assert document["mtls_endpoint_aliases"] == {
        "token_endpoint": "https://mtls.example.com/oauth2/token",
        "introspection_endpoint": "https://mtls.example.com/oauth2/introspect",
        "revocation_endpoint": "https://mtls.example.com/oauth2/revoke",
    }
    methods = document["token_endpoint_auth_methods_supported"]
    assert {"tls_client_auth", "self_signed_tls_client_auth"} <= set(methods)


async def test_discovery_says_nothing_of_mtls_when_it_is_off(api: Any) -> None:
    document = (await api.http.get("/.well-known/oauth-authorization-server")).json()
    assert "tls_client_certificate_bound_access_tokens" not in document
    assert "mtls_endpoint_aliases" not in document
    # The methods are registered all the same (a proxy may be added later).
    assert "tls_client_auth" in document["token_endpoint_auth_methods_supported"]


async def test_with_mtls_off_a_certificate_header_is_never_read(api: Any) -> None:
    created = await api.post("/admin/v1/clients", tls_service(tls_client_auth_subject_dn="CN=x"))
    assert created.status_code == 201, created.text
    response = await api.http.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials", "client_id": created.json()["client_id"]},
        headers={HEADER: "garbage", "Client-Cert": ":AAAA:"},
    )
    assert_invalid_client(response)
    assert response.json()["error_description"] != "the client certificate is malformed"


async def test_a_bound_admin_token_works_at_the_admin_api_only_with_its_certificate(
    mtls: Mtls,
) -> None:
    """RFC 8705 §3.1, the security review's F7: Appward's own API is a resource server
    too. A bound admin token was accepted from anywhere without its certificate."""
    client = await mtls.create(
        SERVICE, scope="appward:admin", tls_client_certificate_bound_access_tokens=True
    )
    credentials = basic(client["client_id"], client["client_secret"])
    own, other = make_leaf(None, now=mtls.now), make_leaf(None, now=mtls.now)
    access = (await mtls.token(client["client_id"], own, headers=credentials)).json()
    bearer = {"Authorization": f"Bearer {access['access_token']}"}

    def with_certificate(issued: Issued) -> dict[str, str]:
        return {**bearer, HEADER: issued.nginx_header()}

    ok = await mtls.http.get("/admin/v1/clients", headers=with_certificate(own))
    assert ok.status_code == 200, ok.text
    for via, headers in (
        (mtls.http, bearer),  # no certificate
        (mtls.http, with_certificate(other)),  # another one
        (mtls.stranger, with_certificate(own)),  # the header from a peer that is no proxy
    ):
        refused = await via.get("/admin/v1/clients", headers=headers)
        assert refused.status_code == 401, refused.text
        assert "bound to a TLS client certificate" in refused.text
    # An unbound admin token is unaffected by mTLS being on.
    assert (await mtls.http.get("/admin/v1/clients", headers=mtls.admin)).status_code == 200
