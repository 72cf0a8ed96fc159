"""DCR's policy: admission by mode, the fields of a request that count, and each limit as
a named check over parsed metadata, allowed x refused."""

from __future__ import annotations

import os
from typing import Any

import pytest

from appward.auth.registry import METHODS_SUPPORTED
from appward.clients.metadata import ClientMetadata, parse_client_metadata
from appward.config import InvalidConfiguration, LifetimeBounds, Settings
from appward.errors import (
    InvalidClientMetadata,
    InvalidRedirectUri,
    InvalidSoftwareStatement,
    InvalidToken,
)
from appward.registration.policy import (
    RegistrationPolicy,
    Template,
    allowed_grant_types,
    check_admitted,
    check_auth_method_allowed,
    check_grant_types_allowed,
    check_redirect_uri_count,
    check_redirect_uris_are_web,
    check_within_limits,
    grantable_scopes,
    granted_scope,
    overlay_vetted,
    registration_policy,
    requested_fields,
)
from appward.tokens.grant_types import GRANT_TYPES

REDIRECT = "https://app.example.com/callback"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings read APPWARD_* variables: start each test from none."""
    for name in list(os.environ):
        if name.startswith("APPWARD_"):
            monkeypatch.delenv(name)


def bounds() -> LifetimeBounds:
    return Settings().lifetime_bounds


def parsed(**fields: Any) -> ClientMetadata:
    return parse_client_metadata({"redirect_uris": [REDIRECT], **fields}, bounds())


def policy(**overrides: Any) -> RegistrationPolicy:
    values: dict[str, Any] = {
        "modes": frozenset({"open"}),
        "grant_types": ("authorization_code", "refresh_token"),
        "scopes": None,
        "downscope": True,
        "auth_methods": ("client_secret_basic", "none"),
        "max_redirect_uris": 3,
        "rate_limit_per_minute": 20,
        **overrides,
    }
    return RegistrationPolicy(**values)


# --- the policy from the settings ---


def test_by_default_every_method_the_token_endpoint_supports_is_allowed():
    built = registration_policy(Settings())
    assert built.auth_methods == tuple(METHODS_SUPPORTED)
    assert built.auth_methods == (
        "client_secret_basic",
        "client_secret_post",
        "none",
        "private_key_jwt",
        "client_secret_jwt",
    )


def test_the_settings_narrow_the_policy():
    built = registration_policy(
        Settings(
            dcr_modes="open,initial_access_token",
            dcr_grant_types="authorization_code",
            dcr_scopes="api:read api:write",
            dcr_scope_policy="refuse",
            dcr_auth_methods="none",
            dcr_max_redirect_uris=2,
            dcr_rate_limit=5,
        )
    )
    assert built.modes == frozenset({"open", "initial_access_token"})
    assert built.enabled
    assert built.grant_types == ("authorization_code",)
    assert built.scopes == ("api:read", "api:write")
    assert built.downscope is False
    assert built.auth_methods == ("none",)
    assert (built.max_redirect_uris, built.rate_limit_per_minute) == (2, 5)


def test_closed_is_no_mode():
    assert not registration_policy(Settings()).enabled


@pytest.mark.parametrize(
    ("variable", "value", "unsupported", "supported"),
    [
        ("dcr_auth_methods", "tls_client_auth", "tls_client_auth", METHODS_SUPPORTED),
        ("dcr_auth_methods", "none,tls_client_auth", "tls_client_auth", METHODS_SUPPORTED),
        ("dcr_grant_types", "authorization_code,password", "password", GRANT_TYPES),
        ("dcr_grant_types", "implicit", "implicit", GRANT_TYPES),
    ],
)
def test_names_the_registries_lack_are_refused_in_one_line(variable, value, unsupported, supported):
    with pytest.raises(InvalidConfiguration) as refused:
        registration_policy(Settings(**{variable: value}))
    assert str(refused.value.code) == (
        f"invalid configuration: APPWARD_{variable.upper()}: not supported: {unsupported}; "
        f"supported: {', '.join(supported)}"
    )


@pytest.mark.parametrize("methods", ["client_secret_basic", "client_secret_post,none"])
def test_names_the_registries_hold_are_accepted(methods):
    assert registration_policy(Settings(dcr_auth_methods=methods)).auth_methods == tuple(
        methods.split(",")
    )


# --- who may register ---


@pytest.mark.parametrize(
    ("modes", "has_token", "has_statement"),
    [
        ({"open"}, False, False),
        ({"initial_access_token"}, True, False),
        ({"software_statement"}, False, True),
        ({"initial_access_token", "software_statement"}, False, True),
        ({"initial_access_token", "software_statement"}, True, False),
    ],
)
def test_admitted(modes, has_token, has_statement):
    check_admitted(
        policy(modes=frozenset(modes)),
        has_token=has_token,
        has_statement=has_statement,
        presented_token=has_token,
    )


@pytest.mark.parametrize(
    ("modes", "has_statement", "presented", "error", "missing"),
    [
        ({"initial_access_token"}, False, False, InvalidToken, True),
        ({"initial_access_token"}, False, True, InvalidToken, False),
        ({"initial_access_token"}, True, False, InvalidToken, True),
        ({"software_statement"}, False, False, InvalidSoftwareStatement, None),
    ],
)
def test_refused_admission(modes, has_statement, presented, error, missing):
    with pytest.raises(error) as refused:
        check_admitted(
            policy(modes=frozenset(modes)),
            has_token=False,
            has_statement=has_statement,
            presented_token=presented,
        )
    if missing is not None:
        assert isinstance(refused.value, InvalidToken)
        assert refused.value.missing is missing


# --- what of a request counts ---


def test_only_rfc7591_fields_count_and_localized_names_are_gathered():
    fields = requested_fields(
        {
            "client_name": "App",
            "client_name#fr": "Appli",
            "skip_consent": True,
            "access_token_ttl": 1,
            "logo_uri": None,
            "x_vendor": 1,
        }
    )
    assert fields == {"client_name": "App", "client_name_localized": {"fr": "Appli"}}


def test_a_statement_naming_the_client_replaces_every_requested_name():
    requested = requested_fields({"client_name": "Mine", "client_name#en": "Google Drive"})
    overlay_vetted(requested, {"client_name": "Vetted", "software_id": "app"})
    assert requested == {"client_name": "Vetted", "software_id": "app"}


def test_a_statement_without_a_name_keeps_the_requested_names():
    requested = requested_fields({"client_name": "Mine", "client_name#en": "Mine (en)"})
    overlay_vetted(requested, {"software_id": "app"})
    assert requested["client_name_localized"] == {"en": "Mine (en)"}


def test_a_template_round_trips_through_json():
    template = Template(("client_credentials",), ("api:read",))
    assert Template.of(template.to_json()) == template
    assert Template.of({}) == Template()
    assert Template().to_json() == {}


# --- the limits, each allowed x refused ---


@pytest.mark.parametrize(
    ("method", "allowed"),
    [
        ("client_secret_basic", True),
        ("none", True),
        ("client_secret_post", False),
    ],
)
def test_check_auth_method_allowed(method, allowed):
    metadata = parsed(token_endpoint_auth_method=method)
    if allowed:
        check_auth_method_allowed(metadata, ("client_secret_basic", "none"))
        return
    with pytest.raises(InvalidClientMetadata) as refused:
        check_auth_method_allowed(metadata, ("client_secret_basic", "none"))
    assert refused.value.error == "invalid_client_metadata"
    assert [f.field for f in refused.value.fields] == ["token_endpoint_auth_method"]
    assert "client_secret_basic, none" in refused.value.description


def test_the_default_auth_method_is_the_validators():
    # Left out of the request, the method is ClientMetadata's default: no second default here.
    with pytest.raises(InvalidClientMetadata, match="client_secret_basic"):
        check_auth_method_allowed(parsed(), ("none",))


@pytest.mark.parametrize(
    ("grants", "allowed"),
    [
        (["authorization_code"], True),
        (["authorization_code", "refresh_token"], True),
        (["client_credentials"], False),
        (["authorization_code", "client_credentials"], False),
    ],
)
def test_check_grant_types_allowed(grants, allowed):
    metadata = parsed(grant_types=grants)
    if allowed:
        check_grant_types_allowed(metadata, ("authorization_code", "refresh_token"))
        return
    with pytest.raises(InvalidClientMetadata) as refused:
        check_grant_types_allowed(metadata, ("authorization_code", "refresh_token"))
    assert refused.value.error == "invalid_client_metadata"
    assert "client_credentials" in refused.value.description
    assert [f.field for f in refused.value.fields] == ["grant_types"]


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        (Template(), ("authorization_code", "refresh_token")),
        (Template(grant_types=("client_credentials",)), ("client_credentials",)),
        (Template(scopes=("api:read",)), ("authorization_code", "refresh_token")),
    ],
)
def test_allowed_grant_types_come_from_the_template_or_the_policy(template, expected):
    assert allowed_grant_types(policy(), template) == expected


@pytest.mark.parametrize(("count", "allowed"), [(1, True), (3, True), (4, False)])
def test_check_redirect_uri_count(count, allowed):
    metadata = parsed(redirect_uris=[f"https://app.example.com/{i}" for i in range(count)])
    if allowed:
        check_redirect_uri_count(metadata, 3)
        return
    with pytest.raises(InvalidRedirectUri) as refused:
        check_redirect_uri_count(metadata, 3)
    assert refused.value.error == "invalid_redirect_uri"
    assert "at most 3" in refused.value.description


@pytest.mark.parametrize(
    ("uri", "application_type", "allowed"),
    [
        ("https://app.example.com/cb", "web", True),
        ("http://127.0.0.1:8080/cb", "native", True),
        ("http://[::1]/cb", "native", True),
        ("com.example.app:/callback", "native", False),
    ],
)
def test_check_redirect_uris_are_web(uri, application_type, allowed):
    metadata = parsed(redirect_uris=[uri], application_type=application_type)
    if allowed:
        check_redirect_uris_are_web(metadata)
        return
    with pytest.raises(InvalidRedirectUri) as refused:
        check_redirect_uris_are_web(metadata)
    assert refused.value.error == "invalid_redirect_uri"
    assert refused.value.description.endswith("(self-registered clients)")
    assert [f.field for f in refused.value.fields] == ["redirect_uris[0]"]


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({}, None),
        ({"token_endpoint_auth_method": "client_secret_post"}, InvalidClientMetadata),
        ({"grant_types": ["client_credentials"]}, InvalidClientMetadata),
        ({"redirect_uris": [f"https://a.example/{i}" for i in range(4)]}, InvalidRedirectUri),
        (
            {"redirect_uris": ["com.example.app:/cb"], "application_type": "native"},
            InvalidRedirectUri,
        ),
    ],
)
def test_check_within_limits_runs_every_check(fields, error):
    metadata = parsed(**fields)
    if error is None:
        check_within_limits(metadata, policy(), Template())
        return
    with pytest.raises(error):
        check_within_limits(metadata, policy(), Template())


# --- scopes ---


@pytest.mark.parametrize(
    ("configured", "template", "expected"),
    [
        (None, Template(), {"api:read", "api:write"}),
        (("api:read",), Template(), {"api:read"}),
        (("api:read", "ops"), Template(), {"api:read"}),  # ops is admin-only: not registrable
        (("api:read",), Template(scopes=("api:write",)), {"api:write"}),
        (None, Template(scopes=()), set()),
    ],
)
def test_grantable_scopes(configured, template, expected):
    registrable = ["api:read", "api:write"]
    assert grantable_scopes(registrable, policy(scopes=configured), template) == expected


@pytest.mark.parametrize(
    ("requested", "downscope", "granted"),
    [
        ("api:read", True, "api:read"),
        ("api:read", False, "api:read"),
        ("api:write api:read api:write", False, "api:write api:read"),
        ("api:read ops nonexistent", True, "api:read"),
        ("ops", True, None),
        ("", False, None),
    ],
)
def test_granted_scope(requested, downscope, granted):
    assert granted_scope(requested, {"api:read", "api:write"}, downscope=downscope) == granted


@pytest.mark.parametrize("requested", ["api:read ops", "nonexistent"])
def test_granted_scope_refuses_what_is_beyond_when_not_downscoping(requested):
    with pytest.raises(InvalidClientMetadata) as refused:
        granted_scope(requested, {"api:read"}, downscope=False)
    assert refused.value.error == "invalid_client_metadata"
    assert [f.field for f in refused.value.fields] == ["scope"]
