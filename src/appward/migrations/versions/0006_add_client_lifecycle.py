"""add client lifecycle: approval, verified flag, tokens_not_before, sensitive scopes

Existing clients are approved and unverified, with no tokens revoked; existing scopes are
not sensitive.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 18:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import appward.db

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("approval", sa.String(length=10), nullable=False, server_default="approved")
        )
        batch_op.add_column(sa.Column("rejection_reason", sa.String(length=500), nullable=True))
        batch_op.add_column(
            sa.Column("verified", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column("tokens_not_before", appward.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_index(batch_op.f("ix_clients_approval"), ["approval"], unique=False)
    with op.batch_alter_table("scopes", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("sensitive", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("scopes", schema=None) as batch_op:
        batch_op.drop_column("sensitive")
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_clients_approval"))
        batch_op.drop_column("tokens_not_before")
        batch_op.drop_column("verified")
        batch_op.drop_column("rejection_reason")
        batch_op.drop_column("approval")
