"""add dynamic client registration

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 00:48:43.433947
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import appward.db

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "initial_access_tokens",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=True),
        sa.Column("template", sa.JSON(), nullable=False),
        sa.Column("max_uses", sa.Integer(), nullable=True),
        sa.Column("uses", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", appward.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", appward.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", appward.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_initial_access_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_initial_access_tokens_token_hash")),
    )
    op.create_table(
        "registration_tokens",
        sa.Column("client_pk", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("issued_at", appward.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("template", sa.JSON(), nullable=False),
        sa.Column("software_statement", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["client_pk"],
            ["clients.id"],
            name=op.f("fk_registration_tokens_client_pk_clients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("client_pk", name=op.f("pk_registration_tokens")),
    )

    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.add_column(sa.Column("client_name_localized", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.drop_column("client_name_localized")
    op.drop_table("registration_tokens")
    op.drop_table("initial_access_tokens")
