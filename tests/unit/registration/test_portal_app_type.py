"""registration.portal.app_type_of: a registered client's kind, read back from its
profile's fields (the portal shows it, and an edit keeps it)."""

from __future__ import annotations

import pytest

from appward.registration.portal import APP_PROFILES, AppType, app_type_of


@pytest.mark.parametrize("app_type", list(AppType))
def test_each_profile_reads_back_as_its_kind(app_type):
    profile = APP_PROFILES[app_type]
    assert app_type_of(profile.application_type, profile.token_endpoint_auth_method) is app_type


@pytest.mark.parametrize(
    ("application_type", "method", "expected"),
    [
        ("web", "private_key_jwt", AppType.WEB),  # set by an admin: still a server-side app
        ("native", "client_secret_basic", AppType.NATIVE),
    ],
)
def test_a_client_outside_the_profiles_reads_as_the_nearest_kind(
    application_type, method, expected
):
    assert app_type_of(application_type, method) is expected
