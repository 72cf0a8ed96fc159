"""index the client list's substring searches (PostgreSQL: pg_trgm)

ClientService.search matches ``name`` with lower(client_name) LIKE '%x%' and ``q`` (the
console's search box, the admin API's q) with that or lower(client_id) LIKE '%x%'. No
B-tree serves a pattern with a leading wildcard, so at a million clients such a page read
the whole table (about a second). A trigram GIN index on each expression serves both (q
as a BitmapOr of the two). PostgreSQL only: SQLite has no trigram index, and the embedded
database is for small registries; this migration changes nothing there.

pg_trgm is a trusted extension (PostgreSQL 13+: a database owner may create it). If the
database has none yet it is created in schema public, where every schema of the database
finds it; if it exists anywhere, that copy is used (its operator class named with its
schema, so the application's search_path need not include it).

Building the indexes holds the clients table's SHARE lock: reads go on, writes to clients
wait until it is done (about a minute per million clients on a small machine, see
docs/performance.md). On a large registry create them beforehand without blocking, with
CREATE INDEX CONCURRENTLY IF NOT EXISTS under the same names (docs/deployment.md); this
migration then finds them and skips; one left INVALID by a failed build stops it with
what to do (dropping it here would lock clients against reads for the whole rebuild). The previous release keeps working: it only gains
two indexes it does not know of.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04 19:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (index, column): both searched as lower(column) LIKE '%x%'.
INDEXES = (
    ("ix_clients_client_name_trgm", "client_name"),
    ("ix_clients_client_id_trgm", "client_id"),
)
# Any constant: two migrations of one database (two schemas upgraded at once) must not
# both create the extension; IF NOT EXISTS alone races.
EXTENSION_LOCK = 7_432_012


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    op.execute(sa.text(f"SELECT pg_advisory_xact_lock({EXTENSION_LOCK})"))
    schema = _extension_schema()
    if schema is None:
        op.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public"))
        schema = "public"
    opclass = '"{}".gin_trgm_ops'.format(schema.replace('"', '""'))
    for name, column in INDEXES:
        if _is_invalid(name):
            # A CREATE INDEX CONCURRENTLY that failed leaves its index behind, INVALID:
            # never used by a query, yet enough for IF NOT EXISTS to skip the name. Not
            # dropped here: DROP INDEX locks clients against reads until the rebuild
            # commits, on exactly the large registries that build ahead.
            raise RuntimeError(
                f"index {name} on clients is INVALID (a CREATE INDEX CONCURRENTLY that "
                f"failed): drop it with DROP INDEX CONCURRENTLY {name}, then build it "
                "again or run the upgrade again (docs/deployment.md, migration 0012)"
            )
        # pg_catalog.lower, named: a lower() of the search_path's must not be what the
        # index (and so every search) runs.
        op.execute(
            sa.text(
                f"CREATE INDEX IF NOT EXISTS {name} ON clients "
                f"USING gin (pg_catalog.lower({column}) {opclass})"
            )
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, _ in INDEXES:
        op.execute(sa.text(f"DROP INDEX IF EXISTS {name}"))
    # pg_trgm stays: other schemas of the database may use it.


def _is_invalid(index: str) -> bool:
    """Whether ``index`` exists on the clients table this migration indexes (found as
    CREATE INDEX ... ON clients finds it, through the search path) but is not valid."""
    found = op.get_bind().execute(
        sa.text(
            "SELECT NOT i.indisvalid FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE i.indrelid = 'clients'::regclass AND c.relname = :name"
        ),
        {"name": index},
    )
    return bool(found.scalar())


def _extension_schema() -> str | None:
    found = op.get_bind().execute(
        sa.text(
            "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
            "WHERE e.extname = 'pg_trgm'"
        )
    )
    return found.scalar()
