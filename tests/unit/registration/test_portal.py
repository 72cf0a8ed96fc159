"""registration.portal: app types and the portal's policy, without storage."""

from __future__ import annotations

import pytest

from appward.config import InvalidConfiguration, Settings
from appward.errors import InvalidClientMetadata
from appward.registration.portal import (
    APP_PROFILES,
    AppType,
    PortalPolicy,
    parse_app_type,
    portal_policy,
)

WITH_CC = PortalPolicy("open", ("authorization_code", "refresh_token", "client_credentials"), None)


@pytest.mark.parametrize(
    ("app_type", "method", "application_type"),
    [
        (AppType.WEB, "client_secret_basic", "web"),
        (AppType.SPA, "none", "web"),
        (AppType.NATIVE, "none", "native"),
    ],
)
def test_the_kind_of_app_decides_how_it_authenticates(app_type, method, application_type):
    profile = APP_PROFILES[app_type]
    assert profile.token_endpoint_auth_method == method
    assert profile.application_type == application_type


def test_client_credentials_is_only_for_apps_that_keep_a_secret():
    assert "client_credentials" in WITH_CC.grant_types_for(AppType.WEB)
    assert "client_credentials" not in WITH_CC.grant_types_for(AppType.SPA)
    assert "client_credentials" not in WITH_CC.grant_types_for(AppType.NATIVE)


def test_client_credentials_is_asked_for_never_given_by_default():
    assert WITH_CC.default_grant_types(AppType.WEB) == ["authorization_code", "refresh_token"]


def test_the_default_policy_offers_no_client_credentials():
    policy = portal_policy(Settings())
    assert policy.signup == "invite"
    assert "client_credentials" not in policy.grant_types_for(AppType.WEB)


def test_a_grant_type_the_server_does_not_serve_is_a_configuration_error():
    with pytest.raises(InvalidConfiguration) as refused:
        portal_policy(Settings(portal_grant_types=("authorization_code", "password")))
    assert "APPWARD_PORTAL_GRANT_TYPES" in str(refused.value)
    assert "password" in str(refused.value)


@pytest.mark.parametrize("value", ["", "server", None, 3, "WEB "])
def test_an_unknown_app_type_is_named(value):
    with pytest.raises(InvalidClientMetadata) as refused:
        parse_app_type(value)
    assert refused.value.fields[0].field == "app_type"


def test_signup_mode_is_one_of_three():
    with pytest.raises(ValueError, match="portal_signup"):
        Settings(portal_signup="sometimes")
