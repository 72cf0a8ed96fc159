"""add the introspection permission (clients.may_introspect_others)

A client may introspect its own tokens; another client's only once an administrator
grants it this permission (a resource server). Existing clients have it withdrawn: a
client holding the admin scope introspects any token without it (clients/policy.py).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 21:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "may_introspect_others", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.drop_column("may_introspect_others")
