"""Tables behind client authentication beyond secrets: assertion ids already used, and
when each registered key last proved a client's identity."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from appward.db import Base, UTCDateTime


class UsedJti(Base):
    """A client assertion's jti, kept until the assertion would have expired, so it is
    accepted once (RFC 7523 §3 item 7). The embedded default's replay store; with Redis
    configured, Redis holds them instead."""

    __tablename__ = "used_jtis"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    # SHA-256 of the jti: a fixed width whatever length the client chose.
    jti_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class ClientKeyUse(Base):
    """When a key of a client's JWK Set last authenticated it (the Keys tab shows it)."""

    __tablename__ = "client_key_uses"

    client_pk: Mapped[int] = mapped_column(
        ForeignKey("clients.id", ondelete="CASCADE"), primary_key=True
    )
    kid: Mapped[str] = mapped_column(String(200), primary_key=True)
    last_used_at: Mapped[datetime] = mapped_column(UTCDateTime)
