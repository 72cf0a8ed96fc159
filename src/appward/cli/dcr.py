"""Dynamic Client Registration's initial access tokens: `appward dcr ...`."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from appward.cli.arguments import JsonFlag
from appward.cli.output import SHOWN_ONCE, print_json, print_table
from appward.cli.run import run
from appward.registration.initial_access_tokens import describe_initial_access_token
from appward.services import Services

app = typer.Typer(help="Dynamic Client Registration: initial access tokens.", no_args_is_help=True)


@app.command("create-token")
def dcr_create_token(
    label: Annotated[str | None, typer.Option(help="What the token is for.")] = None,
    expires_in: Annotated[int | None, typer.Option(help="Seconds until it expires.")] = None,
    max_uses: Annotated[int | None, typer.Option(help="Registrations it allows in all.")] = None,
    grant_type: Annotated[
        list[str] | None,
        typer.Option(help="A grant type its clients may have (repeat; default: the policy's)."),
    ] = None,
    scope: Annotated[
        list[str] | None,
        typer.Option(help="A scope its clients may have (repeat; default: the policy's)."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Create an initial access token (RFC 7591 §3) to hand to someone who may register."""

    async def work(services: Services) -> tuple[dict[str, Any], str]:
        issued = await services.initial_access_tokens.create(
            label=label,
            expires_in=expires_in,
            max_uses=max_uses,
            grant_types=grant_type,
            scopes=scope,
        )
        return describe_initial_access_token(issued.record), issued.plaintext

    record, plaintext = run(work)
    if as_json:
        print_json({**record, "token": plaintext})
        return
    typer.echo(f"token id: {record['id']}")
    typer.echo(f"initial access token: {plaintext}")
    typer.echo(SHOWN_ONCE)


@app.command("tokens")
def dcr_tokens(as_json: JsonFlag = False) -> None:
    """List initial access tokens, newest first (never the tokens themselves)."""

    async def work(services: Services) -> list[dict[str, Any]]:
        return [
            describe_initial_access_token(t) for t in await services.initial_access_tokens.all()
        ]

    items = run(work)
    if as_json:
        print_json({"items": items})
        return
    headers = ["id", "label", "uses", "max_uses", "expires_at", "revoked_at"]
    print_table(headers, [[t[h] for h in headers] for t in items])


@app.command("revoke-token")
def dcr_revoke_token(token_id: str) -> None:
    """Revoke an initial access token at once (clients it registered stay)."""

    async def work(services: Services) -> None:
        await services.initial_access_tokens.revoke(token_id)

    run(work)
    typer.echo(f"initial access token {token_id} revoked")
