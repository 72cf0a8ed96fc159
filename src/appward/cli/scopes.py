"""The scope registry: `appward scopes ...`."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from appward.cli.arguments import JsonFlag
from appward.cli.output import print_json, print_table
from appward.cli.run import run
from appward.presenters import present_scope
from appward.services import Services

app = typer.Typer(help="The scope registry.", no_args_is_help=True)


@app.command("create")
def scopes_create(
    name: str,
    description: str,
    admin_only: Annotated[bool, typer.Option(help="Never granted to self-registered clients.")] = (
        False
    ),
    sensitive: Annotated[
        bool, typer.Option(help="A portal client asking for it waits for approval.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Add a scope to the registry."""

    async def work(services: Services) -> dict[str, Any]:
        scope = await services.scopes.create(
            name, description, admin_only=admin_only, sensitive=sensitive
        )
        return present_scope(scope)

    scope = run(work)
    print_json(scope) if as_json else typer.echo(f"scope {name} created")


@app.command("list")
def scopes_list(as_json: JsonFlag = False) -> None:
    """List the scope registry."""

    async def work(services: Services) -> list[dict[str, Any]]:
        return [present_scope(s) for s in await services.scopes.all()]

    items = run(work)
    if as_json:
        print_json({"items": items})
        return
    print_table(
        ["name", "admin_only", "sensitive", "description"],
        [[s["name"], s["admin_only"], s["sensitive"], s["description"]] for s in items],
    )


@app.command("update")
def scopes_update(
    name: str,
    description: Annotated[str | None, typer.Option(help="New description.")] = None,
    admin_only: Annotated[bool | None, typer.Option("--admin-only/--not-admin-only")] = None,
    sensitive: Annotated[bool | None, typer.Option("--sensitive/--not-sensitive")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Change a scope's description, admin-only or sensitive flag."""

    async def work(services: Services) -> dict[str, Any]:
        scope = await services.scopes.update(
            name, description=description, admin_only=admin_only, sensitive=sensitive
        )
        return present_scope(scope)

    scope = run(work)
    print_json(scope) if as_json else typer.echo(f"scope {name} updated")


@app.command("delete")
def scopes_delete(name: str) -> None:
    """Delete a scope no client uses."""

    async def work(services: Services) -> None:
        await services.scopes.delete(name)

    run(work)
    typer.echo(f"scope {name} deleted")
