"""add account roles, e-mail, public ids and server-side sessions

Accounts gain a role (admin, developer, or none), an optional e-mail address (unique
regardless of case) with the time it was verified, and a public id: the random, stable
identifier their tokens carry as ``sub`` instead of the sequential integer id. Every
existing account gets one here; its grants, consents and refresh tokens stay as they
are (they refer to the integer id, which stays the internal key), so refreshing after
the upgrade yields tokens with the new sub.

Login sessions move to the server (``user_sessions``, keyed by the hash of the id the
cookie holds); the signed cookies of before are no longer read, so users sign in once
more after the upgrade.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 17:30:00.000000
"""

import secrets
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import appward.db

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # SQLite's batch mode copies the table, and cannot carry an index on an expression:
    # the one on lower(username) is taken down first and put back after.
    op.drop_index("uq_users_lower_username", table_name="users")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("public_id", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("role", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("email", sa.String(length=254), nullable=True))
        batch_op.add_column(
            sa.Column("email_verified_at", appward.db.UTCDateTime(timezone=True), nullable=True)
        )
    bind = op.get_bind()
    users = sa.table("users", sa.column("id", sa.Integer), sa.column("public_id", sa.String))
    for (user_id,) in bind.execute(sa.select(users.c.id)).all():
        bind.execute(
            users.update().where(users.c.id == user_id).values(public_id=secrets.token_urlsafe(16))
        )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.alter_column("public_id", existing_type=sa.String(length=32), nullable=False)
        batch_op.create_unique_constraint(batch_op.f("uq_users_public_id"), ["public_id"])
        batch_op.create_check_constraint("role", "role IN ('admin', 'developer')")
    op.create_index("uq_users_lower_username", "users", [sa.text("lower(username)")], unique=True)
    op.create_index("uq_users_lower_email", "users", [sa.text("lower(email)")], unique=True)

    op.create_table(
        "user_sessions",
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=32), nullable=False),
        sa.Column("created_at", appward.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", appward.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("auth_time", appward.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", appward.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("fresh_login_required", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["subject"],
            ["users.public_id"],
            name=op.f("fk_user_sessions_subject_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id_hash", name=op.f("pk_user_sessions")),
    )
    with op.batch_alter_table("user_sessions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_user_sessions_expires_at"), ["expires_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_user_sessions_subject"), ["subject"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("user_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_user_sessions_subject"))
        batch_op.drop_index(batch_op.f("ix_user_sessions_expires_at"))
    op.drop_table("user_sessions")
    op.drop_index("uq_users_lower_email", table_name="users")
    op.drop_index("uq_users_lower_username", table_name="users")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_users_role"), type_="check")
        batch_op.drop_constraint(batch_op.f("uq_users_public_id"), type_="unique")
        batch_op.drop_column("email_verified_at")
        batch_op.drop_column("email")
        batch_op.drop_column("role")
        batch_op.drop_column("public_id")
    op.create_index("uq_users_lower_username", "users", [sa.text("lower(username)")], unique=True)
