"""The command line (`appward`): the typer app and its command groups, one module each,
every command one service call through the unit of work (cli/run.py)."""

from __future__ import annotations

import typer

from appward.cli import admin, audit, clients, db, dcr, keys, scopes, secrets, server, users

app = typer.Typer(
    name="appward",
    help="Appward: an OAuth 2.0 authorization server built around client management.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command()(server.serve)
app.add_typer(db.app, name="db")
app.add_typer(clients.app, name="clients")
app.add_typer(secrets.app, name="secrets")
app.add_typer(scopes.app, name="scopes")
app.add_typer(admin.app, name="admin")
app.add_typer(keys.app, name="keys")
app.add_typer(users.app, name="users")
app.add_typer(dcr.app, name="dcr")
app.command()(audit.audit)


def main() -> None:
    app()
