"""Tables of the client registry."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, LargeBinary, String, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from appward.clients.names import client_name_warning
from appward.db import Base, UTCDateTime


class Client(Base):
    __tablename__ = "clients"

    pk: Mapped[int] = mapped_column("id", Integer, primary_key=True, autoincrement=True)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    client_name: Mapped[str | None] = mapped_column(String(200))
    client_name_localized: Mapped[dict[str, str] | None] = mapped_column(JSON)
    logo_uri: Mapped[str | None] = mapped_column(String(2000))
    client_uri: Mapped[str | None] = mapped_column(String(2000))
    policy_uri: Mapped[str | None] = mapped_column(String(2000))
    tos_uri: Mapped[str | None] = mapped_column(String(2000))
    contacts: Mapped[list[str]] = mapped_column(JSON, default=list)
    redirect_uris: Mapped[list[str]] = mapped_column(JSON, default=list)
    application_type: Mapped[str] = mapped_column(String(10))
    token_endpoint_auth_method: Mapped[str] = mapped_column(String(40))
    grant_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    response_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    access_token_ttl: Mapped[int] = mapped_column(Integer)
    refresh_token_ttl: Mapped[int] = mapped_column(Integer)
    refresh_token_absolute_ttl: Mapped[int] = mapped_column(Integer)
    issue_refresh_tokens: Mapped[bool] = mapped_column(Boolean)
    rotate_refresh_tokens: Mapped[bool] = mapped_column(Boolean)
    require_pkce: Mapped[bool] = mapped_column(Boolean)
    skip_consent: Mapped[bool] = mapped_column(Boolean)
    jwks: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    jwks_uri: Mapped[str | None] = mapped_column(String(2000))
    tls_client_auth_subject_dn: Mapped[str | None] = mapped_column(String(1000))
    tls_client_auth_san_dns: Mapped[str | None] = mapped_column(String(255))
    tls_client_auth_san_uri: Mapped[str | None] = mapped_column(String(2000))
    tls_client_auth_san_ip: Mapped[str | None] = mapped_column(String(45))
    tls_client_auth_san_email: Mapped[str | None] = mapped_column(String(320))
    # The one algorithm the client's assertions must use (RFC 7591 §2); None: any the
    # method allows (clients/auth_methods.py).
    token_endpoint_auth_signing_alg: Mapped[str | None] = mapped_column(String(10))
    # RFC 8705 §3: its access and refresh tokens are bound to its TLS client certificate.
    tls_client_certificate_bound_access_tokens: Mapped[bool] = mapped_column(Boolean, default=False)
    # 'compat' or 'strict' for this client's assertions' aud; None: the server's setting.
    assertion_audience: Mapped[str | None] = mapped_column(String(10))
    software_id: Mapped[str | None] = mapped_column(String(200))
    software_version: Mapped[str | None] = mapped_column(String(200))
    registration_source: Mapped[str] = mapped_column(String(10), index=True)
    owner: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(10), index=True)
    # approved, pending or rejected (clients/approval.py); only an approved client gets tokens.
    approval: Mapped[str] = mapped_column(String(10), index=True, default="approved")
    rejection_reason: Mapped[str | None] = mapped_column(String(500))
    # An administrator vouched for the application (consent shows no "unverified" notice).
    verified: Mapped[bool] = mapped_column(Boolean, default=False)
    # An administrator let the client introspect other clients' tokens (a resource
    # server, RFC 7662 §2.1); without it, only its own (clients/policy.may_introspect).
    may_introspect_others: Mapped[bool] = mapped_column(Boolean, default=False)
    # Every token issued to the client at or before this instant is dead (revoke-all,
    # disable): compared with a token's iat, so re-enabling never revives old tokens.
    tokens_not_before: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # A deleted client keeps its row so its client_id is never handed out again.
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revision: Mapped[int] = mapped_column(Integer)

    scope_links: Mapped[list[ClientScope]] = relationship(
        back_populates="client",
        cascade="all, delete-orphan",
        lazy="selectin",
        order_by="ClientScope.scope_name",
    )
    secrets: Mapped[list[ClientSecret]] = relationship(
        back_populates="client",
        lazy="raise",
        order_by="ClientSecret.created_at",
    )

    __mapper_args__ = {"version_id_col": revision}

    @property
    def scopes(self) -> list[str]:
        return [link.scope_name for link in self.scope_links]

    @property
    def name_warning(self) -> str | None:
        """The warning to show beside the client when one of its names is deceptive
        (names.client_name_warning), or None."""
        return client_name_warning(self.client_name, self.client_name_localized)

    def display_name(self, languages: list[str]) -> str:
        """Returns the name to show a reader of ``languages`` (most preferred first):
        the first localized name matching a language exactly or by its primary subtag,
        else the default name, else the client_id."""
        localized = {tag.lower(): name for tag, name in (self.client_name_localized or {}).items()}
        for language in languages:
            wanted = language.lower()
            if wanted in localized:
                return localized[wanted]
            primary = wanted.split("-")[0]
            for tag, name in localized.items():
                if tag.split("-")[0] == primary:
                    return name
        return self.client_name or self.client_id

    def __repr__(self) -> str:
        return f"<Client {self.client_id} {self.status}>"


# The client list's substring searches (ClientService.search: lower(column) LIKE '%x%'),
# served by trigram GIN indexes on PostgreSQL (migration 0012, which also says why SQLite
# has none: alembic leaves expression indexes out of SQLite's comparison). `alembic check`
# compares their names and expressions, not the method or operator class declared here;
# test_migrations checks those on PostgreSQL.
for _column in (Client.client_name, Client.client_id):
    _lowered = f"lower_{_column.key}"
    Index(
        f"ix_clients_{_column.key}_trgm",
        func.lower(_column).label(_lowered),
        postgresql_using="gin",
        postgresql_ops={_lowered: "gin_trgm_ops"},
    )


class ClientScope(Base):
    """Which registered scopes a client may ask for; the foreign key keeps a scope in use
    from being deleted."""

    __tablename__ = "client_scopes"

    client_pk: Mapped[int] = mapped_column(
        ForeignKey("clients.id", ondelete="CASCADE"), primary_key=True
    )
    scope_name: Mapped[str] = mapped_column(
        ForeignKey("scopes.name", ondelete="RESTRICT"), primary_key=True, index=True
    )

    client: Mapped[Client] = relationship(back_populates="scope_links")


class ClientSecret(Base):
    """One credential of a client: only its argon2id hash is kept, except for a client
    whose method needs the secret itself as an HMAC key (client_secret_jwt), whose
    secrets are kept encrypted with the key-encryption key instead (never both)."""

    __tablename__ = "client_secrets"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    client_pk: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"), index=True)
    label: Mapped[str | None] = mapped_column(String(100))
    secret_hash: Mapped[str | None] = mapped_column(String(255))
    secret_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    client: Mapped[Client] = relationship(back_populates="secrets", lazy="raise")

    def is_usable(self, now: datetime) -> bool:
        """Returns whether the secret may authenticate at ``now``: not revoked, not expired."""
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or now < self.expires_at

    def __repr__(self) -> str:
        # Never the hash nor the ciphertext: what an offline guesser needs.
        return f"<ClientSecret {self.id}>"
