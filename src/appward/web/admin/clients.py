"""Admin API: clients (/admin/v1/clients), with optimistic concurrency by ETag and If-Match."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from appward.clients.metadata import ClientMetadata
from appward.clients.models import Client
from appward.clients.service import ClientChange, ClientFilter
from appward.errors import FieldError, InvalidInput, PreconditionRequired
from appward.presenters import present_client, present_client_change, present_page
from appward.web.admin.bodies import NO_STORE, documented_body, read_model, read_object
from appward.web.deps import Clients, TokenPreviews
from appward.web.openapi import problem_responses

router = APIRouter()

_REF = "#/components/schemas/{model}"


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


class ClientOut(BaseModel):
    """A client record: its RFC 7591 metadata plus what the registry keeps about it."""

    client_id: str
    client_id_issued_at: int
    status: str
    registration_source: str
    owner: str | None
    approval: str = Field(description="approved, pending (waiting for review) or rejected")
    rejection_reason: str | None = Field(description="Why it was rejected; the developer sees it")
    verified: bool = Field(description="An administrator vouched for the application")
    may_introspect_others: bool = Field(
        description="The introspection permission: the client (a resource server) may "
        "introspect other clients' tokens, not only its own; a client holding appward:admin "
        "may without it"
    )
    secret_storage: Literal["argon2id", "aes-256-gcm"] | None = Field(
        description="How the client's secrets are kept: argon2id hashes, or AES-256-GCM "
        "ciphertexts under the key-encryption key for client_secret_jwt, whose HMAC needs "
        "the secret itself; null for a method without secrets"
    )
    name_warning: str | None = Field(
        description="Set when a name mixes scripts to look like another (Unicode TR39)"
    )
    tokens_not_before: datetime | None = Field(
        description="Every token issued to the client at or before this is revoked"
    )
    created_at: datetime
    updated_at: datetime
    revision: int
    metadata: dict[str, Any] = Field(description="RFC 7591 client metadata as stored")


class ClientCreatedOut(ClientOut):
    client_secret: str | None = Field(None, description="Shown once, now.")
    client_secret_id: str | None = None
    client_secret_expires_at: int | None = None


class ClientList(BaseModel):
    items: list[ClientOut]
    next_cursor: str | None


def etag(client: Client) -> str:
    return f'"{client.revision}"'


def expected_revision(if_match: str | None) -> int | None:
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


def _answer_change(change: ClientChange, response: Response) -> dict[str, Any]:
    """The changed client, with the secret the change issued shown this once."""
    response.headers["ETag"] = etag(change.client)
    response.headers.update(NO_STORE)
    shown_once = change.secret.plaintext if change.secret is not None else None
    return {**present_client_change(change), "client_secret": shown_once}


def _answer_client(client: Client, response: Response) -> dict[str, Any]:
    response.headers["ETag"] = etag(client)
    return present_client(client)


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
    change = await clients.create(await read_object(request), registration_source="admin")
    response.headers["Location"] = f"/admin/v1/clients/{change.client.client_id}"
    return _answer_change(change, response)


@router.get(
    "/clients",
    response_model=ClientList,
    summary="List clients",
    description=(
        "Lists clients, oldest first or in the given sort, filtered by name, a search (q: a "
        "substring of the name or the client_id, as the console's search box), status, "
        "registration source, approval state (approval=pending is the review queue), grant "
        "type or owner; follow next_cursor for the next page."
    ),
    responses=problem_responses(400),
)
async def list_clients(
    clients: Clients,
    name: Annotated[str | None, Query(max_length=200, description="Substring of the name")] = None,
    q: Annotated[
        str | None, Query(max_length=200, description="Substring of the name or the client_id")
    ] = None,
    status: Annotated[str | None, Query(description="active or disabled")] = None,
    source: Annotated[str | None, Query(description="admin, portal or dcr")] = None,
    approval: Annotated[str | None, Query(description="approved, pending or rejected")] = None,
    grant_type: Annotated[str | None, Query(description="Clients registered for it")] = None,
    owner: Annotated[str | None, Query(max_length=200, description="Exactly this owner")] = None,
    sort: Annotated[
        str, Query(description="created (oldest first), -created, name or -name")
    ] = "created",
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Any:
    page = await clients.search(
        ClientFilter(
            name=name,
            status=status,
            registration_source=source,
            approval=approval,
            grant_type=grant_type,
            owner=owner,
            sort=sort,
            query=q,
        ),
        cursor=cursor,
        limit=limit,
    )
    return present_page(page, present_client)


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
    return _answer_client(await clients.get(client_id), response)


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
    expected = expected_revision(request.headers.get("if-match"))
    change = await clients.update(client_id, await read_object(request), expected_revision=expected)
    return _answer_change(change, response)


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
    return _answer_client(await clients.set_status(client_id, "disabled"), response)


@router.post(
    "/clients/{client_id}/enable",
    response_model=ClientOut,
    summary="Enable a client",
    description="Lets a disabled client authenticate again.",
    responses=problem_responses(404, 412),
)
async def enable_client(client_id: str, response: Response, clients: Clients) -> Any:
    return _answer_client(await clients.set_status(client_id, "active"), response)


@router.post(
    "/clients/{client_id}/revoke-tokens",
    response_model=ClientOut,
    summary="Revoke all the client's tokens",
    description=(
        "Every access token, refresh token and authorization code issued to the client so far "
        "stops working at once, in every server process; the client stays enabled and can get "
        "new tokens (from the next second on)."
    ),
    responses=problem_responses(404, 412),
)
async def revoke_client_tokens(client_id: str, response: Response, clients: Clients) -> Any:
    return _answer_client(await clients.revoke_tokens(client_id), response)


@router.post(
    "/clients/{client_id}/approve",
    response_model=ClientOut,
    summary="Approve a client",
    description="A pending (or rejected) client may get tokens from now on.",
    responses=problem_responses(404, 412),
)
async def approve_client(client_id: str, response: Response, clients: Clients) -> Any:
    return _answer_client(await clients.approve(client_id), response)


class Rejection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(description="Why: the client's developer sees this.")


@router.post(
    "/clients/{client_id}/reject",
    response_model=ClientOut,
    openapi_extra=documented_body(Rejection),
    summary="Reject a client",
    description=(
        "The client gets no tokens, and those it holds stop working; the reason is shown to its "
        "developer."
    ),
    responses=problem_responses(400, 404, 412),
)
async def reject_client(
    client_id: str, request: Request, response: Response, clients: Clients
) -> Any:
    body = await read_model(request, Rejection)
    return _answer_client(await clients.reject(client_id, body.reason), response)


@router.post(
    "/clients/{client_id}/verify",
    response_model=ClientOut,
    summary="Mark a client verified",
    description="Consent stops showing the unverified-application notice for it.",
    responses=problem_responses(404, 412),
)
async def verify_client(client_id: str, response: Response, clients: Clients) -> Any:
    return _answer_client(await clients.set_verified(client_id, True), response)


@router.post(
    "/clients/{client_id}/unverify",
    response_model=ClientOut,
    summary="Mark a client unverified",
    description="Consent shows the unverified-application notice for it again.",
    responses=problem_responses(404, 412),
)
async def unverify_client(client_id: str, response: Response, clients: Clients) -> Any:
    return _answer_client(await clients.set_verified(client_id, False), response)


@router.post(
    "/clients/{client_id}/grant-introspection",
    response_model=ClientOut,
    summary="Let a client introspect other clients' tokens",
    description=(
        "Grants the introspection permission (a resource server): the client's introspection "
        "requests describe other clients' active tokens too, not only its own, at once in every "
        "server process. Audited as client:introspection:granted."
    ),
    responses=problem_responses(404, 412),
)
async def grant_introspection(client_id: str, response: Response, clients: Clients) -> Any:
    return _answer_client(await clients.set_introspection_permission(client_id, True), response)


@router.post(
    "/clients/{client_id}/withdraw-introspection",
    response_model=ClientOut,
    summary="Withdraw a client's introspection permission",
    description=(
        "From now on (in every server process) the client's introspection requests answer "
        '{"active": false} for other clients\' tokens. Audited as client:introspection:withdrawn.'
    ),
    responses=problem_responses(404, 412),
)
async def withdraw_introspection(client_id: str, response: Response, clients: Clients) -> Any:
    return _answer_client(await clients.set_introspection_permission(client_id, False), response)


class PreviewRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scope: str | None = Field(None, description="Space-separated; none means the default scopes.")
    user: str | None = Field(
        None, description="A username or account id: preview a token on that user's behalf."
    )


class TokenPreviewOut(BaseModel):
    grant_type: str = Field(description="client_credentials, or authorization_code for a user")
    lifetime: int = Field(description="Seconds the access token lives")
    claims: dict[str, Any] = Field(
        description="The access token's claims; jti (and gid) vary per token and are shown as such"
    )


@router.post(
    "/clients/{client_id}/token-preview",
    response_model=TokenPreviewOut,
    openapi_extra=documented_body(PreviewRequest),
    summary="Preview the client's access token",
    description=(
        "The exact claims and lifetime the policy would give the client's access token now, for "
        "its own token or on a user's behalf; nothing is issued or stored. Scopes the client may "
        "not have are refused as the token endpoint refuses them."
    ),
    responses=problem_responses(400, 404),
)
async def preview_token(client_id: str, request: Request, previews: TokenPreviews) -> Any:
    body = await read_model(request, PreviewRequest)
    preview = await previews.preview(client_id, scope=body.scope, user=body.user)
    return {
        "grant_type": preview.grant_type,
        "lifetime": preview.lifetime,
        "claims": preview.claims,
    }
