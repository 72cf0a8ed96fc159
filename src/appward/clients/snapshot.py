"""The one shape of a client that per-request rules read: frozen when it authenticated.

The credential cache keeps it between requests and every function of the policy module
takes it, so a new client field (keys, certificate bindings) is added here once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from appward.clients.auth_methods import is_public_method
from appward.clients.models import Client


@dataclass(frozen=True, slots=True)
class ClientSnapshot:
    """What the policy module needs of a client, copied from its record."""

    pk: int
    client_id: str
    status: str
    token_endpoint_auth_method: str
    grant_types: tuple[str, ...]
    scopes: tuple[str, ...]
    redirect_uris: tuple[str, ...]
    access_token_ttl: int
    refresh_token_ttl: int
    refresh_token_absolute_ttl: int
    issue_refresh_tokens: bool
    rotate_refresh_tokens: bool
    require_pkce: bool
    deleted_at: datetime | None = None
    approval: str = "approved"
    tokens_not_before: datetime | None = None
    may_introspect_others: bool = False
    # RFC 8705 §3: tokens carry cnf x5t#S256 of the client's certificate.
    certificate_bound_tokens: bool = False
    # What proves the client's identity besides a secret (auth/ reads these, so an
    # assertion or a certificate needs no database read once the snapshot is cached).
    token_endpoint_auth_signing_alg: str | None = None
    assertion_audience: str | None = None
    jwks: dict[str, Any] | None = None
    jwks_uri: str | None = None
    tls_client_auth_subject_dn: str | None = None
    tls_client_auth_san_dns: str | None = None
    tls_client_auth_san_uri: str | None = None
    tls_client_auth_san_ip: str | None = None
    tls_client_auth_san_email: str | None = None

    @property
    def is_public(self) -> bool:
        return is_public_method(self.token_endpoint_auth_method)

    @classmethod
    def of(cls, client: Client) -> ClientSnapshot:
        return cls(
            pk=client.pk,
            client_id=client.client_id,
            status=client.status,
            token_endpoint_auth_method=client.token_endpoint_auth_method,
            grant_types=tuple(client.grant_types),
            scopes=tuple(client.scopes),
            redirect_uris=tuple(client.redirect_uris),
            access_token_ttl=client.access_token_ttl,
            refresh_token_ttl=client.refresh_token_ttl,
            refresh_token_absolute_ttl=client.refresh_token_absolute_ttl,
            issue_refresh_tokens=client.issue_refresh_tokens,
            rotate_refresh_tokens=client.rotate_refresh_tokens,
            require_pkce=client.require_pkce,
            deleted_at=client.deleted_at,
            approval=client.approval,
            tokens_not_before=client.tokens_not_before,
            may_introspect_others=client.may_introspect_others,
            certificate_bound_tokens=client.tls_client_certificate_bound_access_tokens,
            token_endpoint_auth_signing_alg=client.token_endpoint_auth_signing_alg,
            assertion_audience=client.assertion_audience,
            jwks=client.jwks,
            jwks_uri=client.jwks_uri,
            tls_client_auth_subject_dn=client.tls_client_auth_subject_dn,
            tls_client_auth_san_dns=client.tls_client_auth_san_dns,
            tls_client_auth_san_uri=client.tls_client_auth_san_uri,
            tls_client_auth_san_ip=client.tls_client_auth_san_ip,
            tls_client_auth_san_email=client.tls_client_auth_san_email,
        )
