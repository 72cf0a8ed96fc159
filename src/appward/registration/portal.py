"""What the developer portal lets a developer register: the kind of app decides whether
the client is public or confidential and how it authenticates, and the portal's policy
(from configuration) bounds its grant types and scopes.

A developer never picks a token_endpoint_auth_method or an application_type: they say
what they are building, as on Google's and GitHub's consoles, and the profile of that
kind of app decides. The request then goes through the one validator (clients.metadata)
and DCR's own named checks (registration.policy), so no rule is written twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from appward.clients.metadata import ClientMetadata, parse_client_metadata
from appward.config import InvalidConfiguration, LifetimeBounds, Settings
from appward.errors import FieldError, InvalidClientMetadata
from appward.registration.policy import (
    check_grant_types_allowed,
    check_redirect_uri_count,
    granted_scope,
    registrable_scopes,
)
from appward.tokens.grant_types import GRANT_TYPES

CLIENT_CREDENTIALS = "client_credentials"
MAX_REDIRECT_URIS = 10


class AppType(StrEnum):
    """What a developer says they are building."""

    WEB = "web"  # a server-side web app: keeps a secret
    SPA = "spa"  # a single-page app in the browser: cannot keep one
    NATIVE = "native"  # a desktop or mobile app: cannot keep one either (RFC 8252 §8.4)


@dataclass(frozen=True, slots=True)
class AppProfile:
    """The metadata a kind of app gets that the developer does not choose."""

    label: str
    application_type: str
    token_endpoint_auth_method: str

    @property
    def is_public(self) -> bool:
        return self.token_endpoint_auth_method == "none"


APP_PROFILES: Mapping[AppType, AppProfile] = {
    AppType.WEB: AppProfile("Web application", "web", "client_secret_basic"),
    AppType.SPA: AppProfile("Single-page application", "web", "none"),
    # Native apps may use loopback and private-use redirect URIs (RFC 8252 §7).
    AppType.NATIVE: AppProfile("Native or mobile app", "native", "none"),
}

# The RFC 7591 fields a developer fills in on the portal's form.
PORTAL_FIELDS = (
    "client_name",
    "logo_uri",
    "client_uri",
    "policy_uri",
    "tos_uri",
    "redirect_uris",
    "grant_types",
    "scope",
    "contacts",
)


@dataclass(frozen=True, slots=True)
class PortalPolicy:
    """Who may sign up on the portal, and what the apps made there may get."""

    signup: str  # "open", "invite" or "closed"
    grant_types: tuple[str, ...]
    scopes: tuple[str, ...] | None  # None: any registry scope that is not admin-only

    def grant_types_for(self, app_type: AppType) -> tuple[str, ...]:
        """Returns the grant types an app of ``app_type`` may have: client_credentials
        only for an app that keeps a secret, and only where the policy allows it."""
        public = APP_PROFILES[app_type].is_public
        return tuple(g for g in self.grant_types if not (public and g == CLIENT_CREDENTIALS))

    def default_grant_types(self, app_type: AppType) -> list[str]:
        """Returns what an app gets when the developer does not choose: the interactive
        grants the policy allows (client_credentials is asked for, never assumed)."""
        return [g for g in self.grant_types_for(app_type) if g != CLIENT_CREDENTIALS]


def portal_policy(settings: Settings) -> PortalPolicy:
    """Returns the portal's policy from the settings. Raises InvalidConfiguration for a
    grant type the token endpoint does not serve."""
    unsupported = [g for g in settings.portal_grant_types if g not in GRANT_TYPES]
    if unsupported:
        raise InvalidConfiguration.of(
            "APPWARD_PORTAL_GRANT_TYPES",
            f"not supported: {', '.join(unsupported)}; supported: {', '.join(GRANT_TYPES)}",
        )
    return PortalPolicy(
        signup=settings.portal_signup,
        grant_types=settings.portal_grant_types,
        scopes=settings.portal_scopes,
    )


def parse_app_type(value: object) -> AppType:
    """Returns the app type named by ``value``. Raises InvalidClientMetadata otherwise."""
    try:
        return AppType(str(value))
    except ValueError:
        raise InvalidClientMetadata(
            "choose what kind of app this is",
            fields=[FieldError("app_type", f"one of {', '.join(t.value for t in AppType)}")],
        ) from None


def app_type_of(application_type: str, token_endpoint_auth_method: str) -> AppType:
    """Returns the kind of app a registered client is, read back from its profile's
    fields (the portal shows it, and an edit keeps it)."""
    for app_type, profile in APP_PROFILES.items():
        if (profile.application_type, profile.token_endpoint_auth_method) == (
            application_type,
            token_endpoint_auth_method,
        ):
            return app_type
    return AppType.NATIVE if application_type == "native" else AppType.WEB


async def portal_metadata(
    app_type: AppType,
    form: Mapping[str, Any],
    policy: PortalPolicy,
    *,
    bounds: LifetimeBounds,
    session: AsyncSession,
) -> dict[str, Any]:
    """Returns the RFC 7591 metadata of an app a developer asks for: their fields, the
    app type's profile, parsed by the one validator and within the portal's policy.

    Raises InvalidClientMetadata / InvalidRedirectUri, each problem named by its field.
    """
    profile = APP_PROFILES[app_type]
    fields = {name: form[name] for name in PORTAL_FIELDS if form.get(name) not in (None, "")}
    fields.setdefault("grant_types", policy.default_grant_types(app_type))
    fields["application_type"] = profile.application_type
    fields["token_endpoint_auth_method"] = profile.token_endpoint_auth_method
    metadata = parse_client_metadata(fields, bounds)
    check_portal_limits(metadata, app_type, policy)
    if "scope" in fields:
        granted = await _granted_scope(str(fields["scope"]), policy, session)
        if granted is None:
            del fields["scope"]
        else:
            fields["scope"] = granted
    return fields


def check_portal_limits(metadata: ClientMetadata, app_type: AppType, policy: PortalPolicy) -> None:
    """Raises InvalidClientMetadata / InvalidRedirectUri where ``metadata`` asks for more
    than the portal gives an app of ``app_type``."""
    check_named(metadata)
    check_grant_types_allowed(metadata, policy.grant_types_for(app_type))
    check_redirect_uri_count(metadata, MAX_REDIRECT_URIS)


def check_named(metadata: ClientMetadata) -> None:
    """Raises InvalidClientMetadata for an app without a name: the consent page shows the
    name to every user the app asks, so a portal app must have one."""
    if not (metadata.client_name or "").strip():
        raise InvalidClientMetadata(
            "give the app the name its users will see",
            fields=[FieldError("client_name", "required")],
        )


async def _granted_scope(requested: str, policy: PortalPolicy, session: AsyncSession) -> str | None:
    """Returns the requested scopes when all may be had: a form asks for what it shows,
    so scopes beyond policy are refused, never silently dropped."""
    registrable = frozenset(await registrable_scopes(session))
    grantable = registrable if policy.scopes is None else registrable & frozenset(policy.scopes)
    return granted_scope(requested, grantable, downscope=False)
