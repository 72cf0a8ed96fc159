"""add the account's "must change password" flag

An admin's temporary password sets it: until the account chooses a password of its own
on /account/password, every page sends it there. Existing accounts start without it.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 20:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # SQLite's batch mode copies the table, and cannot carry an index on an expression:
    # the ones on lower(username) and lower(email) are taken down first and put back after.
    op.drop_index("uq_users_lower_email", table_name="users")
    op.drop_index("uq_users_lower_username", table_name="users")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "password_change_required",
                sa.Boolean(),
                nullable=False,
                server_default=sa.false(),
            )
        )
    op.create_index("uq_users_lower_username", "users", [sa.text("lower(username)")], unique=True)
    op.create_index("uq_users_lower_email", "users", [sa.text("lower(email)")], unique=True)


def downgrade() -> None:
    op.drop_index("uq_users_lower_email", table_name="users")
    op.drop_index("uq_users_lower_username", table_name="users")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("password_change_required")
    op.create_index("uq_users_lower_username", "users", [sa.text("lower(username)")], unique=True)
    op.create_index("uq_users_lower_email", "users", [sa.text("lower(email)")], unique=True)
