"""registration.portal.portal_metadata: a developer's form, as the metadata it registers,
through the one validator and within the portal's policy (both databases)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from appward.errors import InvalidClientMetadata, InvalidRedirectUri
from appward.registration.portal import AppType, PortalPolicy, portal_metadata
from appward.services import Services, standalone_resources, unit_of_work
from tests.factories import SETUP_ACTOR

pytestmark = pytest.mark.anyio

POLICY = PortalPolicy("open", ("authorization_code", "refresh_token"), None)
WEB_FORM = {"client_name": "Weather Widget", "redirect_uris": ["https://weather.example/cb"]}


@pytest.fixture
async def services(settings, clock) -> AsyncIterator[Services]:
    async with (
        standalone_resources(settings, clock=clock) as resources,
        unit_of_work(resources, SETUP_ACTOR) as opened,
    ):
        await opened.scopes.create("weather:read", "Read forecasts")
        await opened.scopes.create("ops:admin", "Operate", admin_only=True)
        yield opened


async def metadata(
    services: Services, form: dict[str, Any], app_type: AppType = AppType.WEB, **kw: Any
) -> dict[str, Any]:
    return await portal_metadata(
        app_type,
        form,
        kw.get("policy", POLICY),
        bounds=services.resources.settings.lifetime_bounds,
        session=services.session,
    )


async def test_a_web_app_is_confidential_with_the_policys_interactive_grants(services):
    data = await metadata(services, {**WEB_FORM, "scope": "weather:read"})
    assert data["token_endpoint_auth_method"] == "client_secret_basic"
    assert data["application_type"] == "web"
    assert data["grant_types"] == ["authorization_code", "refresh_token"]
    assert data["scope"] == "weather:read"
    change = await services.clients.create(data, registration_source="admin")
    assert change.secret is not None


async def test_a_single_page_app_is_public(services):
    data = await metadata(services, WEB_FORM, AppType.SPA)
    assert data["token_endpoint_auth_method"] == "none"
    assert (await services.clients.create(data)).secret is None


async def test_a_native_app_may_use_a_private_use_scheme(services):
    form = {"client_name": "Phone", "redirect_uris": ["com.example.phone:/callback"]}
    assert (await metadata(services, form, AppType.NATIVE))["application_type"] == "native"
    with pytest.raises(InvalidRedirectUri):
        await metadata(services, form, AppType.WEB)


async def test_the_developer_cannot_choose_how_the_app_authenticates(services):
    form = {**WEB_FORM, "token_endpoint_auth_method": "none", "application_type": "native"}
    data = await metadata(services, form)
    assert data["token_endpoint_auth_method"] == "client_secret_basic"
    assert data["application_type"] == "web"


async def test_client_credentials_is_refused_unless_the_policy_allows_it(services):
    form = {**WEB_FORM, "grant_types": ["authorization_code", "client_credentials"]}
    with pytest.raises(InvalidClientMetadata) as refused:
        await metadata(services, form)
    assert refused.value.fields[0].field == "grant_types"
    allowing = PortalPolicy("open", (*POLICY.grant_types, "client_credentials"), None)
    assert "client_credentials" in (await metadata(services, form, policy=allowing))["grant_types"]
    with pytest.raises(InvalidClientMetadata):
        await metadata(services, form, AppType.SPA, policy=allowing)


@pytest.mark.parametrize("scope", ["ops:admin", "unknown:scope", "weather:read ops:admin"])
async def test_scopes_beyond_policy_are_refused_not_dropped(services, scope):
    with pytest.raises(InvalidClientMetadata) as refused:
        await metadata(services, {**WEB_FORM, "scope": scope})
    assert refused.value.fields[0].field == "scope"


async def test_the_policys_scope_list_bounds_what_may_be_asked(services):
    await services.scopes.create("weather:write", "Change forecasts")
    narrow = PortalPolicy("open", POLICY.grant_types, ("weather:read",))
    with pytest.raises(InvalidClientMetadata):
        await metadata(services, {**WEB_FORM, "scope": "weather:write"}, policy=narrow)


@pytest.mark.parametrize(
    ("form", "field"),
    [
        ({"redirect_uris": ["https://weather.example/cb"]}, "client_name"),
        ({**WEB_FORM, "redirect_uris": ["not a uri"]}, "redirect_uris[0]"),
        ({**WEB_FORM, "logo_uri": "javascript:alert(1)"}, "logo_uri"),
        (
            {**WEB_FORM, "redirect_uris": [f"https://a.example/{i}" for i in range(11)]},
            "redirect_uris",
        ),
    ],
)
async def test_each_invalid_field_is_named(services, form, field):
    with pytest.raises((InvalidClientMetadata, InvalidRedirectUri)) as refused:
        await metadata(services, form)
    assert field in [f.field for f in refused.value.fields]
