"""Serving: `appward serve`."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer

from appward.cli.run import complete, fail, key_cipher, reached, settings
from appward.config import InvalidConfiguration, Settings
from appward.logs import uvicorn_log_config
from appward.metrics import MULTIPROCESS_DIR, scrape_registry, serve_metrics
from appward.registration.policy import registration_policy
from appward.services import unit_of_work
from appward.tokens.keys import ensure_signing_key


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Worker processes.")] = 1,
    access_log: Annotated[
        bool,
        typer.Option(
            "--access-log/--no-access-log",
            help="One log line per request (APPWARD_REQUEST_LOG; route templates, never a "
            "query). Off by default: the fast configuration.",
        ),
    ] = False,
) -> None:
    """Serve the authorization server (several worker processes with --workers)."""
    import uvicorn

    if access_log:
        os.environ["APPWARD_REQUEST_LOG"] = "true"  # read by every worker's settings
    config = settings()
    try:
        # Checked before forking: a worker refusing it would be restarted forever.
        registration_policy(config)
    except InvalidConfiguration as exc:
        fail(str(exc.code))
    _ensure_signing_key(config)  # once, here, so workers do not race to create one
    with _metrics_listener(config):
        _run(uvicorn, config, host, port, workers)


def _run(uvicorn: Any, config: Settings, host: str, port: int, workers: int) -> None:
    uvicorn.run(
        "appward.web.app:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        log_config=uvicorn_log_config(config.log_format),
        # Its line costs a third of the token endpoint's throughput, and holds the query:
        # Appward's own request log (web/request_log.py) replaces it.
        access_log=False,
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


@contextmanager
def _metrics_listener(config: Settings) -> Iterator[None]:
    """With metrics on, serves every worker's metrics on one listener, in this process:
    the workers write their values to a fresh multiprocess directory (metrics.py), which
    goes when the server stops."""
    if not config.metrics_enabled:
        yield
        return
    directory = tempfile.mkdtemp(prefix="appward-metrics-")
    # Before anything imports prometheus_client: its values are files from then on.
    os.environ[MULTIPROCESS_DIR] = directory
    try:
        stop = serve_metrics(config.metrics_host, config.metrics_port, scrape_registry(None))
    except OSError as exc:
        shutil.rmtree(directory, ignore_errors=True)
        fail(f"cannot serve metrics on {config.metrics_host}:{config.metrics_port}: {exc}")
    try:
        yield
    finally:
        stop()
        shutil.rmtree(directory, ignore_errors=True)


def _ensure_signing_key(config: Settings) -> None:
    cipher = key_cipher(config)

    async def ensure() -> None:
        async with reached(config) as resources, unit_of_work(resources, None) as services:
            await ensure_signing_key(services.session, cipher, resources.clock)

    complete(ensure())
