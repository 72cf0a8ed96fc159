"""The client metadata validator as spec tables: every field x valid / invalid.

Every invalid case pins the exception class (InvalidRedirectUri when only redirect URIs are
wrong, InvalidClientMetadata otherwise), its RFC 7591 §3.2.2 error code, and the field named.
"""

from __future__ import annotations

import dataclasses
import json
import os
from types import MappingProxyType
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from appward.clients.auth_methods import AUTH_METHODS, IANA_METHOD_NAMES, uses_keys
from appward.clients.metadata import ClientMetadata, parse_client_metadata
from appward.config import LifetimeBounds, Settings
from appward.errors import FieldError, InvalidClientMetadata, InvalidRedirectUri


def _default_bounds() -> LifetimeBounds:
    """The server's default bounds, whatever APPWARD_* variables the test run inherits."""
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.startswith("APPWARD_"):
                mp.delenv(name)
        return Settings().lifetime_bounds


BOUNDS = _default_bounds()
REDIRECT = "https://app.example.com/callback"
JWKS_URI = "https://app.example.com/jwks.json"


def parse(data: Any) -> ClientMetadata:
    return parse_client_metadata(data, BOUNDS)


def meta(**fields: Any) -> dict[str, Any]:
    """A valid confidential web client, with ``fields`` on top."""
    return {"redirect_uris": [REDIRECT], **fields}


def machine(**fields: Any) -> dict[str, Any]:
    """A valid client_credentials-only client (needs no redirect URI)."""
    return {"grant_types": ["client_credentials"], **fields}


def assert_invalid(
    data: Any,
    field: str,
    *,
    error: type[InvalidClientMetadata] = InvalidClientMetadata,
    message: str | None = None,
) -> InvalidClientMetadata:
    """Asserts ``data`` is refused with exactly ``error`` and a FieldError for ``field``."""
    with pytest.raises(InvalidClientMetadata) as info:
        parse(data)
    exc = info.value
    assert type(exc) is error
    assert exc.error == error.error
    assert exc.status_code == 400
    named = {f.field: f.message for f in exc.fields}
    assert field in named, f"expected {field!r} among {list(named)}"
    if message is not None:
        assert message in named[field], named[field]
    return exc


def assert_bad_redirect(data: Any, field: str, message: str | None = None) -> None:
    assert_invalid(data, field, error=InvalidRedirectUri, message=message)


def ec_private_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def ec_public_jwk() -> dict[str, Any]:
    return json.loads(ECAlgorithm.to_jwk(ec_private_key().public_key()))


def ec_private_jwk() -> dict[str, Any]:
    return json.loads(ECAlgorithm.to_jwk(ec_private_key()))


def rsa_private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def jwk_set(*keys: dict[str, Any]) -> dict[str, Any]:
    return {"keys": list(keys)}


# --- defaults and the wire shape ---


def test_minimal_client_gets_every_default_and_to_wire_shows_them():
    """RFC 7591 §2: grant_types defaults to authorization_code, response_types to code,
    token_endpoint_auth_method to client_secret_basic."""
    assert parse(meta()).to_wire() == {
        "redirect_uris": [REDIRECT],
        "application_type": "web",
        "token_endpoint_auth_method": "client_secret_basic",
        "grant_types": ["authorization_code"],
        "response_types": ["code"],
        "contacts": [],
        "access_token_ttl": BOUNDS.access_token_default,
        "refresh_token_ttl": BOUNDS.refresh_token_default,
        "refresh_token_absolute_ttl": BOUNDS.refresh_token_absolute_default,
        "issue_refresh_tokens": False,
        "rotate_refresh_tokens": True,
        "require_pkce": True,
        "skip_consent": False,
        "tls_client_certificate_bound_access_tokens": False,
    }


def test_default_lifetimes_come_from_the_server_bounds():
    bounds = LifetimeBounds(
        access_token_min=10,
        access_token_max=100,
        access_token_default=50,
        refresh_token_max=1000,
        refresh_token_default=500,
        refresh_token_absolute_max=5000,
        refresh_token_absolute_default=2500,
    )
    client = parse_client_metadata(meta(), bounds)
    assert client.access_token_ttl == 50
    assert client.refresh_token_ttl == 500
    assert client.refresh_token_absolute_ttl == 2500


def test_lifetime_bounds_other_than_the_defaults_are_enforced():
    bounds = LifetimeBounds(10, 100, 50, 1000, 500, 5000, 2500)
    with pytest.raises(InvalidClientMetadata) as info:
        parse_client_metadata(meta(access_token_ttl=101), bounds)
    assert [f.field for f in info.value.fields] == ["access_token_ttl"]
    assert parse_client_metadata(meta(access_token_ttl=10), bounds).access_token_ttl == 10


def test_explicit_lifetimes_override_the_defaults():
    client = parse(
        meta(access_token_ttl=600, refresh_token_ttl=7200, refresh_token_absolute_ttl=86400)
    )
    assert (client.access_token_ttl, client.refresh_token_ttl) == (600, 7200)
    assert client.refresh_token_absolute_ttl == 86400


def test_response_types_default_to_code_with_the_authorization_code_grant():
    """RFC 7591 §2.1: the code response type goes with the authorization_code grant."""
    assert parse(meta(grant_types=["authorization_code"])).response_types == ["code"]


def test_response_types_default_to_none_without_the_authorization_code_grant():
    """RFC 7591 §2.1: client_credentials involves no authorization endpoint response."""
    assert parse(machine()).response_types == []


@pytest.mark.parametrize(
    ("grant_types", "expected"),
    [
        (["authorization_code"], False),
        (["authorization_code", "refresh_token"], True),
        (["client_credentials"], False),
    ],
)
def test_issue_refresh_tokens_defaults_to_whether_the_refresh_grant_is_allowed(
    grant_types, expected
):
    data = {"grant_types": grant_types}
    if "authorization_code" in grant_types:
        data["redirect_uris"] = [REDIRECT]
    assert parse(data).issue_refresh_tokens is expected


def test_issue_refresh_tokens_can_be_turned_off_with_the_refresh_grant():
    client = parse(
        meta(grant_types=["authorization_code", "refresh_token"], issue_refresh_tokens=False)
    )
    assert client.issue_refresh_tokens is False
    assert client.grant_types == ["authorization_code", "refresh_token"]


def test_to_wire_leaves_out_unset_optional_fields():
    wire = parse(meta()).to_wire()
    for absent in ("client_name", "scope", "logo_uri", "jwks", "jwks_uri", "software_id"):
        assert absent not in wire


def test_to_wire_of_a_full_client_round_trips_through_the_validator():
    jwks = jwk_set(ec_public_jwk())
    data = {
        "client_name": "Billing ☕",
        "redirect_uris": [REDIRECT, "https://app.example.com/other"],
        "application_type": "web",
        "token_endpoint_auth_method": "client_secret_post",
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "scope": "read write",
        "client_uri": "https://app.example.com",
        "logo_uri": "https://app.example.com/logo.png",
        "policy_uri": "https://app.example.com/privacy",
        "tos_uri": "https://app.example.com/tos",
        "contacts": ["ops@example.com"],
        "jwks": jwks,
        "software_id": "4NRB1-0XZABZI9E6-5SM3R",
        "software_version": "2.1",
        "access_token_ttl": 900,
        "refresh_token_ttl": 86400,
        "refresh_token_absolute_ttl": 30 * 86400,
        "issue_refresh_tokens": True,
        "rotate_refresh_tokens": False,
        "require_pkce": True,
        "skip_consent": True,
        "token_endpoint_auth_signing_alg": None,
        "tls_client_certificate_bound_access_tokens": True,
        "assertion_audience": "strict",
    }
    data = {k: v for k, v in data.items() if v is not None}
    wire = parse(data).to_wire()
    assert wire == data
    assert parse(wire).to_wire() == wire
    json.dumps(wire)  # JSON-ready


def test_duplicates_are_collapsed_keeping_first_order():
    client = parse(
        {
            "redirect_uris": [REDIRECT, "https://b.example/cb", REDIRECT],
            "grant_types": ["refresh_token", "authorization_code", "refresh_token"],
            "response_types": ["code", "code"],
        }
    )
    assert client.redirect_uris == [REDIRECT, "https://b.example/cb"]
    assert client.grant_types == ["refresh_token", "authorization_code"]
    assert client.response_types == ["code"]


def test_any_mapping_is_accepted_as_metadata():
    assert parse(MappingProxyType(meta())).redirect_uris == [REDIRECT]


@pytest.mark.parametrize("data", [None, [], "redirect_uris", 42, [("redirect_uris", [])]])
def test_metadata_that_is_not_a_json_object_is_refused(data):
    """RFC 7591 §2: client metadata is a JSON object."""
    with pytest.raises(InvalidClientMetadata) as info:
        parse(data)
    assert type(info.value) is InvalidClientMetadata
    assert info.value.error == "invalid_client_metadata"
    assert info.value.fields == []


def test_validating_without_the_server_bounds_is_a_programming_error():
    with pytest.raises(TypeError, match="parse_client_metadata"):
        ClientMetadata.model_validate(meta())


@pytest.mark.parametrize(
    ("method", "uses_secret"),
    [
        ("client_secret_basic", True),
        ("client_secret_post", True),
        ("none", False),
        ("tls_client_auth", False),
        ("self_signed_tls_client_auth", False),
    ],
)
def test_uses_secret_only_for_the_client_secret_methods(method, uses_secret):
    needs = {
        **({"jwks_uri": JWKS_URI} if uses_keys(method) else {}),
        **METHOD_NEEDS.get(method, {}),
    }
    assert parse(meta(token_endpoint_auth_method=method, **needs)).uses_secret is uses_secret


# What a method needs registered beside it (RFC 8705 §2.1.2: the certificate's subject).
METHOD_NEEDS = {"tls_client_auth": {"tls_client_auth_subject_dn": "CN=billing"}}


def test_every_method_of_the_registry_can_be_registered():
    for method in AUTH_METHODS:
        needs = {
            **({"jwks_uri": JWKS_URI} if uses_keys(method) else {}),
            **METHOD_NEEDS.get(method, {}),
        }
        parsed = parse(meta(token_endpoint_auth_method=method, **needs))
        assert parsed.token_endpoint_auth_method == method


def test_every_iana_method_is_served():
    """RFC 7591 §2's methods (IANA's registry, RFC 8705's two TLS ones included) are all
    registrable here: none is named without being enforced."""
    assert set(IANA_METHOD_NAMES) == set(AUTH_METHODS)


def test_an_unknown_method_is_refused_naming_the_ones_that_work():
    exc = assert_invalid(
        meta(token_endpoint_auth_method="client_secret_magic"),
        "token_endpoint_auth_method",
        message="must be one of",
    )
    (problem,) = [f for f in exc.fields if f.field == "token_endpoint_auth_method"]
    for supported in AUTH_METHODS:
        assert supported in problem.message


# --- unknown fields and enumerations ---


@pytest.mark.parametrize(
    "field", ["client_secret", "client_id", "redirect_uri", "post_logout_redirect_uris", "x"]
)
def test_unknown_fields_are_refused(field):
    """RFC 7591 §2 lets servers ignore unknown metadata; Appward refuses it instead, so a
    misspelt field never silently falls back to a default."""
    exc = assert_invalid(meta(**{field: "value"}), field)
    assert exc.fields == [FieldError(field, "is not a known client metadata field")]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("application_type", "desktop"),
        ("application_type", None),
        ("token_endpoint_auth_method", "client_secret"),
        ("token_endpoint_auth_method", "NONE"),
        ("require_pkce", "perhaps"),
        ("rotate_refresh_tokens", None),
        ("skip_consent", [True]),
        ("issue_refresh_tokens", "sometimes"),
    ],
)
def test_out_of_range_enumerations_and_flags_are_refused(field, value):
    assert_invalid(meta(**{field: value}), field)


# --- redirect URIs: RFC 6749 §3.1.2, RFC 9700 §2.1, RFC 8252 §7 and §8.3 ---


@pytest.mark.parametrize(
    ("uri", "application_type"),
    [
        ("https://app.example.com/callback", "web"),
        ("https://app.example.com/callback?tenant=7", "web"),
        ("https://app.example.com:8443/cb", "web"),
        ("HTTPS://app.example.com/cb", "web"),
        ("https://app.example.com/callback", "native"),
        ("http://127.0.0.1/callback", "native"),
        ("http://127.0.0.1:51234/callback", "native"),
        ("http://127.0.0.1:8080/callback", "web"),
        ("http://[::1]/callback", "native"),
        ("http://[::1]:61000/callback", "native"),
        ("com.example.app:/oauth2redirect/example-provider", "native"),
        ("com.example.app:/cb", "native"),
        ("io.github.app-dev.tool:/cb", "native"),
    ],
)
def test_acceptable_redirect_uris(uri, application_type):
    """RFC 8252 §7.1 (reverse-domain private-use schemes), §7.3 (loopback IP literal,
    any port) and RFC 6749 §3.1.2 (absolute URIs, query allowed)."""
    client = parse({"redirect_uris": [uri], "application_type": application_type})
    assert client.redirect_uris == [uri]


@pytest.mark.parametrize(
    ("uri", "application_type", "message"),
    [
        ("/callback", "web", "absolute"),
        ("app.example.com/callback", "web", "absolute"),
        ("https://app.example.com/cb#section", "web", "fragment"),
        ("https://app.example.com/cb#", "web", "fragment"),
        ("com.example.app:/cb#x", "native", "fragment"),
        ("https://user@app.example.com/cb", "web", "userinfo"),
        ("https://user:pass@app.example.com/cb", "web", "userinfo"),
        ("http://user@127.0.0.1/cb", "native", "userinfo"),
        ("https://*.example.com/cb", "web", "wildcard"),
        ("https://app.example.com/*", "web", "wildcard"),
        ("https://app.example.com/cb?x=*", "web", "wildcard"),
        ("http://app.example.com/cb", "web", "loopback"),
        ("http://app.example.com/cb", "native", "loopback"),
        ("http://10.0.0.1/cb", "native", "loopback"),
        ("http://[2001:db8::1]/cb", "native", "loopback"),
        ("http://localhost/cb", "native", "RFC 8252 §8.3"),
        ("http://localhost:8080/cb", "native", "RFC 8252 §8.3"),
        ("http://LOCALHOST:8080/cb", "web", "RFC 8252 §8.3"),
        ("myapp:/cb", "native", "RFC 8252 §7.1"),
        ("myapp://cb", "native", "RFC 8252 §7.1"),
        ("urn:ietf:wg:oauth:2.0:oob", "native", "RFC 8252 §7.1"),
        ("com.example.app:/cb", "web", "native"),
        ("myapp:/cb", "web", "native"),
        ("javascript:alert(1)", "web", "never a valid redirect"),
        ("javascript:alert(1)", "native", "never a valid redirect"),
        ("JavaScript:alert(1)", "native", "never a valid redirect"),
        ("data:text/html,<script>alert(1)</script>", "native", "never a valid redirect"),
        ("file:///etc/passwd", "native", "never a valid redirect"),
        ("vbscript:msgbox", "native", "never a valid redirect"),
        ("https:///callback", "web", "host"),
        ("https://app.example.com/c b", "web", "whitespace"),
        ("https://app.example.com/cb\t", "web", "control"),
        ("https://app.example.com/cb\n", "web", "control"),
        ("https://app.example.com:99999/cb", "web", "not a valid URI"),
        ("https://app.example.com/" + "a" * 2000, "web", "longer than 2000"),
    ],
)
def test_unacceptable_redirect_uris(uri, application_type, message):
    """RFC 6749 §3.1.2 (absolute, no fragment), RFC 9700 §2.1 (exact match: no wildcards),
    RFC 8252 §7.1, §7.3 and §8.3 (native apps: reverse-domain schemes, loopback literals,
    never 'localhost')."""
    exc = assert_invalid(
        {"redirect_uris": [uri], "application_type": application_type},
        "redirect_uris[0]",
        error=InvalidRedirectUri,
        message=message,
    )
    assert [f.field for f in exc.fields] == ["redirect_uris[0]"]
    assert exc.fields[0].message.startswith(repr(uri))


def test_localhost_is_refused_citing_rfc_8252_section_8_3():
    """RFC 8252 §8.3: use of localhost is NOT RECOMMENDED; use the loopback IP literal."""
    exc = assert_invalid(
        {"redirect_uris": ["http://localhost:3000/cb"], "application_type": "native"},
        "redirect_uris[0]",
        error=InvalidRedirectUri,
    )
    assert "127.0.0.1" in exc.fields[0].message
    assert "RFC 8252 §8.3" in exc.fields[0].message


def test_only_the_bad_redirect_uri_is_named():
    exc = assert_invalid(
        {"redirect_uris": [REDIRECT, "http://app.example.com/cb"]},
        "redirect_uris[1]",
        error=InvalidRedirectUri,
    )
    assert [f.field for f in exc.fields] == ["redirect_uris[1]"]


def test_every_bad_redirect_uri_is_reported_and_summarised():
    exc = assert_invalid(
        {"redirect_uris": ["/relative", REDIRECT, "https://app.example.com/#f"]},
        "redirect_uris[0]",
        error=InvalidRedirectUri,
    )
    assert [f.field for f in exc.fields] == ["redirect_uris[0]", "redirect_uris[2]"]
    assert exc.description.startswith("redirect_uris[0]: ")
    assert exc.description.endswith("(and 1 more)")


def test_bad_redirect_uri_is_named_by_its_index_in_the_request():
    assert_invalid(
        {"redirect_uris": [REDIRECT, REDIRECT, "http://app.example.com/cb"]},
        "redirect_uris[2]",
        error=InvalidRedirectUri,
    )


def test_authorization_code_client_needs_a_redirect_uri():
    """RFC 6749 §3.1.2.2: clients using the authorization code grant register redirects."""
    exc = assert_invalid({}, "redirect_uris", error=InvalidRedirectUri, message="at least one")
    assert [f.field for f in exc.fields] == ["redirect_uris"]
    assert_invalid({"redirect_uris": []}, "redirect_uris", error=InvalidRedirectUri)


def test_client_credentials_only_client_needs_no_redirect_uri():
    assert parse(machine()).redirect_uris == []


@pytest.mark.parametrize(
    ("redirect_uris", "field"),
    [
        (REDIRECT, "redirect_uris"),
        (None, "redirect_uris"),
        ([42], "redirect_uris[0]"),
        ([REDIRECT, None], "redirect_uris[1]"),
        ([f"https://app.example.com/cb{i}" for i in range(101)], "redirect_uris"),
    ],
)
def test_malformed_redirect_uri_lists_are_invalid_redirect_uri(redirect_uris, field):
    assert_invalid({"redirect_uris": redirect_uris}, field, error=InvalidRedirectUri)


def test_a_hundred_redirect_uris_are_accepted():
    uris = [f"https://app.example.com/cb{i}" for i in range(100)]
    assert parse({"redirect_uris": uris}).redirect_uris == uris


def test_bad_redirect_uri_with_another_problem_is_invalid_client_metadata():
    """RFC 7591 §3.2.2: invalid_redirect_uri only when the redirect URIs are the problem."""
    exc = assert_invalid(
        {
            "redirect_uris": ["http://localhost/cb"],
            "token_endpoint_auth_method": "none",
            "require_pkce": False,
        },
        "redirect_uris[0]",
    )
    assert {f.field for f in exc.fields} == {"redirect_uris[0]", "require_pkce"}


# --- grant types and response types: RFC 7591 §2 and §2.1 ---


@pytest.mark.parametrize(
    "data",
    [
        meta(grant_types=["authorization_code"]),
        meta(grant_types=["authorization_code", "refresh_token"]),
        meta(grant_types=["authorization_code", "client_credentials"]),
        meta(grant_types=["authorization_code"], response_types=["code"]),
        machine(),
        machine(response_types=[]),
    ],
    ids=["code", "code+refresh", "code+client_credentials", "explicit-code", "cc", "cc-empty"],
)
def test_consistent_grant_and_response_types_are_accepted(data):
    client = parse(data)
    assert client.grant_types == data["grant_types"]


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        (meta(grant_types=["password"]), "grant_types[0]", None),
        (meta(grant_types=["implicit"]), "grant_types[0]", None),
        (
            meta(grant_types=["authorization_code", "urn:ietf:params:oauth:grant-type:jwt-bearer"]),
            "grant_types[1]",
            None,
        ),
        (meta(grant_types="authorization_code"), "grant_types", None),
        (meta(grant_types=[]), "grant_types", "at least one"),
        (meta(grant_types=["refresh_token"]), "grant_types", "authorization_code"),
        (machine(grant_types=["client_credentials", "refresh_token"]), "grant_types", None),
        (meta(response_types=["token"]), "response_types[0]", None),
        (meta(response_types=["code id_token"]), "response_types[0]", None),
        (meta(response_types=[]), "response_types", "RFC 7591 §2.1"),
        (machine(response_types=["code"]), "response_types", "RFC 7591 §2.1"),
        (machine(issue_refresh_tokens=True), "issue_refresh_tokens", "refresh_token"),
        (meta(issue_refresh_tokens=True), "issue_refresh_tokens", "refresh_token"),
    ],
    ids=[
        "password",
        "implicit",
        "jwt-bearer",
        "not-a-list",
        "empty",
        "refresh-alone",
        "refresh-with-cc",
        "token-response",
        "hybrid-response",
        "code-grant-without-code-response",
        "code-response-without-code-grant",
        "refresh-tokens-without-refresh-grant-cc",
        "refresh-tokens-without-refresh-grant-code",
    ],
)
def test_inconsistent_grant_and_response_types_are_refused(data, field, message):
    """RFC 7591 §2.1: grant_types and response_types must agree; unsupported values are
    refused; a refresh token is only issued alongside authorization_code."""
    assert_invalid(data, field, message=message)


def test_refresh_grant_without_authorization_code_is_refused_with_its_reason():
    exc = assert_invalid(
        machine(grant_types=["client_credentials", "refresh_token"]), "grant_types"
    )
    assert (
        "only issued with authorization_code"
        in {f.field: f.message for f in exc.fields}["grant_types"]
    )


# --- public clients ---


def test_public_client_with_code_and_pkce_is_accepted():
    client = parse(meta(token_endpoint_auth_method="none", application_type="native"))
    assert client.require_pkce is True
    assert client.uses_secret is False


def test_public_client_cannot_use_client_credentials():
    """RFC 6749 §4.4: the client credentials grant MUST only be used by confidential
    clients."""
    exc = assert_invalid(
        machine(token_endpoint_auth_method="none"), "grant_types", message="public client"
    )
    assert [f.field for f in exc.fields] == ["grant_types"]


def test_public_client_cannot_mix_in_client_credentials():
    """RFC 6749 §4.4."""
    assert_invalid(
        meta(
            token_endpoint_auth_method="none",
            grant_types=["authorization_code", "client_credentials"],
        ),
        "grant_types",
    )


def test_public_client_cannot_turn_off_pkce():
    """RFC 9700 §2.1.1: public clients MUST use PKCE."""
    exc = assert_invalid(
        meta(token_endpoint_auth_method="none", require_pkce=False), "require_pkce"
    )
    assert [f.field for f in exc.fields] == ["require_pkce"]


def test_confidential_client_may_turn_off_pkce():
    assert parse(meta(require_pkce=False)).require_pkce is False


def test_confidential_client_may_use_client_credentials():
    assert parse(machine(token_endpoint_auth_method="client_secret_post")).grant_types == [
        "client_credentials"
    ]


# --- lifetimes ---


@pytest.mark.parametrize(
    "fields",
    [
        {"access_token_ttl": BOUNDS.access_token_min},
        {"access_token_ttl": BOUNDS.access_token_max},
        {"refresh_token_ttl": 1},
        {"refresh_token_ttl": BOUNDS.refresh_token_max},
        {"refresh_token_ttl": 3600, "refresh_token_absolute_ttl": 3600},
        {"refresh_token_absolute_ttl": BOUNDS.refresh_token_absolute_max},
    ],
    ids=["access-min", "access-max", "refresh-1", "refresh-max", "absolute=sliding", "abs-max"],
)
def test_lifetimes_within_the_bounds_are_accepted(fields):
    client = parse(meta(**fields))
    for name, value in fields.items():
        assert getattr(client, name) == value


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"access_token_ttl": BOUNDS.access_token_min - 1}, "access_token_ttl"),
        ({"access_token_ttl": BOUNDS.access_token_max + 1}, "access_token_ttl"),
        ({"access_token_ttl": 0}, "access_token_ttl"),
        ({"access_token_ttl": -3600}, "access_token_ttl"),
        ({"access_token_ttl": "an hour"}, "access_token_ttl"),
        ({"access_token_ttl": 3600.5}, "access_token_ttl"),
        ({"refresh_token_ttl": 0}, "refresh_token_ttl"),
        ({"refresh_token_ttl": -1}, "refresh_token_ttl"),
        ({"refresh_token_ttl": BOUNDS.refresh_token_max + 1}, "refresh_token_ttl"),
        ({"refresh_token_absolute_ttl": 0}, "refresh_token_absolute_ttl"),
        (
            {"refresh_token_absolute_ttl": BOUNDS.refresh_token_absolute_max + 1},
            "refresh_token_absolute_ttl",
        ),
        (
            {"refresh_token_ttl": 7200, "refresh_token_absolute_ttl": 3600},
            "refresh_token_absolute_ttl",
        ),
        # An absolute lifetime shorter than the default sliding one.
        ({"refresh_token_absolute_ttl": 3600}, "refresh_token_absolute_ttl"),
    ],
    ids=[
        "access-below-min",
        "access-above-max",
        "access-zero",
        "access-negative",
        "access-text",
        "access-fraction",
        "refresh-zero",
        "refresh-negative",
        "refresh-above-max",
        "absolute-zero",
        "absolute-above-max",
        "absolute-below-sliding",
        "absolute-below-default-sliding",
    ],
)
def test_lifetimes_outside_the_bounds_are_refused(fields, field):
    exc = assert_invalid(meta(**fields), field)
    assert [f.field for f in exc.fields] == [field]


def test_lifetime_message_states_the_bounds():
    exc = assert_invalid(meta(access_token_ttl=1), "access_token_ttl")
    assert exc.fields[0].message == (
        f"must be between {BOUNDS.access_token_min} and {BOUNDS.access_token_max} seconds"
    )


def test_absolute_lifetime_shorter_than_sliding_is_refused_with_its_reason():
    exc = assert_invalid(
        meta(refresh_token_ttl=7200, refresh_token_absolute_ttl=7199),
        "refresh_token_absolute_ttl",
    )
    assert "refresh_token_ttl" in exc.fields[0].message


# --- jwks and jwks_uri: RFC 7591 §2, RFC 7517 ---


def test_public_ec_jwk_set_is_accepted():
    jwks = jwk_set(ec_public_jwk())
    client = parse(meta(jwks=jwks))
    assert client.jwks == jwks


def test_public_rsa_jwk_set_is_accepted():
    key = json.loads(RSAAlgorithm.to_jwk(rsa_private_key().public_key()))
    assert parse(meta(jwks=jwk_set(key))).jwks


def test_jwk_set_with_several_public_keys_is_accepted():
    jwks = jwk_set(ec_public_jwk() | {"kid": "a"}, ec_public_jwk() | {"kid": "b"})
    assert parse(meta(jwks=jwks)).jwks == jwks


def test_jwks_and_jwks_uri_are_never_both_given():
    """RFC 7591 §2: the jwks_uri and jwks parameters MUST NOT both be present."""
    exc = assert_invalid(
        meta(jwks=jwk_set(ec_public_jwk()), jwks_uri=JWKS_URI),
        "jwks",
        message="jwks_uri",
    )
    assert [f.field for f in exc.fields] == ["jwks"]


def test_private_ec_key_in_jwks_is_refused():
    """RFC 7591 §2: jwks holds the client's public keys; private members (RFC 7518 §6.2.2)
    must never be sent to, or stored by, the server."""
    private = ec_private_jwk()
    assert "d" in private
    assert_invalid(meta(jwks=jwk_set(private)), "jwks", message="public keys only")


def test_private_rsa_key_in_jwks_is_refused():
    """RFC 7518 §6.3.2: d, p, q, dp, dq, qi are private RSA members."""
    private = json.loads(RSAAlgorithm.to_jwk(rsa_private_key()))
    assert_invalid(meta(jwks=jwk_set(private)), "jwks", message="public keys only")


@pytest.mark.parametrize("member", ["d", "p", "q", "dp", "dq", "qi", "oth"])
def test_any_private_member_in_jwks_is_refused(member):
    """RFC 7518 §6.2.2 and §6.3.2."""
    key = ec_public_jwk() | {member: "AQAB"}
    assert_invalid(meta(jwks=jwk_set(ec_public_jwk(), key)), "jwks", message="public keys only")


def test_symmetric_key_in_jwks_is_refused():
    """RFC 7518 §6.4: an 'oct' key's 'k' is a shared secret, not a public key."""
    key = {"kty": "oct", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA"}
    assert_invalid(meta(jwks=jwk_set(key)), "jwks", message="public keys only")


@pytest.mark.parametrize(
    "jwks",
    [
        "not a jwk set",
        ["keys"],
        {},
        {"keys": []},
        {"keys": "nope"},
        {"keys": {"kty": "EC"}},
        {"keys": ["nope"]},
        {"keys": [{}]},
        {"keys": [{"kty": "nope"}]},
        {"keys": [{"kty": "EC", "crv": "P-256"}]},
        {"keys": [{"kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA"}]},
        {"keys": [{"kty": "EC", "crv": "P-256", "x": 1, "y": 2}]},
        {"keys": [{"kty": "RSA", "n": "AQAB"}]},
        {"keys": [{"kty": "OKP", "crv": "Ed25519", "x": 3}]},
    ],
    ids=[
        "string",
        "list",
        "empty-object",
        "empty-keys",
        "keys-string",
        "keys-object",
        "key-string",
        "key-empty",
        "unknown-kty",
        "ec-no-coordinates",
        "ec-not-on-curve",
        "ec-integer-coordinates",
        "rsa-no-exponent",
        "okp-integer-x",
    ],
)
def test_jwks_that_is_not_a_usable_public_jwk_set_is_refused(jwks):
    """RFC 7517 §5: a JWK Set is an object with a 'keys' array of JWKs."""
    exc = assert_invalid(meta(jwks=jwks), "jwks")
    assert [f.field for f in exc.fields] == ["jwks"]


def test_jwks_with_one_garbage_key_among_good_ones_is_refused():
    jwks = jwk_set(ec_public_jwk(), {"kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA"})
    assert_invalid(meta(jwks=jwks), "jwks")


# --- tls_client_auth_* fields: RFC 8705 §2.1.2 ---


@pytest.mark.parametrize(
    ("method", "field", "value"),
    [
        ("client_secret_basic", "tls_client_auth_subject_dn", "CN=billing"),
        ("client_secret_post", "tls_client_auth_san_dns", "billing.example.com"),
        ("none", "tls_client_auth_san_uri", "https://billing.example.com"),
        ("client_secret_basic", "tls_client_auth_san_ip", "192.0.2.7"),
        ("client_secret_post", "tls_client_auth_san_email", "ops@example.com"),
    ],
)
def test_tls_fields_are_refused_for_other_methods(method, field, value):
    data = meta(token_endpoint_auth_method=method, **{field: value})
    exc = assert_invalid(data, field, message="tls_client_auth")
    assert [f.field for f in exc.fields] == [field]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("tls_client_auth_subject_dn", ""),
        ("tls_client_auth_san_dns", ""),
        ("tls_client_auth_san_dns", "a" * 256),
        ("tls_client_auth_san_uri", ""),
        ("tls_client_auth_san_email", "not-an-email"),
    ],
)
def test_malformed_tls_fields_are_refused(field, value):
    assert_invalid(machine(**{field: value}), field)


def tls_machine(**fields: Any) -> dict[str, Any]:
    return machine(token_endpoint_auth_method="tls_client_auth", **fields)


def test_a_subject_dn_is_stored_in_its_canonical_rfc4514_form():
    """RFC 8705 §2.1.2: the DN is "in RFC 4514 format"; one Name, one stored spelling."""
    given = " cn=billing , o=Example\\, Inc ,c=DE"
    parsed = parse(tls_machine(tls_client_auth_subject_dn=given))
    assert parsed.tls_client_auth_subject_dn == "CN=billing,O=Example\\, Inc,C=DE"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("billing", "RFC 4514"),
        ("not a DN", "RFC 4514"),
        ("XX=billing", "RFC 4514"),
        ("CN=billing,,O=Example", "RFC 4514"),
        ("CN=#62696c6c696e67", "#-hex"),
        ("CN=bill\\0Aing", "printable"),  # the escape decodes to a line break
    ],
)
def test_a_malformed_subject_dn_is_refused_saying_what_is_expected(value, message):
    """Parsed at registration by the parser authentication uses, not first at a token
    request (where it could only fail)."""
    exc = assert_invalid(
        tls_machine(tls_client_auth_subject_dn=value), "tls_client_auth_subject_dn"
    )
    assert [f.field for f in exc.fields] == ["tls_client_auth_subject_dn"]
    assert message in exc.fields[0].message


def test_malformed_tls_san_ip_is_named_by_its_field():
    exc = assert_invalid(
        machine(tls_client_auth_san_ip="999.1.1.1"),
        "tls_client_auth_san_ip",
    )
    assert [f.field for f in exc.fields] == ["tls_client_auth_san_ip"]


# --- contacts ---


@pytest.mark.parametrize(
    "contacts", [[], ["ops@example.com"], ["ops@example.com", "security@example.org"]]
)
def test_email_contacts_are_accepted(contacts):
    assert parse(meta(contacts=contacts)).contacts == contacts


@pytest.mark.parametrize(
    ("contacts", "field"),
    [
        (["not-an-email"], "contacts[0]"),
        (["ops@example.com", "https://example.com/contact"], "contacts[1]"),
        (["ops@"], "contacts[0]"),
        ([42], "contacts[0]"),
        ("ops@example.com", "contacts"),
        ([f"ops{i}@example.com" for i in range(21)], "contacts"),
    ],
)
def test_contacts_that_are_not_email_addresses_are_refused(contacts, field):
    """RFC 7591 §2: contacts is an array of e-mail addresses."""
    exc = assert_invalid(meta(contacts=contacts), field)
    assert [f.field for f in exc.fields] == [field]


# --- human-readable text: client_name, software_id, software_version ---


@pytest.mark.parametrize("name", ["Billing", "Appli café ☕", "x", "n" * 200])
def test_readable_client_names_are_accepted(name):
    assert parse(meta(client_name=name)).client_name == name


@pytest.mark.parametrize(
    "name",
    ["", " ", "  \u3000 ", "Bill\ning", "Bill\x00ing", "Bill\x7fing", "n" * 201, 42],
    ids=["empty", "space", "blank", "newline", "nul", "del", "too-long", "number"],
)
def test_unreadable_client_names_are_refused(name):
    exc = assert_invalid(meta(client_name=name), "client_name")
    assert [f.field for f in exc.fields] == ["client_name"]


@pytest.mark.parametrize("field", ["software_id", "software_version"])
@pytest.mark.parametrize("value", ["", "   ", "v1\r\n", "v" * 201])
def test_software_fields_follow_the_text_rules(field, value):
    assert_invalid(meta(**{field: value}), field)


@pytest.mark.parametrize("field", ["software_id", "software_version"])
def test_software_fields_are_kept(field):
    assert parse(meta(**{field: "4.2.0"})).to_wire()[field] == "4.2.0"


# --- scope: RFC 6749 §3.3 ---


@pytest.mark.parametrize(
    ("scope", "stored"),
    [
        ("read", "read"),
        ("read write", "read write"),
        ("openid profile:read urn:example:scope", "openid profile:read urn:example:scope"),
        ("!#$%&'()*+,-./:;<=>?@[]^_`{|}~", "!#$%&'()*+,-./:;<=>?@[]^_`{|}~"),
        ("read write read", "read write"),
        ("b a b a", "b a"),
    ],
)
def test_scope_tokens_are_accepted_and_deduplicated(scope, stored):
    """RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ), space-delimited."""
    client = parse(meta(scope=scope))
    assert client.scope == stored
    assert client.scopes == stored.split(" ")


def test_client_without_scope_has_no_scopes():
    assert parse(meta()).scopes == []


@pytest.mark.parametrize(
    "scope",
    ["", " ", " read", "read ", "read  write", "read\twrite", 'say"hi"', "back\\slash", "café"],
    ids=[
        "empty",
        "space",
        "leading-space",
        "trailing-space",
        "double-space",
        "tab",
        "double-quote",
        "backslash",
        "non-ascii",
    ],
)
def test_malformed_scope_is_refused(scope):
    """RFC 6749 §3.3: scope-tokens separated by single spaces (%x20)."""
    exc = assert_invalid(meta(scope=scope), "scope")
    assert [f.field for f in exc.fields] == ["scope"]


def test_overlong_scope_is_refused():
    assert_invalid(meta(scope=" ".join(f"s{i:04}" for i in range(400))), "scope")


def test_scope_with_a_trailing_newline_is_refused():
    """RFC 6749 §3.3: a newline (%x0A) is not a scope-token character."""
    assert_invalid(meta(scope="read\n"), "scope")


# --- informational and key URIs ---

WEB_URI_FIELDS = ["client_uri", "logo_uri", "policy_uri", "tos_uri", "jwks_uri"]
INFO_URI_FIELDS = [f for f in WEB_URI_FIELDS if f != "jwks_uri"]


@pytest.mark.parametrize("field", WEB_URI_FIELDS)
@pytest.mark.parametrize(
    "uri", ["https://app.example.com/page", "https://app.example.com:8443/page?lang=en"]
)
def test_https_web_uris_are_accepted(field, uri):
    assert parse(meta(**{field: uri})).to_wire()[field] == uri


@pytest.mark.parametrize("field", INFO_URI_FIELDS)
@pytest.mark.parametrize("uri", ["http://127.0.0.1:8000/page", "http://[::1]/page"])
def test_loopback_http_informational_uris_are_accepted(field, uri):
    assert parse(meta(**{field: uri})).to_wire()[field] == uri


# The server fetches a jwks_uri (auth/jwks.py checks every resolved address at fetch
# time); registration refuses what is plainly not a public https URL.
DEV_BOUNDS = dataclasses.replace(BOUNDS, jwks_uri_allow_loopback=True)


@pytest.mark.parametrize(
    "uri",
    [
        "http://127.0.0.1:8000/jwks",
        "http://[::1]/jwks",
        "https://127.0.0.1/jwks",
        "https://localhost/jwks",
        "https://keys.localhost/jwks",
        "https://10.0.0.1/jwks.json",
        "https://192.168.1.1/jwks",
        "https://169.254.169.254/latest/meta-data/",
        "https://100.64.0.1/jwks",
        "https://0.0.0.0/jwks",
        "https://[::ffff:10.0.0.1]/jwks",
        "https://[fd00::1]/jwks",
        "https://[fe80::1]/jwks",
        "https://user:pw@keys.example.com/jwks",
        "http://keys.example.com/jwks",
    ],
)
def test_a_jwks_uri_must_be_public_https(uri):
    assert_invalid(meta(jwks_uri=uri), "jwks_uri")


@pytest.mark.parametrize(
    ("uri", "ok"),
    [
        ("http://127.0.0.1:8000/jwks", True),
        ("http://localhost:8000/jwks", True),
        ("https://[::1]/jwks", True),
        ("https://10.0.0.1/jwks", False),  # the flag is about loopback only
        ("https://user@127.0.0.1/jwks", False),
        ("ftp://127.0.0.1/jwks", False),
    ],
)
def test_the_development_flag_allows_loopback_jwks_uris(uri, ok):
    data = meta(jwks_uri=uri)
    if ok:
        assert parse_client_metadata(data, DEV_BOUNDS).jwks_uri == uri
    else:
        with pytest.raises(InvalidClientMetadata) as caught:
            parse_client_metadata(data, DEV_BOUNDS)
        assert [f.field for f in caught.value.fields] == ["jwks_uri"]


@pytest.mark.parametrize("field", WEB_URI_FIELDS)
@pytest.mark.parametrize(
    "uri",
    [
        "http://app.example.com/page",
        "http://localhost/page",
        "ftp://app.example.com/page",
        "javascript:alert(1)",
        "data:image/png;base64,AAAA",
        "/page",
        "https:///page",
        "https://user@app.example.com/page",
        "https://app.example.com/page#top",
        "https://app.example.com/pa ge",
        "https://app.example.com/" + "p" * 2000,
    ],
)
def test_non_https_web_uris_are_refused(field, uri):
    exc = assert_invalid(meta(**{field: uri}), field)
    assert [f.field for f in exc.fields] == [field]


@pytest.mark.parametrize(
    "uri",
    ["http://127.0.0.2/cb", "http://[::1%25eth0]/cb", "http://127.1/cb", "http://0.0.0.0/cb"],
)
def test_only_the_two_loopback_literals_allow_http(uri):
    """RFC 8252 §7.3 names exactly http://127.0.0.1 and http://[::1]."""
    assert_bad_redirect(meta(redirect_uris=[uri]), "redirect_uris[0]")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("access_token_ttl", True),
        ("refresh_token_ttl", "600"),
        ("require_pkce", "yes"),
        ("skip_consent", 1),
        ("rotate_refresh_tokens", "false"),
    ],
)
def test_numbers_and_flags_must_have_their_json_type(field, value):
    assert_invalid(machine(**{field: value}), field)


@pytest.mark.parametrize(
    "name",
    ["Shop\u202eevil", "Zero\u200bwidth", "Bell\x07", "C1\x85control", "Sep\u2028line"],
)
def test_names_with_invisible_or_control_characters_are_refused(name):
    assert_invalid(machine(client_name=name), "client_name")


@pytest.mark.parametrize(
    "uri",
    [
        "https://evil.example\\.good.example/cb",
        "https://bücher.example/cb",
        "https://app.example.com/caf\u00e9",
    ],
)
def test_redirect_uris_must_be_plain_ascii_without_backslashes(uri):
    assert_bad_redirect(meta(redirect_uris=[uri]), "redirect_uris[0]")


def test_ipv6_zone_id_in_tls_san_ip_is_refused():
    assert_invalid(
        meta(token_endpoint_auth_method="tls_client_auth", tls_client_auth_san_ip="fe80::1%eth0"),
        "tls_client_auth_san_ip",
    )


def test_oversized_jwks_is_refused():
    keys = [ec_public_jwk() for _ in range(21)]
    assert_invalid(meta(token_endpoint_auth_method="private_key_jwt", jwks=jwk_set(*keys)), "jwks")


# --- the admin scope: a confidential client's own client_credentials token only ---


@pytest.mark.parametrize(
    "data",
    [
        meta(token_endpoint_auth_method="none", scope="appward:admin"),
        meta(token_endpoint_auth_method="none", scope="read appward:admin"),
        meta(scope="appward:admin"),  # no client_credentials grant
    ],
    ids=["public", "public-among-others", "without-client-credentials"],
)
def test_the_admin_scope_is_refused_where_only_a_user_could_receive_it(data: Any) -> None:
    assert_invalid(data, "scope", message="appward:admin")


@pytest.mark.parametrize(
    "data",
    [
        machine(scope="appward:admin"),
        meta(grant_types=["authorization_code", "client_credentials"], scope="read appward:admin"),
    ],
)
def test_a_confidential_client_credentials_client_may_hold_the_admin_scope(data: Any) -> None:
    assert "appward:admin" in parse(data).scopes


def test_jwks_with_a_repeated_kid_is_refused():
    """RFC 7517 §4.5: a kid names one key of the set, or no verifier knows which to use."""
    jwks = jwk_set(ec_public_jwk() | {"kid": "k1"}, ec_public_jwk() | {"kid": "k1"})
    assert_invalid(machine(jwks=jwks), "jwks", message="kid must be unique")


@pytest.mark.parametrize("alg", ["ES256", "HS256"])
def test_signing_alg_is_refused_for_a_method_that_signs_no_assertion(alg: str):
    assert_invalid(
        machine(token_endpoint_auth_signing_alg=alg),
        "token_endpoint_auth_signing_alg",
        message="only used with a method that signs assertions",
    )


def test_signing_alg_outside_the_allow_lists_is_refused():
    assert_invalid(
        machine(token_endpoint_auth_signing_alg="none"), "token_endpoint_auth_signing_alg"
    )


def test_assertion_audience_takes_only_compat_or_strict():
    assert parse(machine(assertion_audience="strict")).assertion_audience == "strict"
    assert_invalid(machine(assertion_audience="loose"), "assertion_audience")
