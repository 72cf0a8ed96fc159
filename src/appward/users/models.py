"""Tables of accounts, their consents and their server-side sessions."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    func,
)
from sqlalchemy import false as sql_false
from sqlalchemy.orm import Mapped, mapped_column

from appward.db import Base, UTCDateTime


class Role(StrEnum):
    """What an account may do beyond signing in: the console (admin) or the developer
    portal (developer). A plain end user has no role (``None``)."""

    ADMIN = "admin"
    DEVELOPER = "developer"


class User(Base):
    """An account: an end user, a developer or an admin (``role``).

    The username is kept as given but unique, and matched, regardless of case: ``Alice``
    and ``alice`` are one account (migration 0004); so is the e-mail address. The
    integer ``id`` is internal (the foreign key of grants, codes and consents) and never
    shown: everywhere the account is exposed (a token's ``sub``, introspection, the admin
    API's paths) it is ``public_id``, random and stable, which tells nobody how many
    accounts there are and cannot be guessed.
    """

    __tablename__ = "users"
    __table_args__ = (CheckConstraint("role IN ('admin', 'developer')", name="role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    username: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str | None] = mapped_column(String(20))
    email: Mapped[str | None] = mapped_column(String(254))
    email_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set by an admin's temporary password: every page sends the account to
    # /account/password until a password of its own replaces it (migration 0008).
    password_change_required: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=sql_false()
    )

    def __repr__(self) -> str:
        return f"<User {self.public_id} {self.username}>"


# Indexes on an expression, which SQLite (3.9+) and PostgreSQL both have; lookups by
# lower(username) and lower(email) use them. Several NULL e-mails never clash.
Index("uq_users_lower_username", func.lower(User.username), unique=True)
Index("uq_users_lower_email", func.lower(User.email), unique=True)


class Consent(Base):
    """What a user allowed a client to ask for, remembered so they are not asked again."""

    __tablename__ = "consents"
    __table_args__ = (UniqueConstraint("user_id", "client_pk"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    client_pk: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime)


class UserSession(Base):
    """A signed-in browser (users/sessions.py's database store). Keyed by the SHA-256 of
    the session id: the id itself, which the cookie carries, is never stored. The account
    is named by its public id, so a session can only ever belong to the account it was
    started for (an integer id can come back after a delete on SQLite)."""

    __tablename__ = "user_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    subject: Mapped[str] = mapped_column(
        ForeignKey("users.public_id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    auth_time: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    fresh_login_required: Mapped[bool] = mapped_column(Boolean, default=False)


class TotpFactor(Base):
    """A user's TOTP second factor (RFC 6238). The seed is kept encrypted with the
    key-encryption key, as the signing keys are: TOTP needs the seed itself, so a hash
    would not do. Unconfirmed until the user proves the authenticator app has it."""

    __tablename__ = "totp_factors"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    seed_encrypted: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The last time step a code was accepted for: a code is good once (RFC 6238 §5.2).
    last_used_step: Mapped[int | None] = mapped_column(BigInteger)


class RecoveryCode(Base):
    """A single-use code that stands in for the TOTP code when the device is lost; only
    its hash is kept."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OneTimeLink(Base):
    """A single-use, expiring link (users/one_time_links.py): only its token's hash."""

    __tablename__ = "one_time_links"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    purpose: Mapped[str] = mapped_column(String(32))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # Whom it is for: an account (verify, reset), or only an address (an invitation).
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    email: Mapped[str | None] = mapped_column(String(254))
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
