"""How a command reaches its services: settings, one unit of work, and its failures as one
line on stderr with exit code 2."""

from __future__ import annotations

import asyncio
import getpass
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any, NoReturn, TypeVar

import typer
from cryptography.fernet import Fernet
from sqlalchemy import inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from appward.audit import Actor
from appward.config import Settings, load_settings
from appward.db import DatabaseUnavailable
from appward.errors import AppwardError
from appward.services import Services, StandaloneResources, standalone_resources, unit_of_work
from appward.tokens.keys import load_key_encryption

T = TypeVar("T")
VERSION_TABLE = "alembic_version"  # Alembic's: there once `appward db upgrade` has run


def fail(message: str) -> NoReturn:
    """Ends the command: ``message`` on one line of stderr, exit code 2."""
    typer.echo(f"appward: {message}", err=True)
    raise typer.Exit(2)


def settings() -> Settings:
    """Returns the settings from the APPWARD_* environment; a bad value ends the command
    (one line per bad value)."""
    try:
        return load_settings()
    except SystemExit as exc:  # load_settings' way to report bad values
        for line in str(exc.code).splitlines():
            typer.echo(f"appward: {line}", err=True)
        raise typer.Exit(2) from None


def cli_actor() -> Actor:
    return Actor(f"cli:{getpass.getuser()}")


def run(work: Callable[[Services], Awaitable[T]], config: Settings | None = None) -> T:
    """Runs ``work`` in one unit of work (committed if it returns) and returns its result.
    ``config``: the settings, if the command has read them already."""
    config = config or settings()

    async def in_one_unit() -> T:
        async with reached(config) as resources, unit_of_work(resources, cli_actor()) as services:
            return await work(services)

    return complete(in_one_unit())


def complete(work: Coroutine[Any, Any, T]) -> T:
    """Runs ``work`` to its end; what stops it for a reason the user can act on (a domain
    error, a database's refusal, a file that cannot be written) ends the command."""
    try:
        return asyncio.run(work)
    except AppwardError as exc:
        fail(f"{exc.error}: {exc.description}")
    except DatabaseUnavailable as exc:  # lost during the work (db.create_engine)
        fail(f"the database became unreachable: {exc}")
    except DBAPIError as exc:
        # The first line is the driver's message; the statement follows on the next
        # ones, and its bound values are never in the text (db.create_engine).
        fail(f"the database refused: {_first_line(exc)}")
    except OSError as exc:  # the data directory: key files, the epoch file
        fail(str(exc))


@asynccontextmanager
async def reached(config: Settings, *, migrated: bool = True) -> AsyncIterator[StandaloneResources]:
    """Yields the run's resources once the database has answered (and, if ``migrated``,
    holds Appward's schema), so neither is a traceback later."""
    _check_database_url(config.database_url)
    async with standalone_resources(config) as resources:
        await _reach_database(resources.engine, config.database_url, migrated=migrated)
        yield resources


def _check_database_url(url: str) -> None:
    try:
        make_url(url).get_dialect().import_dbapi()
    except (ArgumentError, ImportError) as exc:  # unparseable, unknown dialect or driver
        fail(f"invalid configuration: APPWARD_DATABASE_URL: {exc}")


async def _reach_database(engine: AsyncEngine, url: str, *, migrated: bool) -> None:
    """Opens the engine's first connection (the pool keeps it for the work that follows)."""
    try:
        async with engine.connect() as connection:
            schema_present = await connection.run_sync(
                lambda sync: inspect(sync).has_table(VERSION_TABLE)
            )
    except Exception as exc:  # noqa: BLE001 (anything that stops a connection: refused, DNS, auth)
        fail(f"cannot reach the database at {_masked(url)}: {_first_line(exc)}")
    if migrated and not schema_present:
        fail(f"the database at {_masked(url)} has no schema yet: run `appward db upgrade`")


def key_cipher(config: Settings) -> Fernet:
    """Returns the cipher for signing keys at rest; a malformed key, or a key file that
    cannot be made, ends the command."""
    try:
        return load_key_encryption(config.key_encryption_key, config.data_dir)
    except ValueError as exc:  # Fernet's message names the rule, never the key
        fail(f"invalid configuration: APPWARD_KEY_ENCRYPTION_KEY: {exc}")
    except OSError as exc:
        fail(str(exc))


def _masked(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
