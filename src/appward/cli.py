"""The command line: one function per command, each calling the same services as the API."""

from __future__ import annotations

import asyncio
import getpass
import json
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from appward.audit import Actor, AuditEvent, AuditFilter, AuditLog
from appward.auth.credential_cache import EPOCH_FILE, EpochFile
from appward.auth.invalidation import announce_change
from appward.clients.credential_changes import changed_credentials
from appward.clients.models import Client, ClientSecret
from appward.clients.scopes import Scope, ScopeService
from appward.clients.service import ClientChange, ClientFilter, ClientService, metadata_of
from appward.clock import SystemClock
from appward.config import Settings, load_settings
from appward.db import create_engine, create_sessionmaker
from appward.errors import AppwardError, InvalidInput
from appward.hashing import Argon2Hasher, SecretVerifier
from appward.registration.initial_access_tokens import (
    InitialAccessTokenService,
    describe_initial_access_token,
)
from appward.tokens.keys import ensure_signing_key, load_key_encryption, rotate_signing_key
from appward.users.service import UserService

T = TypeVar("T")

app = typer.Typer(
    name="appward",
    help="Appward: an OAuth 2.0 authorization server built around client management.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
clients_app = typer.Typer(help="Register and manage clients.", no_args_is_help=True)
secrets_app = typer.Typer(help="Client secrets: add (rotate), list, revoke.", no_args_is_help=True)
scopes_app = typer.Typer(help="The scope registry.", no_args_is_help=True)
admin_app = typer.Typer(help="Bootstrap administration.", no_args_is_help=True)
keys_app = typer.Typer(help="Token signing keys.", no_args_is_help=True)
users_app = typer.Typer(help="End-user accounts.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(clients_app, name="clients")
app.add_typer(secrets_app, name="secrets")
app.add_typer(scopes_app, name="scopes")
app.add_typer(admin_app, name="admin")
app.add_typer(keys_app, name="keys")
app.add_typer(users_app, name="users")
dcr_app = typer.Typer(
    help="Dynamic Client Registration: initial access tokens.", no_args_is_help=True
)
app.add_typer(dcr_app, name="dcr")

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
# One --set for create and update, read by one parser (_parse_assignments).
SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        help="field=value for any metadata field (repeat; JSON values allowed: "
        "'contacts=[\"ops@example.com\"]'); on update, field=null resets.",
    ),
]


@dataclass(frozen=True, slots=True)
class Services:
    session: AsyncSession
    clients: ClientService
    scopes: ScopeService
    audit: AuditLog
    users: UserService
    initial_access_tokens: InitialAccessTokenService


def _settings() -> Settings:
    return load_settings()


def _fail(message: str) -> None:
    typer.echo(f"appward: {message}", err=True)
    raise typer.Exit(2)


async def _reach_database(engine: AsyncEngine, url: str) -> None:
    """Opens the engine's first connection (the pool keeps it for the work that follows),
    so a database that cannot be reached is one line and exit code 2, not a traceback."""
    try:
        async with engine.connect():
            pass
    except Exception as exc:  # noqa: BLE001 (anything that stops a connection: refused, DNS, auth)
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        masked = make_url(url).render_as_string(hide_password=True)
        _fail(f"cannot reach the database at {masked}: {reason}")


def _run(work: Callable[[Services], Awaitable[T]]) -> T:
    """Runs ``work`` in one transaction; a domain error becomes one line and exit code 2."""
    settings = _settings()

    async def unit_of_work() -> T:
        engine = create_engine(settings.database_url, schema=settings.database_schema)
        try:
            await _reach_database(engine, settings.database_url)
            async with create_sessionmaker(engine)() as session:
                clock = SystemClock()
                hasher = Argon2Hasher(settings.argon2)
                audit = AuditLog(session, clock, Actor(f"cli:{getpass.getuser()}"))
                services = Services(
                    session,
                    ClientService(
                        session,
                        clock,
                        hasher,
                        settings.lifetime_bounds,
                        settings.secret_policy,
                        audit,
                    ),
                    ScopeService(session, clock, audit),
                    audit,
                    UserService(
                        session, clock, SecretVerifier(hasher, settings.secret_policy), audit
                    ),
                    InitialAccessTokenService(session, clock, audit),
                )
                result = await work(services)
                await session.commit()
                await announce_change(
                    changed_credentials(session),
                    epoch=EpochFile(settings.data_dir / EPOCH_FILE),
                    redis_url=settings.redis_url,
                )
                return result
        finally:
            await engine.dispose()

    try:
        return asyncio.run(unit_of_work())
    except AppwardError as exc:
        _fail(f"{exc.error}: {exc.description}")
        raise  # unreachable: _fail exits


def _print_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, default=_json_default))


def _json_default(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(type(value).__name__)


def _print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    typer.echo("  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True)))
    for row in cells:
        typer.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, list):
        return ",".join(str(v) for v in value) or "-"
    return str(value)


def _client_json(client: Client) -> dict[str, Any]:
    return {
        "client_id": client.client_id,
        "status": client.status,
        "registration_source": client.registration_source,
        "owner": client.owner,
        "created_at": client.created_at,
        "updated_at": client.updated_at,
        "revision": client.revision,
        "metadata": metadata_of(client),
    }


def _print_change(change: ClientChange, as_json: bool) -> None:
    secret = change.secret
    if as_json:
        body = _client_json(change.client)
        if secret is not None:
            body["client_secret"] = secret.plaintext
            body["client_secret_id"] = secret.record.id
        _print_json(body)
        return
    _print_client(change.client)
    if secret is not None:
        typer.echo(f"client_secret: {secret.plaintext}")
        typer.echo("  (shown once: store it now; only its hash is kept)")


def _print_client(client: Client) -> None:
    typer.echo(f"client_id: {client.client_id}")
    for key in ("status", "registration_source", "owner", "revision"):
        typer.echo(f"{key}: {_cell(getattr(client, key))}")
    for key, value in metadata_of(client).items():
        typer.echo(f"{key}: {_cell(value) if not isinstance(value, dict) else json.dumps(value)}")


def _read_json_file(path: str) -> dict[str, Any]:
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text()
        data = json.loads(text)
    except (OSError, ValueError) as exc:
        _fail(f"cannot read JSON from {path}: {exc}")
    if not isinstance(data, dict):
        _fail(f"{path} must hold a JSON object of client metadata")
    return dict(data)


def _parse_assignments(assignments: list[str]) -> dict[str, Any]:
    """Reads ``field=value`` pairs; a value that parses as JSON is taken as JSON."""
    data: dict[str, Any] = {}
    for item in assignments:
        name, eq, raw = item.partition("=")
        if not eq or not name:
            _fail(f"--set takes field=value, got {item!r}")
        try:
            data[name] = json.loads(raw)
        except ValueError:
            data[name] = raw
    return data


def _when(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        _fail(f"{option} must be an ISO 8601 time, such as 2026-01-31T12:00:00Z")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# --- serve and db ---


@app.command()
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

    settings = _settings()
    _ensure_signing_key(settings)  # once, here, so workers do not race to create one
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
    )


def _ensure_signing_key(settings: Settings) -> None:
    async def ensure() -> None:
        engine = create_engine(settings.database_url, schema=settings.database_schema)
        try:
            await _reach_database(engine, settings.database_url)
            async with create_sessionmaker(engine).begin() as session:
                cipher = load_key_encryption(settings.key_encryption_key, settings.data_dir)
                await ensure_signing_key(session, cipher, SystemClock())
        finally:
            await engine.dispose()

    asyncio.run(ensure())


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply all migrations to the configured database."""
    from appward.migrations import upgrade

    settings = _settings()

    async def reach() -> None:
        engine = create_engine(settings.database_url, schema=settings.database_schema)
        try:
            await _reach_database(engine, settings.database_url)
        finally:
            await engine.dispose()

    asyncio.run(reach())
    upgrade(settings.database_url, settings.database_schema)
    typer.echo("database is up to date")


@keys_app.command("rotate")
def keys_rotate() -> None:
    """Add a new signing key. Servers sign with it from their next key reload
    (APPWARD_KEY_RELOAD_INTERVAL); old keys stay published until their tokens expire."""
    settings = _settings()

    async def work(services: Services) -> str:
        cipher = load_key_encryption(settings.key_encryption_key, settings.data_dir)
        return (await rotate_signing_key(services.session, cipher, SystemClock())).kid

    typer.echo(f"new signing key {_run(work)}")


# --- users ---


@users_app.command("create")
def users_create(
    username: str,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Create a local user account (the password is asked for, or read from stdin)."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)

    async def work(services: Services) -> dict[str, Any]:
        user = await services.users.create(username, password)
        return {"id": user.id, "username": user.username, "created_at": user.created_at}

    user = _run(work)
    if as_json:
        _print_json(user)
    else:
        typer.echo(f"user {user['username']} created (id {user['id']})")


@users_app.command("list")
def users_list(as_json: JsonFlag = False) -> None:
    """List local user accounts."""

    async def work(services: Services) -> list[dict[str, Any]]:
        return [
            {"id": u.id, "username": u.username, "created_at": u.created_at}
            for u in await services.users.all()
        ]

    items = _run(work)
    if as_json:
        _print_json({"items": items})
        return
    _print_table(["id", "username", "created_at"], [[u[k] for k in u] for u in items])


# --- clients ---


@clients_app.command("create")
def clients_create(
    name: Annotated[str | None, typer.Argument(help="client_name")] = None,
    redirect_uri: Annotated[
        list[str] | None, typer.Option("--redirect-uri", help="Repeat for several.")
    ] = None,
    grant_type: Annotated[
        list[str] | None, typer.Option("--grant-type", help="Repeat for several.")
    ] = None,
    scope: Annotated[str | None, typer.Option(help="Allowed scopes, space-separated.")] = None,
    auth_method: Annotated[
        str | None, typer.Option("--auth-method", help="token_endpoint_auth_method")
    ] = None,
    owner: Annotated[str | None, typer.Option(help="Who owns the client.")] = None,
    set_: SetOption = None,
    metadata: Annotated[
        str | None, typer.Option(help="RFC 7591 metadata as a JSON file, or - for stdin.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Register a client. --set overrides the same fields of --metadata, and the named
    options (NAME, --redirect-uri, --scope, ...) override both."""
    data = _read_json_file(metadata) if metadata else {}
    data.update(_parse_assignments(set_ or []))
    overrides = {
        "client_name": name,
        "redirect_uris": redirect_uri or None,
        "grant_types": grant_type or None,
        "scope": scope,
        "token_endpoint_auth_method": auth_method,
        "owner": owner,
    }
    data.update({k: v for k, v in overrides.items() if v is not None})

    async def work(services: Services) -> ClientChange:
        return await services.clients.create(data, registration_source="admin")

    _print_change(_run(work), as_json)


@clients_app.command("list")
def clients_list(
    name: Annotated[str | None, typer.Option(help="Substring of the name.")] = None,
    status: Annotated[str | None, typer.Option(help="active or disabled")] = None,
    source: Annotated[str | None, typer.Option(help="admin, portal or dcr")] = None,
    limit: Annotated[int, typer.Option(help="Page size.")] = 50,
    cursor: Annotated[str | None, typer.Option(help="Cursor from the previous page.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """List clients, oldest first."""

    async def work(services: Services) -> tuple[list[Client], str | None]:
        page = await services.clients.search(
            ClientFilter(name, status, source), cursor=cursor, limit=limit
        )
        return page.items, page.next_cursor

    items, next_cursor = _run(work)
    if as_json:
        _print_json({"items": [_client_json(c) for c in items], "next_cursor": next_cursor})
        return
    _print_table(
        ["client_id", "name", "status", "source", "auth_method", "grant_types", "scope"],
        [
            [
                c.client_id,
                c.client_name,
                c.status,
                c.registration_source,
                c.token_endpoint_auth_method,
                c.grant_types,
                " ".join(c.scopes),
            ]
            for c in items
        ],
    )
    if next_cursor:
        typer.echo(f"more: --cursor {next_cursor}")


@clients_app.command("show")
def clients_show(client_id: str, as_json: JsonFlag = False) -> None:
    """Show one client."""

    async def work(services: Services) -> Client:
        return await services.clients.get(client_id)

    client = _run(work)
    if as_json:
        _print_json(_client_json(client))
    else:
        _print_client(client)


@clients_app.command("update")
def clients_update(
    client_id: str,
    set_: SetOption = None,
    metadata: Annotated[
        str | None, typer.Option(help="A JSON merge patch file, or - for stdin.")
    ] = None,
    if_revision: Annotated[
        int | None, typer.Option(help="Refuse unless the client is at this revision.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Change metadata fields (a JSON merge patch: null resets a field)."""
    patch = _read_json_file(metadata) if metadata else {}
    patch.update(_parse_assignments(set_ or []))
    if not patch:
        _fail("nothing to change: give --set field=value or --metadata FILE")

    async def work(services: Services) -> ClientChange:
        return await services.clients.update(client_id, patch, expected_revision=if_revision)

    _print_change(_run(work), as_json)


def _set_status(client_id: str, status: str, as_json: bool) -> None:
    async def work(services: Services) -> Client:
        return await services.clients.set_status(client_id, status)

    client = _run(work)
    if as_json:
        _print_json(_client_json(client))
    else:
        typer.echo(f"client {client.client_id} is {client.status}")


@clients_app.command("disable")
def clients_disable(client_id: str, as_json: JsonFlag = False) -> None:
    """Disable a client at once: it can no longer authenticate."""
    _set_status(client_id, "disabled", as_json)


@clients_app.command("enable")
def clients_enable(client_id: str, as_json: JsonFlag = False) -> None:
    """Re-enable a disabled client."""
    _set_status(client_id, "active", as_json)


@clients_app.command("delete")
def clients_delete(client_id: str) -> None:
    """Delete a client; its secrets are revoked and its client_id is never reused."""

    async def work(services: Services) -> None:
        await services.clients.delete(client_id)

    _run(work)
    typer.echo(f"client {client_id} deleted")


# --- secrets ---


def _secret_json(secret: ClientSecret) -> dict[str, Any]:
    now = SystemClock().now()
    return {
        "id": secret.id,
        "label": secret.label,
        "created_at": secret.created_at,
        "expires_at": secret.expires_at,
        "revoked_at": secret.revoked_at,
        "last_used_at": secret.last_used_at,
        "usable": secret.is_usable(now),
    }


@secrets_app.command("add")
def secrets_add(
    client_id: str,
    label: Annotated[str | None, typer.Option(help="A name for the secret.")] = None,
    expire_others_in: Annotated[
        int | None,
        typer.Option(help="Seconds of grace before the client's other secrets expire."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Add a secret; the existing ones keep working (rotation without downtime)."""

    async def work(services: Services) -> tuple[dict[str, Any], str]:
        issued = await services.clients.add_secret(
            client_id, label=label, expire_others_in=expire_others_in
        )
        return _secret_json(issued.record), issued.plaintext

    record, plaintext = _run(work)
    if as_json:
        _print_json({**record, "client_secret": plaintext})
        return
    typer.echo(f"secret id: {record['id']}")
    typer.echo(f"client_secret: {plaintext}")
    typer.echo("  (shown once: store it now; only its hash is kept)")


@secrets_app.command("list")
def secrets_list(client_id: str, as_json: JsonFlag = False) -> None:
    """List a client's secrets with their last use (never the secrets themselves)."""

    async def work(services: Services) -> list[dict[str, Any]]:
        return [_secret_json(s) for s in await services.clients.list_secrets(client_id)]

    items = _run(work)
    if as_json:
        _print_json({"items": items})
        return
    headers = ["id", "label", "created_at", "expires_at", "revoked_at", "last_used_at", "usable"]
    _print_table(headers, [[s[h] for h in headers] for s in items])


@secrets_app.command("revoke")
def secrets_revoke(client_id: str, secret_id: str) -> None:
    """Revoke one secret at once."""

    async def work(services: Services) -> None:
        await services.clients.revoke_secret(client_id, secret_id)

    _run(work)
    typer.echo(f"secret {secret_id} revoked")


# --- dynamic client registration ---


@dcr_app.command("create-token")
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

    record, plaintext = _run(work)
    if as_json:
        _print_json({**record, "token": plaintext})
        return
    typer.echo(f"token id: {record['id']}")
    typer.echo(f"initial access token: {plaintext}")
    typer.echo("  (shown once: store it now; only its hash is kept)")


@dcr_app.command("tokens")
def dcr_tokens(as_json: JsonFlag = False) -> None:
    """List initial access tokens, newest first (never the tokens themselves)."""

    async def work(services: Services) -> list[dict[str, Any]]:
        return [
            describe_initial_access_token(t) for t in await services.initial_access_tokens.all()
        ]

    items = _run(work)
    if as_json:
        _print_json({"items": items})
        return
    headers = ["id", "label", "uses", "max_uses", "expires_at", "revoked_at"]
    _print_table(headers, [[t[h] for h in headers] for t in items])


@dcr_app.command("revoke-token")
def dcr_revoke_token(token_id: str) -> None:
    """Revoke an initial access token at once (clients it registered stay)."""

    async def work(services: Services) -> None:
        await services.initial_access_tokens.revoke(token_id)

    _run(work)
    typer.echo(f"initial access token {token_id} revoked")


# --- scopes ---


def _scope_json(scope: Scope) -> dict[str, Any]:
    return {
        "name": scope.name,
        "description": scope.description,
        "admin_only": scope.admin_only,
        "created_at": scope.created_at,
        "updated_at": scope.updated_at,
    }


@scopes_app.command("create")
def scopes_create(
    name: str,
    description: str,
    admin_only: Annotated[bool, typer.Option(help="Never granted to self-registered clients.")] = (
        False
    ),
    as_json: JsonFlag = False,
) -> None:
    """Add a scope to the registry."""

    async def work(services: Services) -> dict[str, Any]:
        return _scope_json(await services.scopes.create(name, description, admin_only=admin_only))

    scope = _run(work)
    _print_json(scope) if as_json else typer.echo(f"scope {name} created")


@scopes_app.command("list")
def scopes_list(as_json: JsonFlag = False) -> None:
    """List the scope registry."""

    async def work(services: Services) -> list[dict[str, Any]]:
        return [_scope_json(s) for s in await services.scopes.all()]

    items = _run(work)
    if as_json:
        _print_json({"items": items})
        return
    _print_table(
        ["name", "admin_only", "description"],
        [[s["name"], s["admin_only"], s["description"]] for s in items],
    )


@scopes_app.command("update")
def scopes_update(
    name: str,
    description: Annotated[str | None, typer.Option(help="New description.")] = None,
    admin_only: Annotated[bool | None, typer.Option("--admin-only/--not-admin-only")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Change a scope's description or admin-only flag."""

    async def work(services: Services) -> dict[str, Any]:
        scope = await services.scopes.update(name, description=description, admin_only=admin_only)
        return _scope_json(scope)

    scope = _run(work)
    _print_json(scope) if as_json else typer.echo(f"scope {name} updated")


@scopes_app.command("delete")
def scopes_delete(name: str) -> None:
    """Delete a scope no client uses."""

    async def work(services: Services) -> None:
        await services.scopes.delete(name)

    _run(work)
    typer.echo(f"scope {name} deleted")


# --- audit ---


def _event_json(event: AuditEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "occurred_at": event.occurred_at,
        "actor": event.actor,
        "action": event.action,
        "client_id": event.client_id,
        "target": event.target,
        "changes": event.changes,
        "source_ip": event.source_ip,
    }


@app.command()
def audit(
    client_id: Annotated[str | None, typer.Option(help="Only this client's events.")] = None,
    actor: Annotated[str | None, typer.Option(help="Only this actor's events.")] = None,
    action: Annotated[str | None, typer.Option(help="Only this action, e.g. client:created")] = (
        None
    ),
    since: Annotated[str | None, typer.Option(help="ISO 8601 time, inclusive.")] = None,
    until: Annotated[str | None, typer.Option(help="ISO 8601 time, exclusive.")] = None,
    limit: Annotated[int, typer.Option(help="Page size.")] = 50,
    cursor: Annotated[str | None, typer.Option(help="Cursor from the previous page.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Search the audit log, newest first."""
    filters = AuditFilter(
        client_id, actor, action, _when(since, "--since"), _when(until, "--until")
    )

    async def work(services: Services) -> tuple[list[dict[str, Any]], str | None]:
        page = await services.audit.query(filters, cursor=cursor, limit=limit)
        return [_event_json(e) for e in page.items], page.next_cursor

    items, next_cursor = _run(work)
    if as_json:
        _print_json({"items": items, "next_cursor": next_cursor})
        return
    _print_table(
        ["occurred_at", "actor", "action", "client_id", "target", "changes"],
        [
            [
                e["occurred_at"],
                e["actor"],
                e["action"],
                e["client_id"],
                e["target"],
                json.dumps(e["changes"]) if e["changes"] else None,
            ]
            for e in items
        ],
    )
    if next_cursor:
        typer.echo(f"more: --cursor {next_cursor}")


# --- bootstrap ---


@admin_app.command("create-client")
def admin_create_client(
    name: str,
    if_none: Annotated[
        bool, typer.Option("--if-none", help="Do nothing if an active admin client exists.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Create a client holding appward:admin and print its id and secret once."""

    async def work(services: Services) -> ClientChange | None:
        if if_none and await services.clients.has_active_admin_client():
            return None
        return await services.clients.create_admin_client(name)

    change = _run(work)
    if change is None:
        typer.echo("an admin client exists already; not creating another")
        return
    secret = change.secret
    if secret is None:  # a secret-based method always issues one
        raise InvalidInput("no secret issued")
    if as_json:
        _print_json({"client_id": change.client.client_id, "client_secret": secret.plaintext})
        return
    typer.echo(f"admin client created: {name}")
    typer.echo(f"  client_id:     {change.client.client_id}")
    typer.echo(f"  client_secret: {secret.plaintext}")
    typer.echo("  (shown once: store it now; only its hash is kept)")


def main() -> None:
    app()
