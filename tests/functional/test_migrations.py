"""Migrations: the models and the migration history never drift apart, on both databases."""

from __future__ import annotations

import asyncio

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from appward.db import create_engine
from appward.migrations import alembic_config


async def execute(database, *statements: str) -> list[tuple[object, ...]]:
    """Runs ``statements`` in one transaction; returns the last one's rows."""
    engine = create_engine(database.url, schema=database.schema)
    try:
        async with engine.begin() as conn:
            rows: list[tuple[object, ...]] = []
            for statement in statements:
                result = await conn.execute(text(statement))
                rows = [tuple(row) for row in result] if result.returns_rows else []
            return rows
    finally:
        await engine.dispose()


def test_models_match_migrations(database):
    """`alembic check` fails when a model changed without a migration (warehouse db check)."""
    command.check(alembic_config(database.url, database.schema))


def test_downgrade_and_upgrade_again(database):
    config = alembic_config(database.url, database.schema)
    command.downgrade(config, "base")
    command.upgrade(config, "head")
    command.check(config)

    async def builtin_scopes() -> list[str]:
        engine = create_engine(database.url, schema=database.schema)
        try:
            async with engine.connect() as conn:
                rows = await conn.execute(text("SELECT name FROM scopes"))
                return [r[0] for r in rows]
        finally:
            await engine.dispose()

    assert asyncio.run(builtin_scopes()) == ["appward:admin"]


@pytest.mark.parametrize("kind", ["sqlite"])
def test_embedded_database_uses_wal_and_foreign_keys(tmp_path, kind):
    url = f"sqlite+aiosqlite:///{tmp_path}/x.db"

    async def pragmas() -> tuple[str, int]:
        engine = create_engine(url)
        try:
            async with engine.connect() as conn:
                mode = (await conn.execute(text("PRAGMA journal_mode"))).scalar_one()
                fks = (await conn.execute(text("PRAGMA foreign_keys"))).scalar_one()
                return mode, fks
        finally:
            await engine.dispose()

    assert asyncio.run(pragmas()) == ("wal", 1)


def test_usernames_differing_only_in_case_stop_the_upgrade_until_resolved(database):
    """0004 makes usernames unique regardless of case: accounts that already clash are
    named, nothing is changed, and the upgrade goes through once they are resolved."""
    config = alembic_config(database.url, database.schema)
    command.downgrade(config, "0003")

    values = ", ".join(
        f"({i}, '{name}', 'x', '2026-06-01 12:00:00+00:00')"
        for i, name in enumerate(("Alice", "alice", "bob", "ALICE", "Dan", "dan"), start=1)
    )
    asyncio.run(
        execute(
            database, f"INSERT INTO users (id, username, password_hash, created_at) VALUES {values}"
        )
    )
    with pytest.raises(RuntimeError) as stopped:
        command.upgrade(config, "head")
    message = str(stopped.value)
    assert "2 group(s)" in message
    assert "Alice (id 1), alice (id 2), ALICE (id 4); Dan (id 5), dan (id 6)" in message
    assert "Nothing was changed" in message
    assert asyncio.run(execute(database, "SELECT version_num FROM alembic_version")) == [("0003",)]

    asyncio.run(
        execute(
            database,
            "DELETE FROM users WHERE id IN (2, 4)",
            "UPDATE users SET username = 'dan2' WHERE id = 6",
        )
    )
    command.upgrade(config, "head")
    command.check(config)
    names = asyncio.run(execute(database, "SELECT username FROM users ORDER BY id"))
    assert names == [("Alice",), ("bob",), ("Dan",), ("dan2",)]


def test_existing_accounts_get_a_random_public_id_and_keep_their_grants(database):
    """0007 gives every account a public id (the new sub); the integer id stays the key
    its grants and refresh tokens refer to, so they keep working."""
    config = alembic_config(database.url, database.schema)
    command.downgrade(config, "0004")

    created = "'2026-06-01 12:00:00+00:00'"
    asyncio.run(
        execute(
            database,
            "INSERT INTO users (id, username, password_hash, created_at) VALUES "
            f"(1, 'ann', 'x', {created}), (2, 'ben', 'x', {created}), (3, 'cy', 'x', {created})",
        )
    )
    command.upgrade(config, "head")
    command.check(config)
    rows = asyncio.run(
        execute(database, "SELECT id, public_id, role, email FROM users ORDER BY id")
    )
    assert [r[0] for r in rows] == [1, 2, 3]
    public_ids = [str(r[1]) for r in rows]
    assert len(set(public_ids)) == 3
    assert all(len(p) == 22 and not p.isdigit() for p in public_ids)
    assert all(r[2] is None and r[3] is None for r in rows)
    with pytest.raises(IntegrityError):
        asyncio.run(
            execute(
                database,
                "INSERT INTO users (id, public_id, username, password_hash, created_at) "
                f"VALUES (4, '{public_ids[0]}', 'dee', 'x', {created})",
            )
        )


# What a migration's upgrade() may not do, so that the release before it keeps working on
# the upgraded schema during a rolling upgrade (docs/deployment.md, Upgrades): drop or
# rename what that release reads, change a column's type, make a column NOT NULL, or add a
# NOT NULL column without a default (that release's INSERTs do not name it).
_CONTRACTING = {"drop_table", "drop_column", "rename_table"}
# Made before the rule was written down (0007 also signed every user out).
_PINNED = {("0007_add_account_roles_and_sessions.py", "alter_column", "public_id")}


def _contractions(path):
    import ast

    tree = ast.parse(path.read_text())
    upgrade_function = next(
        node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "upgrade"
    )
    for call in ast.walk(upgrade_function):
        if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Attribute):
            continue
        name = call.func.attr
        keywords = {k.arg: k.value for k in call.keywords}
        first = call.args[0].value if call.args and isinstance(call.args[0], ast.Constant) else None
        if name in _CONTRACTING or (
            name == "alter_column"
            and (
                "new_column_name" in keywords
                or "type_" in keywords
                or _is_false(keywords.get("nullable"))
            )
        ):
            yield name, first
        elif name == "add_column" and call.args and isinstance(call.args[0], ast.Call):
            column = {k.arg: k.value for k in call.args[0].keywords}
            if _is_false(column.get("nullable")) and "server_default" not in column:
                named = call.args[0].args[0]
                yield name, named.value if isinstance(named, ast.Constant) else None


def _is_false(node) -> bool:
    import ast

    return isinstance(node, ast.Constant) and node.value is False


def test_every_migration_keeps_the_release_before_it_working():
    from pathlib import Path

    import appward.migrations

    versions = Path(appward.migrations.__file__).parent / "versions"
    found = {
        (path.name, name, target)
        for path in sorted(versions.glob("[0-9]*.py"))
        for name, target in _contractions(path)
    }
    assert found == _PINNED


def test_the_rule_catches_each_contraction(tmp_path):
    source = tmp_path / "9999_contracting.py"
    source.write_text(
        "def upgrade():\n"
        "    op.drop_table('a')\n"
        "    with op.batch_alter_table('b') as batch_op:\n"
        "        batch_op.drop_column('c')\n"
        "        batch_op.alter_column('d', new_column_name='e')\n"
        "        batch_op.alter_column('f', nullable=False)\n"
        "        batch_op.add_column(sa.Column('g', sa.Integer(), nullable=False))\n"
        "        batch_op.add_column(\n"
        "            sa.Column('h', sa.Integer(), nullable=False, server_default='0')\n"
        "        )\n"
        "        batch_op.alter_column('i', nullable=True)\n"
        "def downgrade():\n"
        "    op.drop_table('z')\n"
    )
    assert sorted(_contractions(source)) == [
        ("add_column", "g"),
        ("alter_column", "d"),
        ("alter_column", "f"),
        ("drop_column", "c"),
        ("drop_table", "a"),
    ]


def test_client_searches_are_served_by_trigram_indexes_on_postgresql(database):
    """0012: the list's substring searches (lower(column) LIKE '%x%') have GIN trigram
    indexes on PostgreSQL, which `alembic check` cannot tell from B-trees (it compares an
    index's name and expression only); the exact statement ClientService.search runs can
    use them (sequential and plain index scans off: the planner reads an empty table whole,
    or along its primary key, by choice)."""
    if database.kind != "postgresql":
        pytest.skip("SQLite has no trigram index (0012 is a no-op there)")

    async def query() -> tuple[dict[str, str], str]:
        engine = create_engine(database.url, schema=database.schema)
        try:
            async with engine.begin() as conn:
                rows = await conn.execute(
                    text(
                        "SELECT indexname, indexdef FROM pg_indexes "
                        "WHERE tablename = 'clients' AND indexname LIKE '%trgm'"
                        " AND schemaname = current_schema()"
                    )
                )
                indexes = {str(name): str(definition) for name, definition in rows}
                await conn.execute(text("SET LOCAL enable_seqscan = off"))
                await conn.execute(text("SET LOCAL enable_indexscan = off"))  # the pk's
                plan = await conn.execute(
                    text(
                        "EXPLAIN SELECT id FROM clients WHERE deleted_at IS NULL AND "
                        "(lower(client_name) LIKE :p ESCAPE '\\' "
                        "OR lower(client_id) LIKE :p ESCAPE '\\') ORDER BY id LIMIT 51"
                    ),
                    {"p": "%widget 42%"},
                )
                return indexes, "\n".join(row[0] for row in plan)
        finally:
            await engine.dispose()

    indexes, plan = asyncio.run(query())
    assert set(indexes) == {"ix_clients_client_name_trgm", "ix_clients_client_id_trgm"}
    for name, column in (("client_name", "client_name"), ("client_id", "client_id")):
        definition = indexes[f"ix_clients_{name}_trgm"]
        assert "USING gin" in definition
        assert f"lower(({column})::text)" in definition
        assert "gin_trgm_ops" in definition
    assert "Bitmap Index Scan on ix_clients_client_name_trgm" in plan
    assert "Bitmap Index Scan on ix_clients_client_id_trgm" in plan


def test_an_invalid_search_index_left_by_a_failed_build_stops_the_upgrade_until_dropped(
    database,
):
    """0012 after a failed CREATE INDEX CONCURRENTLY (docs/deployment.md): the INVALID
    index left under its name is not skipped by IF NOT EXISTS, nor dropped under a lock
    that would stop reads for the whole rebuild: the upgrade stops, naming it; once the
    operator has dropped it, the upgrade builds it. The leftover is made here by marking
    an index invalid (the test role is a superuser)."""
    if database.kind != "postgresql":
        pytest.skip("SQLite has no trigram index (0012 is a no-op there)")
    config = alembic_config(database.url, database.schema)
    command.downgrade(config, "0011")

    asyncio.run(
        execute(
            database,
            "CREATE INDEX ix_clients_client_name_trgm ON clients (client_name)",
            "UPDATE pg_index SET indisvalid = false "
            "WHERE indexrelid = 'ix_clients_client_name_trgm'::regclass",
        )
    )
    with pytest.raises(RuntimeError, match="ix_clients_client_name_trgm on clients is INVALID"):
        command.upgrade(config, "head")
    asyncio.run(execute(database, "DROP INDEX ix_clients_client_name_trgm"))
    command.upgrade(config, "head")
    rows = asyncio.run(
        execute(
            database,
            "SELECT i.indisvalid, pg_get_indexdef(i.indexrelid) FROM pg_index i "
            "WHERE i.indexrelid = 'ix_clients_client_name_trgm'::regclass",
        )
    )
    assert len(rows) == 1
    valid, definition = rows[0]
    assert valid is True
    assert "USING gin" in str(definition)
    assert "gin_trgm_ops" in str(definition)
