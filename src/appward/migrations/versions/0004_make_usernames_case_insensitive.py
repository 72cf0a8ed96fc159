"""make usernames unique regardless of case

Usernames stay stored as given (``Alice`` keeps its capital) and are matched by
lower(username); the plain unique constraint on username is replaced by a unique index
on lower(username), which SQLite and PostgreSQL both support.

Existing accounts whose names differ only in case cannot both keep their names under
the new rule, and which one should yield is the operator's decision (each may hold
grants and consents; renaming or merging silently would lock someone out or hand one
person's grants to another). So the upgrade changes nothing and stops with a message
that names the clashing accounts; rename or delete all but one of each group, then run
``appward db upgrade`` again.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 23:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


class CaseDuplicateUsernames(RuntimeError):
    pass


def upgrade() -> None:
    clashes = op.get_bind().execute(
        sa.text(
            "SELECT lower(username), id, username FROM users WHERE lower(username) IN "
            "(SELECT lower(username) FROM users GROUP BY lower(username) HAVING count(*) > 1) "
            "ORDER BY lower(username), id"
        )
    )
    groups: dict[str, list[str]] = {}
    for folded, user_id, username in clashes:
        groups.setdefault(folded, []).append(f"{username} (id {user_id})")
    if groups:
        listed = "; ".join(", ".join(names) for names in groups.values())
        raise CaseDuplicateUsernames(
            f"usernames are now unique regardless of case, but {len(groups)} group(s) of "
            f"accounts differ only in case: {listed}. Give all but one account of each "
            "group another username (the users.username column), or delete them, then run "
            "'appward db upgrade' again. Nothing was changed."
        )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_users_username"), type_="unique")
    # Outside the batch: SQLite's table copy cannot carry an index on an expression.
    op.create_index("uq_users_lower_username", "users", [sa.text("lower(username)")], unique=True)


def downgrade() -> None:
    op.drop_index("uq_users_lower_username", table_name="users")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.create_unique_constraint(batch_op.f("uq_users_username"), ["username"])
