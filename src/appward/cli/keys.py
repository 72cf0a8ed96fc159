"""Token signing keys: `appward keys ...`."""

from __future__ import annotations

import typer

from appward.cli.run import key_cipher, run, settings
from appward.clock import SystemClock
from appward.services import Services
from appward.tokens.keys import rotate_signing_key

app = typer.Typer(help="Token signing keys.", no_args_is_help=True)


@app.command("rotate")
def keys_rotate() -> None:
    """Add a new signing key. Servers sign with it from their next key reload
    (APPWARD_KEY_RELOAD_INTERVAL); old keys stay published until their tokens expire."""
    config = settings()
    cipher = key_cipher(config)

    async def work(services: Services) -> str:
        return (await rotate_signing_key(services.session, cipher, SystemClock())).kid

    typer.echo(f"new signing key {run(work, config)}")
