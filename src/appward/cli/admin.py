"""Bootstrap administration: `appward admin create-client`."""

from __future__ import annotations

from typing import Annotated

import typer

from appward.cli.arguments import JsonFlag
from appward.cli.output import SHOWN_ONCE, print_json
from appward.cli.run import run
from appward.clients.service import IssuedSecret
from appward.errors import InvalidInput
from appward.services import Services

app = typer.Typer(help="Bootstrap administration.", no_args_is_help=True)


@app.command("create-client")
def admin_create_client(
    name: str,
    if_none: Annotated[
        bool, typer.Option("--if-none", help="Do nothing if an active admin client exists.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Create a client holding appward:admin and print its id and secret once."""

    async def work(services: Services) -> tuple[str, IssuedSecret] | None:
        if if_none and await services.clients.has_active_admin_client():
            return None
        change = await services.clients.create_admin_client(name)
        if change.secret is None:  # a secret-based method always issues one
            raise InvalidInput("no secret issued")  # rolls the client back
        return change.client.client_id, change.secret

    created = run(work)
    if created is None:
        typer.echo("an admin client exists already; not creating another")
        return
    client_id, secret = created
    if as_json:
        print_json({"client_id": client_id, "client_secret": secret.plaintext})
        return
    typer.echo(f"admin client created: {name}")
    typer.echo(f"  client_id:     {client_id}")
    typer.echo(f"  client_secret: {secret.plaintext}")
    typer.echo(SHOWN_ONCE)
