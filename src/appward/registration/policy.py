"""What Dynamic Client Registration admits and what it bounds: the modes a registration
must satisfy, the request fields that count, and DCR's limits, checked after the one
validator (clients.metadata) has parsed the request.

The auth methods and grant types a self-registered client may have are names of the
registries (auth.registry.METHODS_SUPPORTED, tokens.grant_types.GRANT_TYPES), so a
configuration can never offer what the token endpoint cannot do.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from appward.auth.registry import METHODS_SUPPORTED
from appward.clients.metadata import (
    TLS_FIELDS,
    ClientMetadata,
    check_web_uri,
    parse_client_metadata,
)
from appward.clients.scopes import Scope
from appward.config import InvalidConfiguration, LifetimeBounds, Settings
from appward.errors import (
    FieldError,
    InvalidClientMetadata,
    InvalidRedirectUri,
    InvalidSoftwareStatement,
    InvalidToken,
)
from appward.tokens.grant_types import GRANT_TYPES

# The RFC 7591 §2 fields a client may send about itself (plus OpenID's application_type,
# which decides whether private-use redirect schemes are allowed). Anything else in a
# request, Appward's own policy fields included, is ignored and never stored.
DCR_FIELDS = (
    "redirect_uris",
    "token_endpoint_auth_method",
    "grant_types",
    "response_types",
    "client_name",
    "client_uri",
    "logo_uri",
    "scope",
    "contacts",
    "tos_uri",
    "policy_uri",
    "jwks_uri",
    "jwks",
    "software_id",
    "software_version",
    "application_type",
    *TLS_FIELDS,
    "token_endpoint_auth_signing_alg",
    "tls_client_certificate_bound_access_tokens",
)
LOCAL_FIELDS = ("client_name_localized",)  # stored under another name than on the wire
LOCALIZED_NAME = "client_name#"  # RFC 7591 §2.2: client_name#<language tag>


@dataclass(frozen=True, slots=True)
class RegistrationPolicy:
    """What Dynamic Client Registration accepts and what a self-registered client may get."""

    modes: frozenset[str]  # empty: registration is closed
    grant_types: tuple[str, ...]
    scopes: tuple[str, ...] | None  # None: any scope that is not admin-only
    downscope: bool  # False: refuse scopes beyond policy instead of dropping them
    auth_methods: tuple[str, ...]
    max_redirect_uris: int
    rate_limit_per_minute: int
    publishers: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @property
    def enabled(self) -> bool:
        return bool(self.modes)


def registration_policy(settings: Settings) -> RegistrationPolicy:
    """Returns the policy the settings configure.

    Raises InvalidConfiguration (one line, naming the variable and the allowed values) for
    an auth method or grant type the server does not support.
    """
    methods = settings.dcr_auth_methods
    return RegistrationPolicy(
        modes=frozenset(settings.dcr_modes) - {"closed"},
        grant_types=_supported("APPWARD_DCR_GRANT_TYPES", settings.dcr_grant_types, GRANT_TYPES),
        scopes=settings.dcr_scopes,
        downscope=settings.dcr_scope_policy == "downscope",
        auth_methods=(
            METHODS_SUPPORTED
            if methods is None
            else _supported("APPWARD_DCR_AUTH_METHODS", methods, METHODS_SUPPORTED)
        ),
        max_redirect_uris=settings.dcr_max_redirect_uris,
        rate_limit_per_minute=settings.dcr_rate_limit,
        publishers=settings.dcr_software_statement_publishers,
    )


def _supported(variable: str, names: tuple[str, ...], registry: Collection[str]) -> tuple[str, ...]:
    unsupported = [name for name in names if name not in registry]
    if unsupported:
        raise InvalidConfiguration.of(
            variable,
            f"not supported: {', '.join(unsupported)}; supported: {', '.join(registry)}",
        )
    return names


@dataclass(frozen=True, slots=True)
class Template:
    """What an initial access token lets its registrations have, beyond the defaults."""

    grant_types: tuple[str, ...] | None = None
    scopes: tuple[str, ...] | None = None

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> Template:
        grants, scopes = data.get("grant_types"), data.get("scopes")
        return cls(
            tuple(grants) if grants is not None else None,
            tuple(scopes) if scopes is not None else None,
        )

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        if self.grant_types is not None:
            data["grant_types"] = list(self.grant_types)
        if self.scopes is not None:
            data["scopes"] = list(self.scopes)
        return data


# --- who may register ---


def check_admitted(
    policy: RegistrationPolicy, *, has_token: bool, has_statement: bool, presented_token: bool
) -> None:
    """Raises unless a registration with a valid initial access token (``has_token``)
    and/or a verified software statement satisfies one of the policy's modes:
    InvalidToken where a token is the way in, InvalidSoftwareStatement otherwise."""
    modes = policy.modes
    if "open" in modes:
        return
    if has_token or (has_statement and "software_statement" in modes):
        return
    if "initial_access_token" in modes:
        alternative = (
            " or a software statement of a trusted publisher"
            if "software_statement" in modes
            else ""
        )
        raise InvalidToken(
            f"registration needs an initial access token (Authorization: Bearer){alternative}",
            missing=not presented_token,
        )
    raise InvalidSoftwareStatement(
        "registration needs a software_statement signed by a trusted publisher"
    )


# --- what of a request counts ---


def requested_fields(data: Mapping[str, Any]) -> dict[str, Any]:
    """Returns the RFC 7591 fields of a request (or of a software statement's claims),
    localized names gathered under client_name_localized; null counts as left out."""
    fields = {name: data[name] for name in DCR_FIELDS if name in data and data[name] is not None}
    localized = {
        key.removeprefix(LOCALIZED_NAME): value
        for key, value in data.items()
        if isinstance(key, str) and key.startswith(LOCALIZED_NAME)
    }
    if localized:
        fields["client_name_localized"] = localized
    return fields


def overlay_vetted(requested: dict[str, Any], claims: Mapping[str, Any]) -> None:
    """Puts a software statement's metadata over the request's (RFC 7591 §2.3). Where the
    publisher names the client, every name is the publisher's: localized names from the
    request could otherwise show users something else than the vetted name."""
    vetted = requested_fields(claims)
    if "client_name" in vetted or "client_name_localized" in vetted:
        requested.pop("client_name_localized", None)
    requested.update(vetted)


# --- DCR's limits, over parsed metadata ---


def check_auth_method_allowed(metadata: ClientMetadata, allowed: Collection[str]) -> None:
    """Raises InvalidClientMetadata unless the client's token_endpoint_auth_method is one
    self-registered clients may use."""
    method = metadata.token_endpoint_auth_method
    if method not in allowed:
        raise InvalidClientMetadata(
            f"token_endpoint_auth_method {method!r} is not available to self-registered "
            f"clients; use one of {', '.join(allowed)}",
            fields=[FieldError("token_endpoint_auth_method", "not allowed by policy")],
        )


def allowed_grant_types(policy: RegistrationPolicy, template: Template) -> tuple[str, ...]:
    """Returns the grant types a registration may have: its token's template's, or else
    the policy's."""
    return template.grant_types or policy.grant_types


def check_grant_types_allowed(metadata: ClientMetadata, allowed: Collection[str]) -> None:
    """Raises InvalidClientMetadata for a grant type outside ``allowed``."""
    refused = [g for g in metadata.grant_types if g not in allowed]
    if refused:
        raise InvalidClientMetadata(
            f"grant type(s) {', '.join(refused)} not available to this registration; "
            f"allowed: {', '.join(allowed)}",
            fields=[FieldError("grant_types", "not allowed by policy")],
        )


def check_redirect_uri_count(metadata: ClientMetadata, limit: int) -> None:
    """Raises InvalidRedirectUri for more than ``limit`` redirect URIs."""
    if len(metadata.redirect_uris) > limit:
        raise InvalidRedirectUri(
            f"at most {limit} redirect URIs per self-registered client",
            fields=[FieldError("redirect_uris", f"more than {limit}")],
        )


def check_redirect_uris_are_web(metadata: ClientMetadata) -> None:
    """Raises InvalidRedirectUri for a redirect URI that is not https (or http on a
    loopback IP literal): stricter than for admin-registered clients, a self-registered
    one has no private-use scheme."""
    problems = []
    for index, uri in enumerate(metadata.redirect_uris):
        try:
            check_web_uri(uri)
        except ValueError as exc:
            problems.append(FieldError(f"redirect_uris[{index}]", f"{uri!r} {exc}"))
    if problems:
        raise InvalidRedirectUri(
            f"{problems[0].field}: {problems[0].message} (self-registered clients)",
            fields=problems,
        )


def check_within_limits(
    metadata: ClientMetadata, policy: RegistrationPolicy, template: Template
) -> None:
    """Raises InvalidClientMetadata / InvalidRedirectUri where the metadata asks for what
    the policy does not give a self-registered client."""
    check_auth_method_allowed(metadata, policy.auth_methods)
    check_grant_types_allowed(metadata, allowed_grant_types(policy, template))
    check_redirect_uri_count(metadata, policy.max_redirect_uris)
    check_redirect_uris_are_web(metadata)


# --- scopes ---


def grantable_scopes(
    registrable: Iterable[str], policy: RegistrationPolicy, template: Template
) -> frozenset[str]:
    """Returns the scopes a registration may get: those of ``registrable`` (the registry's
    scopes that are not admin-only) within the template's bound, or else the policy's.
    Never an admin-only scope, whatever the template or the configuration says."""
    bound = template.scopes if template.scopes is not None else policy.scopes
    names = frozenset(registrable)
    return names if bound is None else names & frozenset(bound)


def granted_scope(requested: str, grantable: Collection[str], *, downscope: bool) -> str | None:
    """Returns the requested scopes that may be granted, in the request's order (None for
    none). Raises InvalidClientMetadata for scopes beyond ``grantable`` unless
    ``downscope`` drops them (RFC 7591 §3.2.1 lets the server replace requested values)."""
    wanted = list(dict.fromkeys(requested.split()))
    beyond = [s for s in wanted if s not in grantable]
    if beyond and not downscope:
        raise InvalidClientMetadata(
            f"scope(s) {', '.join(beyond)} not available to this registration",
            fields=[FieldError("scope", f"not allowed: {', '.join(beyond)}")],
        )
    return " ".join(s for s in wanted if s in grantable) or None


async def registrable_scopes(session: AsyncSession) -> list[str]:
    """Returns the registry's scopes that are not admin-only."""
    return list(await session.scalars(select(Scope.name).where(Scope.admin_only.is_(False))))


# --- the whole policy ---


async def apply_policy(
    requested: Mapping[str, Any],
    policy: RegistrationPolicy,
    template: Template,
    *,
    bounds: LifetimeBounds,
    session: AsyncSession,
) -> dict[str, Any]:
    """Returns the requested fields as they may be registered: parsed by the one
    validator, within DCR's limits, with the scope granted (down-scoped where the policy
    says so). The requested scope is left out of the parse: it is a request the server may
    narrow (an admin-only scope is dropped), and the validator sees the granted one when
    the client is created.

    Raises InvalidClientMetadata / InvalidRedirectUri.
    """
    fields = dict(requested)
    scope = fields.get("scope")
    if isinstance(scope, str):  # anything else stays, for the validator to name
        del fields["scope"]
    metadata = parse_client_metadata(fields, bounds)
    check_within_limits(metadata, policy, template)
    if isinstance(scope, str):
        grantable = grantable_scopes(await registrable_scopes(session), policy, template)
        granted = granted_scope(scope, grantable, downscope=policy.downscope)
        if granted is not None:
            fields["scope"] = granted
    return fields
