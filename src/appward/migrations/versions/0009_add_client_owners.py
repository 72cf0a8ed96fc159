"""add client owners (the developer portal's co-owners)

A client registered on the developer portal has owners and viewers
(clients/ownership.py): one row per account and client, with its role. Clients made
before have none; an administrator may add some through the admin API or the CLI.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 20:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import appward.db

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "client_owners",
        sa.Column("client_pk", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=10), nullable=False),
        sa.Column("added_at", appward.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("added_by", sa.String(length=200), nullable=False),
        sa.CheckConstraint("role IN ('owner', 'viewer')", name=op.f("ck_client_owners_role")),
        sa.ForeignKeyConstraint(
            ["client_pk"],
            ["clients.id"],
            name=op.f("fk_client_owners_client_pk_clients"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_client_owners_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("client_pk", "user_id", name=op.f("pk_client_owners")),
    )
    with op.batch_alter_table("client_owners", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_client_owners_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("client_owners", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_client_owners_user_id"))
    op.drop_table("client_owners")
