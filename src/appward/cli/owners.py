"""A client's co-owners on the developer portal: `appward clients owners ...`
(clients/ownership.py; accounts by username, in any case)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from appward.cli.arguments import JsonFlag
from appward.cli.output import print_json, print_table
from appward.cli.run import run
from appward.clients.ownership import parse_owner_role
from appward.presenters import present_co_owner
from appward.services import Services

app = typer.Typer(
    help="A client's owners and viewers on the developer portal.", no_args_is_help=True
)

ClientId = Annotated[str, typer.Argument(help="The client's client_id.")]
Username = Annotated[str, typer.Argument(help="The developer's username (any case).")]


@app.command("list")
def owners_list(client_id: ClientId, as_json: JsonFlag = False) -> None:
    """List the client's owners and viewers."""

    async def work(services: Services) -> list[dict[str, Any]]:
        client = await services.clients.get(client_id)
        return [present_co_owner(o) for o in await services.ownership.owners(client)]

    items = run(work)
    if as_json:
        print_json({"items": items})
        return
    print_table(
        ["id", "username", "email", "role", "added_at"],
        [[o["id"], o["username"], o["email"], o["role"], o["added_at"]] for o in items],
    )


@app.command("set")
def owners_set(
    client_id: ClientId,
    username: Username,
    role: Annotated[str, typer.Option("--role", help="owner or viewer.")] = "owner",
    as_json: JsonFlag = False,
) -> None:
    """Make a verified developer an owner or viewer of the client (or change their role)."""

    async def work(services: Services) -> dict[str, Any]:
        given = parse_owner_role(role)
        client = await services.clients.get(client_id)
        user = await services.users.by_username(username)
        return present_co_owner(await services.ownership.set_role(client, user, given))

    owner = run(work)
    if as_json:
        print_json(owner)
    else:
        typer.echo(f"{owner['username']} is now {owner['role']} of {client_id}")


@app.command("remove")
def owners_remove(client_id: ClientId, username: Username) -> None:
    """Take a developer off the client (never its last owner)."""

    async def work(services: Services) -> None:
        client = await services.clients.get(client_id)
        await services.ownership.remove(client, await services.users.by_username(username))

    run(work)
    typer.echo(f"{username} removed from {client_id}")
