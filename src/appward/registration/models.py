"""Tables of Dynamic Client Registration: initial access tokens and registration tokens."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from appward.db import Base, UTCDateTime


def new_bearer(prefix: str) -> str:
    """Returns a new bearer token of either table: 256 random bits after ``prefix``, which
    tells the two apart (and a token from a secret) at a glance."""
    return prefix + secrets.token_urlsafe(32)


class InitialAccessToken(Base):
    """A bearer token an administrator hands out to let someone register clients
    (RFC 7591 §3); only its SHA-256 is kept."""

    __tablename__ = "initial_access_tokens"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str | None] = mapped_column(String(100))
    # What clients registered with this token may get, narrowing or widening the server's
    # open-registration policy: {"grant_types": [...], "scopes": [...]}.
    template: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    max_uses: Mapped[int | None] = mapped_column(Integer)
    uses: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    def is_usable(self, now: datetime) -> bool:
        if self.revoked_at is not None:
            return False
        if self.expires_at is not None and now >= self.expires_at:
            return False
        return self.max_uses is None or self.uses < self.max_uses

    def __repr__(self) -> str:
        return f"<InitialAccessToken {self.id}>"


class RegistrationToken(Base):
    """The registration access token (RFC 7592) of one self-registered client: the
    bearer credential for reading, replacing and deleting that registration only."""

    __tablename__ = "registration_tokens"

    client_pk: Mapped[int] = mapped_column(
        ForeignKey("clients.id", ondelete="CASCADE"), primary_key=True
    )
    token_hash: Mapped[str] = mapped_column(String(64))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The initial access token's template the client registered under, kept so that an
    # RFC 7592 update stays within the same bounds after that token is revoked.
    template: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The software statement the registration was made with, returned unmodified with
    # the registration (RFC 7591 §3.2.1). A signed public document, not a credential.
    software_statement: Mapped[str | None] = mapped_column(Text)

    def __repr__(self) -> str:
        return f"<RegistrationToken client={self.client_pk}>"
