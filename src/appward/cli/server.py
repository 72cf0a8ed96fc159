"""Serving, and the database schema: `appward serve`, `appward db upgrade`."""

from __future__ import annotations

from typing import Annotated

import typer

from appward.cli.run import complete, fail, key_cipher, reached, settings
from appward.config import InvalidConfiguration, Settings
from appward.registration.policy import registration_policy
from appward.services import unit_of_work
from appward.tokens.keys import ensure_signing_key

db_app = typer.Typer(help="Database schema.", no_args_is_help=True)


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Worker processes.")] = 1,
    access_log: Annotated[
        bool, typer.Option("--access-log/--no-access-log", help="Log every request.")
    ] = True,
) -> None:
    """Serve the authorization server (several worker processes with --workers)."""
    import uvicorn

    config = settings()
    try:
        # Checked before forking: a worker refusing it would be restarted forever.
        registration_policy(config)
    except InvalidConfiguration as exc:
        fail(str(exc.code))
    _ensure_signing_key(config)  # once, here, so workers do not race to create one
    uvicorn.run(
        "appward.web.app:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        access_log=access_log,
        proxy_headers=False,
        server_header=False,  # no need to advertise the server software
        http="appward.web.http_protocol:CoalescingHttpProtocol",
        # A worker still importing the app on a loaded host can take longer than uvicorn's
        # 5 s health check, which then kills and restarts it in a loop.
        timeout_worker_healthcheck=30,
        # On SIGTERM uvicorn stops accepting, then waits this long for the requests in
        # flight (without a bound it would wait for ever on a stalled client).
        timeout_graceful_shutdown=config.shutdown_timeout,
    )


def _ensure_signing_key(config: Settings) -> None:
    cipher = key_cipher(config)

    async def ensure() -> None:
        async with reached(config) as resources, unit_of_work(resources, None) as services:
            await ensure_signing_key(services.session, cipher, resources.clock)

    complete(ensure())


@db_app.command("upgrade")
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
