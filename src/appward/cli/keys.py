"""Token signing keys: `appward keys ...`."""

from __future__ import annotations

import typer

from appward.cli.run import fail, key_cipher, run, settings
from appward.clients.service import ReencryptionResult
from appward.clock import SystemClock
from appward.services import Services
from appward.tokens.keys import rotate_signing_key

app = typer.Typer(help="Token signing keys.", no_args_is_help=True)


@app.command("rotate")
def keys_rotate() -> None:
    """Add a new signing key. Every server publishes and signs with it within a second
    (this host's through a file in the data dir, other hosts' through Redis when
    APPWARD_REDIS_URL is set, else at their next APPWARD_KEY_RELOAD_INTERVAL); old keys
    stay published until their tokens expire."""
    config = settings()
    cipher = key_cipher(config)

    async def work(services: Services) -> str:
        return (await rotate_signing_key(services.session, cipher, SystemClock())).kid

    typer.echo(f"new signing key {run(work, config)}")


@app.command("reencrypt-secrets")
def keys_reencrypt_secrets() -> None:
    """Rewrite every encrypted client secret (client_secret_jwt) under the current
    APPWARD_KEY_ENCRYPTION_KEY. After a key change, keep the old key in
    APPWARD_PREVIOUS_KEY_ENCRYPTION_KEYS until this has run; then it can go."""
    config = settings()
    key_cipher(config)  # a malformed key ends the command with one line

    async def work(services: Services) -> ReencryptionResult:
        return await services.clients.reencrypt_secrets()

    result = run(work, config)
    typer.echo(
        f"re-encrypted {result.rewritten} client secrets; {result.current} were under the "
        "current key already"
    )
    if result.undecryptable:
        fail(
            f"{len(result.undecryptable)} secrets decrypt under no configured key "
            f"(add their key to APPWARD_PREVIOUS_KEY_ENCRYPTION_KEYS): "
            + ", ".join(result.undecryptable)
        )
