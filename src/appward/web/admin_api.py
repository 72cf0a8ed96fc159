"""The admin REST API (/admin/v1): thin handlers over ClientService, ScopeService, AuditLog."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Query, Request, Response, Security
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, ValidationError

from appward.audit import AuditEvent, AuditFilter
from appward.clients.metadata import ClientMetadata, field_errors
from appward.clients.models import Client, ClientSecret
from appward.clients.scopes import Scope
from appward.clients.service import ClientChange, ClientFilter, IssuedSecret, metadata_of
from appward.errors import FieldError, InvalidInput, PreconditionRequired
from appward.registration.initial_access_tokens import (
    IssuedInitialAccessToken,
    describe_initial_access_token,
    parse_initial_access_token_request,
)
from appward.web.deps import Audit, Clients, InitialAccessTokens, Scopes, Users
from appward.web.json_body import parse_json
from appward.web.oauth import read_limited
from appward.web.openapi import ADMIN_TOKEN, problem_responses

# ADMIN_TOKEN only documents the bearer scheme: deps.current_admin checks the token.
router = APIRouter(
    prefix="/admin/v1",
    tags=["admin"],
    dependencies=[Security(ADMIN_TOKEN)],
    responses=problem_responses(401, 403),
)

_REF = "#/components/schemas/{model}"
MAX_BODY_BYTES = 256 * 1024
M = TypeVar("M", bound=BaseModel)


def _metadata_body(description: str) -> dict[str, Any]:
    schema = ClientMetadata.model_json_schema(ref_template=_REF)
    # The model's docstring is for programmers; the document gets the caller's view.
    schema["description"] = "RFC 7591 §2 client metadata and Appward's token policy for the client."
    schema["properties"]["owner"] = {"type": "string", "description": "Who owns the client."}
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {"application/json": {"schema": schema}},
        }
    }


# Read from the headers by the handler, which answers 428 without it: FastAPI's own
# required header would answer 400 instead.
IF_MATCH = {
    "name": "If-Match",
    "in": "header",
    "required": True,
    "description": 'The ETag from reading the client, such as "3"; * for any revision.',
    "schema": {"type": "string"},
}


# --- wire shapes ---


class ClientOut(BaseModel):
    """A client record: its RFC 7591 metadata plus what the registry keeps about it."""

    client_id: str
    client_id_issued_at: int
    status: str
    registration_source: str
    owner: str | None
    created_at: datetime
    updated_at: datetime
    revision: int
    metadata: dict[str, Any] = Field(description="RFC 7591 client metadata as stored")


class SecretOut(BaseModel):
    id: str
    label: str | None
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    usable: bool


class IssuedSecretOut(SecretOut):
    client_secret: str = Field(description="Shown once, now; only its hash is kept.")
    client_secret_expires_at: int = Field(description="Epoch seconds; 0 means no expiry.")


class ClientCreatedOut(ClientOut):
    client_secret: str | None = Field(None, description="Shown once, now.")
    client_secret_id: str | None = None
    client_secret_expires_at: int | None = None


class ClientList(BaseModel):
    items: list[ClientOut]
    next_cursor: str | None


class SecretList(BaseModel):
    items: list[SecretOut]


class NewSecret(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: str | None = Field(None, max_length=100)
    expire_others_in: StrictInt | None = Field(
        None, description="Seconds of grace before every other secret of the client expires."
    )


class ScopeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    description: str
    admin_only: StrictBool = False


class ScopePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str | None = None
    admin_only: StrictBool | None = None


class ScopeOut(BaseModel):
    name: str
    description: str
    admin_only: bool
    created_at: datetime
    updated_at: datetime


class ScopeList(BaseModel):
    items: list[ScopeOut]


class AuditEventOut(BaseModel):
    id: int
    occurred_at: datetime
    actor: str
    action: str
    client_id: str | None
    target: str | None
    changes: dict[str, Any]
    source_ip: str | None


class AuditList(BaseModel):
    items: list[AuditEventOut]
    next_cursor: str | None


# --- conversions ---


def client_out(client: Client) -> dict[str, Any]:
    return {
        "client_id": client.client_id,
        "client_id_issued_at": int(client.created_at.timestamp()),
        "status": client.status,
        "registration_source": client.registration_source,
        "owner": client.owner,
        "created_at": client.created_at,
        "updated_at": client.updated_at,
        "revision": client.revision,
        "metadata": metadata_of(client),
    }


def secret_out(secret: ClientSecret, now: datetime) -> SecretOut:
    return SecretOut(
        id=secret.id,
        label=secret.label,
        created_at=secret.created_at,
        expires_at=secret.expires_at,
        revoked_at=secret.revoked_at,
        last_used_at=secret.last_used_at,
        usable=secret.is_usable(now),
    )


def issued_secret_out(issued: IssuedSecret, now: datetime) -> IssuedSecretOut:
    record = issued.record
    return IssuedSecretOut(
        **secret_out(record, now).model_dump(),
        client_secret=issued.plaintext,
        client_secret_expires_at=int(record.expires_at.timestamp()) if record.expires_at else 0,
    )


def change_out(change: ClientChange) -> dict[str, Any]:
    body = client_out(change.client)
    if change.secret is not None:
        record = change.secret.record
        body["client_secret"] = change.secret.plaintext
        body["client_secret_id"] = record.id
        body["client_secret_expires_at"] = (
            int(record.expires_at.timestamp()) if record.expires_at else 0
        )
    return body


def _etag(client: Client) -> str:
    return f'"{client.revision}"'


def _expected_revision(if_match: str | None) -> int | None:
    """Reads If-Match; None means any revision ('*'). Raises PreconditionRequired."""
    if if_match is None:
        raise PreconditionRequired(
            "send If-Match with the ETag from reading the client, so no change is lost"
        )
    value = if_match.strip()
    if value == "*":
        return None
    value = value.removeprefix("W/").strip('"')
    if not (value.isascii() and value.isdigit()) or len(value) > 9:
        raise InvalidInput(
            'If-Match must be the client\'s ETag, such as "3"',
            fields=[FieldError("If-Match", "not an ETag of this API")],
        )
    return int(value)


async def _json_object(request: Request) -> dict[str, Any]:
    raw = await read_limited(request, MAX_BODY_BYTES)
    try:
        body = parse_json(raw or b"null")
    except ValueError as exc:
        raise InvalidInput(f"the request body {exc}") from None
    if not isinstance(body, dict):
        raise InvalidInput("the request body must be a JSON object")
    return body


async def _parse(request: Request, model: type[M]) -> M:
    """Returns the body validated as ``model``; every problem becomes a field error."""
    try:
        return model.model_validate(await _json_object(request))
    except ValidationError as exc:
        problems = field_errors(exc)
        summary = "; ".join(f"{p.field}: {p.message}" for p in problems)
        raise InvalidInput(summary, fields=problems) from None


def _body_of(model: type[BaseModel]) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": model.model_json_schema()}},
        }
    }


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


NO_STORE = {"Cache-Control": "no-store"}

# --- clients ---


@router.post(
    "/clients",
    status_code=201,
    response_model=ClientCreatedOut,
    openapi_extra=_metadata_body("RFC 7591 client metadata, plus an optional owner."),
    summary="Register a client",
    description=(
        "Creates a client from RFC 7591 metadata (plus an optional owner) and returns it with its "
        "first secret, shown only this once, for secret-based methods."
    ),
    responses=problem_responses(400),
)
async def create_client(request: Request, response: Response, clients: Clients) -> Any:
    change = await clients.create(await _json_object(request), registration_source="admin")
    response.headers["ETag"] = _etag(change.client)
    response.headers["Location"] = f"/admin/v1/clients/{change.client.client_id}"
    response.headers.update(NO_STORE)
    return change_out(change)


@router.get(
    "/clients",
    response_model=ClientList,
    summary="List clients",
    description=(
        "Lists clients, oldest first, filtered by name, status or registration source; follow "
        "next_cursor for the next page."
    ),
    responses=problem_responses(400),
)
async def list_clients(
    clients: Clients,
    name: Annotated[str | None, Query(max_length=200, description="Substring of the name")] = None,
    status: Annotated[str | None, Query(description="active or disabled")] = None,
    source: Annotated[str | None, Query(description="admin, portal or dcr")] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Any:
    page = await clients.search(
        ClientFilter(name=name, status=status, registration_source=source),
        cursor=cursor,
        limit=limit,
    )
    return {"items": [client_out(c) for c in page.items], "next_cursor": page.next_cursor}


@router.get(
    "/clients/{client_id}",
    response_model=ClientOut,
    summary="Read a client",
    description=(
        "The client's record and metadata; the ETag header is its revision, for If-Match "
        "on a later update."
    ),
    responses=problem_responses(404),
)
async def read_client(client_id: str, response: Response, clients: Clients) -> Any:
    client = await clients.get(client_id)
    response.headers["ETag"] = _etag(client)
    return client_out(client)


@router.patch(
    "/clients/{client_id}",
    response_model=ClientCreatedOut,
    openapi_extra={
        **_metadata_body(
            "A JSON merge patch (RFC 7396) of metadata fields; null resets a field to its default."
        ),
        "parameters": [IF_MATCH],
    },
    summary="Update a client",
    description=(
        "Applies a JSON merge patch (RFC 7396) to the client's metadata, on the condition in If- "
        "Match; a change to a secret-based method returns the new secret once."
    ),
    responses=problem_responses(400, 404, 412, 428),
)
async def update_client(
    client_id: str,
    request: Request,
    response: Response,
    clients: Clients,
) -> Any:
    expected = _expected_revision(request.headers.get("if-match"))
    change = await clients.update(
        client_id, await _json_object(request), expected_revision=expected
    )
    response.headers["ETag"] = _etag(change.client)
    response.headers.update(NO_STORE)
    return change_out(change)


@router.delete(
    "/clients/{client_id}",
    status_code=204,
    summary="Delete a client",
    description=(
        "Deletes the client: its secrets are revoked at once and its client_id is never reused."
    ),
    responses=problem_responses(404, 412),
)
async def delete_client(client_id: str, clients: Clients) -> Response:
    await clients.delete(client_id)
    return Response(status_code=204)


@router.post(
    "/clients/{client_id}/disable",
    response_model=ClientOut,
    summary="Disable a client",
    description=(
        "The client can no longer authenticate, nor use its tokens, until it is enabled again."
    ),
    responses=problem_responses(404, 412),
)
async def disable_client(client_id: str, response: Response, clients: Clients) -> Any:
    client = await clients.set_status(client_id, "disabled")
    response.headers["ETag"] = _etag(client)
    return client_out(client)


@router.post(
    "/clients/{client_id}/enable",
    response_model=ClientOut,
    summary="Enable a client",
    description="Lets a disabled client authenticate again.",
    responses=problem_responses(404, 412),
)
async def enable_client(client_id: str, response: Response, clients: Clients) -> Any:
    client = await clients.set_status(client_id, "active")
    response.headers["ETag"] = _etag(client)
    return client_out(client)


# --- secrets ---


@router.post(
    "/clients/{client_id}/secrets",
    status_code=201,
    response_model=IssuedSecretOut,
    summary="Add a secret (rotation)",
    openapi_extra=_body_of(NewSecret),
    description=(
        "Adds a secret, shown only this once, while the others keep working; expire_others_in "
        "gives them that many seconds of grace."
    ),
    responses=problem_responses(400, 404),
)
async def add_secret(client_id: str, request: Request, response: Response, clients: Clients) -> Any:
    body = await _parse(request, NewSecret)
    issued = await clients.add_secret(
        client_id, label=body.label, expire_others_in=body.expire_others_in
    )
    response.headers.update(NO_STORE)
    return issued_secret_out(issued, clients.clock.now())


@router.get(
    "/clients/{client_id}/secrets",
    response_model=SecretList,
    summary="List secrets",
    description="Lists the client's secrets (never their values) with their expiry and last use.",
    responses=problem_responses(404),
)
async def list_secrets(client_id: str, clients: Clients) -> Any:
    now = clients.clock.now()
    return {"items": [secret_out(s, now) for s in await clients.list_secrets(client_id)]}


@router.delete(
    "/clients/{client_id}/secrets/{secret_id}",
    status_code=204,
    summary="Revoke a secret",
    description="Revokes one secret of the client at once.",
    responses=problem_responses(404),
)
async def revoke_secret(client_id: str, secret_id: str, clients: Clients) -> Response:
    await clients.revoke_secret(client_id, secret_id)
    return Response(status_code=204)


# --- scopes ---


def scope_out(scope: Scope) -> ScopeOut:
    return ScopeOut(
        name=scope.name,
        description=scope.description,
        admin_only=scope.admin_only,
        created_at=scope.created_at,
        updated_at=scope.updated_at,
    )


@router.post(
    "/scopes",
    status_code=201,
    response_model=ScopeOut,
    summary="Create a scope",
    openapi_extra=_body_of(ScopeIn),
    description=(
        "Creates a scope that clients may then be allowed; an admin-only one is never granted to "
        "a self-registered client."
    ),
    responses=problem_responses(
        400, described={409: "A scope of that name exists already (conflict)"}
    ),
)
async def create_scope(request: Request, scopes: Scopes) -> Any:
    body = await _parse(request, ScopeIn)
    return scope_out(await scopes.create(body.name, body.description, admin_only=body.admin_only))


@router.get(
    "/scopes",
    response_model=ScopeList,
    summary="List scopes",
    description="Lists every scope, the built-in appward:admin included.",
)
async def list_scopes(scopes: Scopes) -> Any:
    return {"items": [scope_out(s) for s in await scopes.all()]}


@router.get(
    "/scopes/{name}",
    response_model=ScopeOut,
    summary="Read a scope",
    description="One scope, with its description and admin-only flag.",
    responses=problem_responses(404),
)
async def read_scope(name: str, scopes: Scopes) -> Any:
    return scope_out(await scopes.get(name))


@router.patch(
    "/scopes/{name}",
    response_model=ScopeOut,
    summary="Update a scope",
    openapi_extra=_body_of(ScopePatch),
    description="Changes a scope's description or its admin-only flag.",
    responses=problem_responses(400, 404),
)
async def update_scope(name: str, request: Request, scopes: Scopes) -> Any:
    body = await _parse(request, ScopePatch)
    return scope_out(
        await scopes.update(name, description=body.description, admin_only=body.admin_only)
    )


@router.delete(
    "/scopes/{name}",
    status_code=204,
    summary="Delete an unused scope",
    description=(
        "Deletes a scope that no client is allowed; the built-in appward:admin cannot be deleted."
    ),
    responses=problem_responses(
        404, described={409: "The scope is built in, or still allowed for some client (conflict)"}
    ),
)
async def delete_scope(name: str, scopes: Scopes) -> Response:
    await scopes.delete(name)
    return Response(status_code=204)


# --- users ---


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str
    password: str = Field(repr=False)


class UserOut(BaseModel):
    id: int
    username: str
    created_at: datetime


class UserList(BaseModel):
    items: list[UserOut]


@router.post(
    "/users",
    status_code=201,
    response_model=UserOut,
    summary="Create an end user",
    openapi_extra=_body_of(UserIn),
    description="Creates an end user who can sign in at the authorization endpoint.",
    responses=problem_responses(
        400, described={409: "A user of that name exists already (conflict)"}
    ),
)
async def create_user(request: Request, users: Users) -> Any:
    body = await _parse(request, UserIn)
    user = await users.create(body.username, body.password)
    return UserOut(id=user.id, username=user.username, created_at=user.created_at)


@router.get(
    "/users",
    response_model=UserList,
    summary="List end users",
    description="Lists the end users (never their passwords).",
)
async def list_users(users: Users) -> Any:
    return {
        "items": [
            UserOut(id=u.id, username=u.username, created_at=u.created_at)
            for u in await users.all()
        ]
    }


# --- audit ---


def audit_out(event: AuditEvent) -> AuditEventOut:
    return AuditEventOut(
        id=event.id,
        occurred_at=event.occurred_at,
        actor=event.actor,
        action=event.action,
        client_id=event.client_id,
        target=event.target,
        changes=event.changes,
        source_ip=event.source_ip,
    )


@router.get(
    "/audit-events",
    response_model=AuditList,
    summary="Search the audit log",
    description=(
        "Lists audit events, newest first, filtered by client, actor, action and time; follow "
        "next_cursor for the next page."
    ),
    responses=problem_responses(400),
)
async def list_audit_events(
    audit: Audit,
    client_id: str | None = None,
    actor: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Any:
    page = await audit.query(
        AuditFilter(client_id, actor, action, _aware(since), _aware(until)),
        cursor=cursor,
        limit=limit,
    )
    return {"items": [audit_out(e) for e in page.items], "next_cursor": page.next_cursor}


# --- initial access tokens (RFC 7591 §3) ---


class InitialAccessTokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: str | None = Field(None, max_length=100)
    expires_in: StrictInt | None = Field(None, description="Seconds until the token expires.")
    max_uses: StrictInt | None = Field(None, description="Registrations it allows in all.")
    grant_types: list[str] | None = Field(
        None, description="Grant types its clients may have (default: the server's DCR policy)."
    )
    scopes: list[str] | None = Field(
        None, description="Scopes its clients may have (never an admin-only one)."
    )


class InitialAccessTokenOut(BaseModel):
    id: str
    label: str | None
    template: dict[str, Any]
    max_uses: int | None
    uses: int
    created_by: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


class IssuedInitialAccessTokenOut(InitialAccessTokenOut):
    token: str = Field(description="Shown once, now; only its hash is kept.")


class InitialAccessTokenList(BaseModel):
    items: list[InitialAccessTokenOut]


def issued_initial_access_token_out(issued: IssuedInitialAccessToken) -> dict[str, Any]:
    return {**describe_initial_access_token(issued.record), "token": issued.plaintext}


@router.post(
    "/initial-access-tokens",
    status_code=201,
    response_model=IssuedInitialAccessTokenOut,
    openapi_extra=_body_of(InitialAccessTokenIn),
    summary="Create an initial access token",
    description=(
        "Creates an initial access token for Dynamic Client Registration (RFC 7591 §3), shown "
        "only this once, limiting what the clients registered with it may have."
    ),
    responses=problem_responses(400),
)
async def create_initial_access_token(
    request: Request, response: Response, tokens: InitialAccessTokens
) -> Any:
    body = parse_initial_access_token_request(await _json_object(request))
    issued = await tokens.create(**body.model_dump())
    response.headers.update(NO_STORE)
    return issued_initial_access_token_out(issued)


@router.get(
    "/initial-access-tokens",
    response_model=InitialAccessTokenList,
    summary="List initial access tokens",
    description="Lists initial access tokens (never their values) with their use counts.",
)
async def list_initial_access_tokens(tokens: InitialAccessTokens) -> Any:
    return {"items": [describe_initial_access_token(t) for t in await tokens.all()]}


@router.delete(
    "/initial-access-tokens/{token_id}",
    status_code=204,
    summary="Revoke an initial access token",
    description="Revokes an initial access token: no more registrations with it.",
    responses=problem_responses(404),
)
async def revoke_initial_access_token(token_id: str, tokens: InitialAccessTokens) -> Response:
    await tokens.revoke(token_id)
    return Response(status_code=204)
