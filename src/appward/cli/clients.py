"""Registering and managing clients: `appward clients ...`."""

from __future__ import annotations

import json
import sys
from collections.abc import Awaitable, Callable, Iterator
from typing import Annotated

import typer

from appward.cli import owners
from appward.cli.arguments import JsonFlag, SetOption, parse_assignments, read_json_file
from appward.cli.output import (
    print_change,
    print_client,
    print_json,
    print_more,
    print_table,
)
from appward.cli.run import fail, run
from appward.clients.models import Client
from appward.clients.service import ClientChange, ClientFilter, ImportResult
from appward.pagination import Page
from appward.presenters import present_client, present_page
from appward.services import Services

# The key and certificate fields, on `create` and `update`: each one a metadata field the
# validator checks (clients/metadata.py); an option left out changes nothing.
JwksOption = Annotated[
    str | None, typer.Option("--jwks", help="The client's public keys: a JWK Set as JSON.")
]
JwksFileOption = Annotated[
    str | None, typer.Option("--jwks-file", help="The JWK Set from a JSON file (- for stdin).")
]
JwksUriOption = Annotated[
    str | None, typer.Option("--jwks-uri", help="Where the client publishes its JWK Set.")
]
SigningAlgOption = Annotated[
    str | None,
    typer.Option("--token-endpoint-auth-signing-alg", help="The only alg its assertions may use."),
]
TLS_OPTIONS = {
    "tls_subject_dn": "tls_client_auth_subject_dn",
    "tls_san_dns": "tls_client_auth_san_dns",
    "tls_san_uri": "tls_client_auth_san_uri",
    "tls_san_ip": "tls_client_auth_san_ip",
    "tls_san_email": "tls_client_auth_san_email",
}
TlsOption = Annotated[
    str | None, typer.Option(help="The TLS certificate subject tls_client_auth checks.")
]
BoundTokensOption = Annotated[
    bool | None,
    typer.Option(
        "--bound-tokens/--no-bound-tokens",
        help="tls_client_certificate_bound_access_tokens (RFC 8705 §3).",
    ),
]
AssertionAudienceOption = Annotated[
    str | None,
    typer.Option(help="compat or strict: which aud its assertions may name."),
]


def _key_fields(
    jwks: str | None,
    jwks_file: str | None,
    jwks_uri: str | None,
    signing_alg: str | None,
    tls: dict[str, str | None],
    bound_tokens: bool | None,
    assertion_audience: str | None,
) -> dict[str, object]:
    """Returns the metadata fields the key options name (those given only)."""
    if jwks is not None and jwks_file is not None:
        fail("give --jwks or --jwks-file, not both")
    keys: object = None
    if jwks_file is not None:
        keys = read_json_file(jwks_file)
    elif jwks is not None:
        try:
            keys = json.loads(jwks)
        except ValueError as exc:
            fail(f"--jwks is not JSON: {exc}")
    fields: dict[str, object] = {
        "jwks": keys,
        "jwks_uri": jwks_uri,
        "token_endpoint_auth_signing_alg": signing_alg,
        "tls_client_certificate_bound_access_tokens": bound_tokens,
        "assertion_audience": assertion_audience,
        **{TLS_OPTIONS[name]: value for name, value in tls.items()},
    }
    return {name: value for name, value in fields.items() if value is not None}


app = typer.Typer(help="Register and manage clients.", no_args_is_help=True)
app.add_typer(owners.app, name="owners")


@app.command("create")
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
    jwks: JwksOption = None,
    jwks_file: JwksFileOption = None,
    jwks_uri: JwksUriOption = None,
    signing_alg: SigningAlgOption = None,
    tls_subject_dn: TlsOption = None,
    tls_san_dns: TlsOption = None,
    tls_san_uri: TlsOption = None,
    tls_san_ip: TlsOption = None,
    tls_san_email: TlsOption = None,
    bound_tokens: BoundTokensOption = None,
    assertion_audience: AssertionAudienceOption = None,
    set_: SetOption = None,
    metadata: Annotated[
        str | None, typer.Option(help="RFC 7591 metadata as a JSON file, or - for stdin.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Register a client. --set overrides the same fields of --metadata, and the named
    options (NAME, --redirect-uri, --scope, ...) override both."""
    data = read_json_file(metadata) if metadata else {}
    data.update(parse_assignments(set_ or []))
    overrides = {
        "client_name": name,
        "redirect_uris": redirect_uri or None,
        "grant_types": grant_type or None,
        "scope": scope,
        "token_endpoint_auth_method": auth_method,
        "owner": owner,
    }
    data.update({k: v for k, v in overrides.items() if v is not None})
    data.update(
        _key_fields(
            jwks,
            jwks_file,
            jwks_uri,
            signing_alg,
            {
                "tls_subject_dn": tls_subject_dn,
                "tls_san_dns": tls_san_dns,
                "tls_san_uri": tls_san_uri,
                "tls_san_ip": tls_san_ip,
                "tls_san_email": tls_san_email,
            },
            bound_tokens,
            assertion_audience,
        )
    )

    async def work(services: Services) -> ClientChange:
        return await services.clients.create(data, registration_source="admin")

    print_change(run(work), as_json)


def _lines_of(path: str) -> Iterator[str]:
    """Yields the lines of ``path`` (``-``: standard input); one that cannot be read or
    decoded as UTF-8 ends the command."""
    try:
        if path == "-":
            yield from sys.stdin
            return
        with open(path, encoding="utf-8") as file:
            yield from file
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read {path}: {exc}")


@app.command("import")
def clients_import(
    file: Annotated[
        str,
        typer.Argument(
            help="JSON lines: one RFC 7591 metadata object per line, as `create --metadata` "
            "takes (- for stdin)."
        ),
    ],
    as_json: JsonFlag = False,
) -> None:
    """Register many clients at once, all or none: a bad line (its number is printed)
    stores nothing. No secret is issued; give a confidential client one with `appward
    secrets add CLIENT_ID`."""

    async def work(services: Services) -> ImportResult:
        return await services.clients.import_clients(_lines_of(file))

    result = run(work)
    if as_json:
        print_json(
            {
                "imported": len(result.client_ids),
                "without_secret": result.without_secret,
                "client_ids": result.client_ids,
            }
        )
        return
    typer.echo(f"imported {len(result.client_ids)} clients")
    if result.without_secret:
        typer.echo(
            f"{result.without_secret} of them use a client secret and have none yet: "
            "issue one with `appward secrets add CLIENT_ID`"
        )


@app.command("list")
def clients_list(
    name: Annotated[str | None, typer.Option(help="Substring of the name.")] = None,
    status: Annotated[str | None, typer.Option(help="active or disabled")] = None,
    source: Annotated[str | None, typer.Option(help="admin, portal or dcr")] = None,
    approval: Annotated[
        str | None, typer.Option(help="approved, pending (the review queue) or rejected")
    ] = None,
    grant_type: Annotated[
        str | None, typer.Option("--grant-type", help="Clients registered for this grant type")
    ] = None,
    owner: Annotated[str | None, typer.Option(help="Clients of exactly this owner")] = None,
    sort: Annotated[str, typer.Option(help="created, -created, name or -name")] = "created",
    limit: Annotated[int, typer.Option(help="Page size.")] = 50,
    cursor: Annotated[str | None, typer.Option(help="Cursor from the previous page.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """List clients, oldest first unless --sort says otherwise."""

    async def work(services: Services) -> Page[Client]:
        return await services.clients.search(
            ClientFilter(name, status, source, approval, grant_type, owner, sort),
            cursor=cursor,
            limit=limit,
        )

    page = run(work)
    if as_json:
        print_json(present_page(page, present_client))
        return
    items, next_cursor = page.items, page.next_cursor
    print_table(
        [
            "client_id",
            "name",
            "status",
            "approval",
            "source",
            "auth_method",
            "grant_types",
            "scope",
        ],
        [
            [
                c.client_id,
                c.client_name,
                c.status,
                c.approval,
                c.registration_source,
                c.token_endpoint_auth_method,
                c.grant_types,
                " ".join(c.scopes),
            ]
            for c in items
        ],
    )
    print_more(next_cursor)


@app.command("show")
def clients_show(client_id: str, as_json: JsonFlag = False) -> None:
    """Show one client."""

    async def work(services: Services) -> Client:
        return await services.clients.get(client_id)

    client = run(work)
    if as_json:
        print_json(present_client(client))
    else:
        print_client(client)


@app.command("update")
def clients_update(
    client_id: str,
    jwks: JwksOption = None,
    jwks_file: JwksFileOption = None,
    jwks_uri: JwksUriOption = None,
    signing_alg: SigningAlgOption = None,
    tls_subject_dn: TlsOption = None,
    tls_san_dns: TlsOption = None,
    tls_san_uri: TlsOption = None,
    tls_san_ip: TlsOption = None,
    tls_san_email: TlsOption = None,
    bound_tokens: BoundTokensOption = None,
    assertion_audience: AssertionAudienceOption = None,
    set_: SetOption = None,
    metadata: Annotated[
        str | None, typer.Option(help="A JSON merge patch file, or - for stdin.")
    ] = None,
    if_revision: Annotated[
        int | None, typer.Option(help="Refuse unless the client is at this revision.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Change metadata fields (a JSON merge patch: null resets a field; --set jwks=null
    removes the keys). The key options override --set and --metadata."""
    patch = read_json_file(metadata) if metadata else {}
    patch.update(parse_assignments(set_ or []))
    patch.update(
        _key_fields(
            jwks,
            jwks_file,
            jwks_uri,
            signing_alg,
            {
                "tls_subject_dn": tls_subject_dn,
                "tls_san_dns": tls_san_dns,
                "tls_san_uri": tls_san_uri,
                "tls_san_ip": tls_san_ip,
                "tls_san_email": tls_san_email,
            },
            bound_tokens,
            assertion_audience,
        )
    )
    if not patch:
        fail("nothing to change: give --set field=value or --metadata FILE")

    async def work(services: Services) -> ClientChange:
        return await services.clients.update(client_id, patch, expected_revision=if_revision)

    print_change(run(work), as_json)


def _set_status(client_id: str, status: str, as_json: bool) -> None:
    async def work(services: Services) -> Client:
        return await services.clients.set_status(client_id, status)

    client = run(work)
    if as_json:
        print_json(present_client(client))
    else:
        typer.echo(f"client {client.client_id} is {client.status}")


@app.command("disable")
def clients_disable(client_id: str, as_json: JsonFlag = False) -> None:
    """Disable a client at once: it can no longer authenticate."""
    _set_status(client_id, "disabled", as_json)


@app.command("enable")
def clients_enable(client_id: str, as_json: JsonFlag = False) -> None:
    """Re-enable a disabled client."""
    _set_status(client_id, "active", as_json)


def _change(work: Callable[[Services], Awaitable[Client]], as_json: bool, done: str) -> None:
    client = run(work)
    if as_json:
        print_json(present_client(client))
    else:
        typer.echo(f"client {client.client_id} {done}")


@app.command("revoke-tokens")
def clients_revoke_tokens(client_id: str, as_json: JsonFlag = False) -> None:
    """Revoke every token issued to the client so far, in every server; it stays enabled."""

    async def work(services: Services) -> Client:
        return await services.clients.revoke_tokens(client_id)

    _change(work, as_json, "has had all its tokens revoked")


@app.command("approve")
def clients_approve(client_id: str, as_json: JsonFlag = False) -> None:
    """Approve a pending (or rejected) client: it may get tokens from now on."""

    async def work(services: Services) -> Client:
        return await services.clients.approve(client_id)

    _change(work, as_json, "is approved")


@app.command("reject")
def clients_reject(
    client_id: str,
    reason: Annotated[str, typer.Option(help="Why; the client's developer sees it.")],
    as_json: JsonFlag = False,
) -> None:
    """Reject a client: it gets no tokens, and those it holds stop working."""

    async def work(services: Services) -> Client:
        return await services.clients.reject(client_id, reason)

    _change(work, as_json, "is rejected")


@app.command("verify")
def clients_verify(
    client_id: str,
    unverify: Annotated[bool, typer.Option("--unverify", help="Mark it unverified.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Mark a client verified (consent then shows no unverified notice), or --unverify."""

    async def work(services: Services) -> Client:
        return await services.clients.set_verified(client_id, not unverify)

    _change(work, as_json, "is unverified" if unverify else "is verified")


@app.command("grant-introspection")
def clients_grant_introspection(client_id: str, as_json: JsonFlag = False) -> None:
    """Let the client (a resource server) introspect other clients' tokens, not only its own."""

    async def work(services: Services) -> Client:
        return await services.clients.set_introspection_permission(client_id, True)

    _change(work, as_json, "may introspect other clients' tokens")


@app.command("withdraw-introspection")
def clients_withdraw_introspection(client_id: str, as_json: JsonFlag = False) -> None:
    """Withdraw the permission: the client introspects only its own tokens again."""

    async def work(services: Services) -> Client:
        return await services.clients.set_introspection_permission(client_id, False)

    _change(work, as_json, "may introspect only its own tokens")


@app.command("preview-token")
def clients_preview_token(
    client_id: str,
    scope: Annotated[str | None, typer.Option(help="Scopes, space-separated.")] = None,
    user: Annotated[
        str | None, typer.Option(help="Preview a token on this user's behalf (name or id).")
    ] = None,
) -> None:
    """Print the access-token claims and lifetime the client would get now (JSON); nothing
    is issued."""

    async def work(services: Services) -> dict[str, object]:
        preview = await services.token_preview.preview(client_id, scope=scope, user=user)
        return {
            "grant_type": preview.grant_type,
            "lifetime": preview.lifetime,
            "claims": preview.claims,
        }

    print_json(run(work))


@app.command("delete")
def clients_delete(client_id: str) -> None:
    """Delete a client; its secrets are revoked and its client_id is never reused."""

    async def work(services: Services) -> None:
        await services.clients.delete(client_id)

    run(work)
    typer.echo(f"client {client_id} deleted")
