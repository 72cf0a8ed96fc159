"""The database: `appward db upgrade`, `appward db status`, `appward db backup`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from appward.backup import back_up_sqlite
from appward.cli.run import complete, fail, reached, settings
from appward.errors import InvalidInput
from appward.readiness import expected_revisions, is_ahead, listed, schema_revisions

app = typer.Typer(help="Database schema and backups.", no_args_is_help=True)


@app.command("upgrade")
def db_upgrade() -> None:
    """Apply all migrations to the configured database."""
    from appward.migrations import upgrade

    config = settings()

    async def reach() -> None:
        async with reached(config, migrated=False):
            pass

    complete(reach())
    upgrade(config.database_url, config.database_schema)
    typer.echo("database is up to date")


@app.command("status")
def db_status() -> None:
    """Say whether the database is at the revision this version expects (exit 1 when it
    is behind, or has no schema): before an upgrade, whether it has migrations to run;
    after it, that they ran."""
    config = settings()

    async def revisions() -> frozenset[str]:
        async with reached(config, migrated=False) as resources:
            return await schema_revisions(resources.engine)

    current, expected = complete(revisions()), expected_revisions()
    if current == expected:
        typer.echo(f"database is at {listed(current)}, as this version expects")
        return
    if is_ahead(current):
        # A newer release migrated it: this one serves on until it is replaced.
        typer.echo(
            f"database is at {listed(current)}, newer than this version's {listed(expected)} "
            "(a newer release's migration): this version keeps serving on it"
        )
        return
    typer.echo(
        f"database is at {listed(current)}, this version expects {listed(expected)}: "
        "run `appward db upgrade`"
    )
    raise typer.Exit(1)


@app.command("backup")
def db_backup(
    target: Annotated[Path, typer.Argument(help="A new file to write the copy to.")],
) -> None:
    """Copy the embedded SQLite database to a new file, consistently, while it serves.
    PostgreSQL is backed up with pg_dump (docs/deployment.md)."""
    config = settings()
    try:
        done = back_up_sqlite(config.database_url, target)
    except InvalidInput as exc:
        fail(exc.description)
    typer.echo(
        f"backed up to {done.path} ({done.size} bytes, at {listed(frozenset(done.revisions))}); "
        "keep the key-encryption key apart from it"
    )
