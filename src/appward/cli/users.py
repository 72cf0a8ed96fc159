"""End-user accounts: `appward users ...`."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from appward.cli.arguments import JsonFlag
from appward.cli.output import print_json, print_table
from appward.cli.run import fail, run
from appward.presenters import present_user
from appward.services import Services

app = typer.Typer(help="End-user accounts.", no_args_is_help=True)


@app.command("create")
def users_create(
    username: str,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Create a local user account (the password is asked for, or read from stdin)."""
    password = sys.stdin.readline().rstrip("\n") if password_stdin else _prompt_password()

    async def work(services: Services) -> dict[str, Any]:
        return present_user(await services.users.create(username, password))

    user = run(work)
    if as_json:
        print_json(user)
    else:
        typer.echo(f"user {user['username']} created (id {user['id']})")


def _prompt_password() -> str:
    try:
        password: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    except typer.Abort:  # end of input: no terminal to ask at
        fail("no password given: type it at the prompt, or pipe it with --password-stdin")
    return password


@app.command("list")
def users_list(as_json: JsonFlag = False) -> None:
    """List local user accounts."""

    async def work(services: Services) -> list[dict[str, Any]]:
        return [present_user(u) for u in await services.users.all()]

    items = run(work)
    if as_json:
        print_json({"items": items})
        return
    print_table(["id", "username", "created_at"], [[u[k] for k in u] for u in items])
