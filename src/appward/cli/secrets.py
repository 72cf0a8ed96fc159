"""Client secrets: `appward secrets add|list|revoke`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import typer

from appward.cli.arguments import JsonFlag
from appward.cli.output import SHOWN_ONCE, SHOWN_ONCE_ENCRYPTED, print_json, print_table
from appward.cli.run import run
from appward.errors import ConfirmationRequired, FieldError, InvalidInput
from appward.presenters import present_new_secret, present_secret
from appward.services import Services

app = typer.Typer(help="Client secrets: add (rotate), list, revoke.", no_args_is_help=True)


def _expiry(text: str | None) -> datetime | Literal["default"] | None:
    if text is None:
        return "default"
    if text == "never":
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        value = None
    if value is None or value.tzinfo is None:
        raise InvalidInput(
            "--expires-at must be a date-time with its UTC offset, or 'never'",
            fields=[FieldError("expires_at", "a date-time with its UTC offset, or 'never'")],
        )
    return value


@app.command("add")
def secrets_add(
    client_id: str,
    label: Annotated[str | None, typer.Option(help="A name for the secret.")] = None,
    expire_others_in: Annotated[
        int | None,
        typer.Option(help="Seconds of grace before the client's other secrets expire."),
    ] = None,
    expires_at: Annotated[
        str | None,
        typer.Option(
            help="When the new secret expires: a date-time with its UTC offset "
            "(2026-12-31T00:00:00Z), or 'never'. Default: APPWARD_CLIENT_SECRET_LIFETIME."
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Add a secret; the existing ones keep working (rotation without downtime)."""

    async def work(services: Services) -> tuple[dict[str, Any], str, bool]:
        issued = await services.clients.add_secret(
            client_id,
            label=label,
            expire_others_in=expire_others_in,
            expires_at=_expiry(expires_at),
        )
        now = services.clients.clock.now()
        encrypted = issued.record.secret_encrypted is not None
        return present_new_secret(issued.record, now), issued.plaintext, encrypted

    record, plaintext, encrypted = run(work)
    if as_json:
        print_json({**record, "client_secret": plaintext})
        return
    typer.echo(f"secret id: {record['id']}")
    typer.echo(f"client_secret: {plaintext}")
    typer.echo(SHOWN_ONCE_ENCRYPTED if encrypted else SHOWN_ONCE)


@app.command("list")
def secrets_list(client_id: str, as_json: JsonFlag = False) -> None:
    """List a client's secrets with their last use (never the secrets themselves)."""

    async def work(services: Services) -> list[dict[str, Any]]:
        now = services.clients.clock.now()
        return [present_secret(s, now) for s in await services.clients.list_secrets(client_id)]

    items = run(work)
    if as_json:
        print_json({"items": items})
        return
    headers = ["id", "label", "created_at", "expires_at", "revoked_at", "last_used_at", "usable"]
    print_table(headers, [[s[h] for h in headers] for s in items])


@app.command("revoke")
def secrets_revoke(
    client_id: str,
    secret_id: str,
    confirm: Annotated[
        bool, typer.Option(help="Revoke even a secret used in the last 24 hours.")
    ] = False,
) -> None:
    """Revoke one secret at once; one used in the last 24 hours needs --confirm."""

    async def work(services: Services) -> None:
        try:
            await services.clients.revoke_secret(client_id, secret_id, confirmed=confirm)
        except ConfirmationRequired as exc:
            raise exc.with_hint("run again with --confirm to revoke it") from None

    run(work)
    typer.echo(f"secret {secret_id} revoked")
