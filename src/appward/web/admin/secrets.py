"""Admin API: a client's secrets (/admin/v1/clients/{client_id}/secrets), for rotation."""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictInt

from appward.errors import ConfirmationRequired
from appward.presenters import present_items, present_new_secret, present_secret
from appward.web.admin.bodies import NO_STORE, documented_body, read_model
from appward.web.deps import Clients
from appward.web.openapi import problem_responses

router = APIRouter()


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


class SecretList(BaseModel):
    items: list[SecretOut]


class NewSecret(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: str | None = Field(None, max_length=100)
    expire_others_in: StrictInt | None = Field(
        None, description="Seconds of grace before every other secret of the client expires."
    )
    expires_at: AwareDatetime | None = Field(
        None,
        description="When the new secret expires (with its UTC offset), within 5 years; null: "
        "never; left out: after the server's APPWARD_CLIENT_SECRET_LIFETIME, if any.",
    )


@router.post(
    "/clients/{client_id}/secrets",
    status_code=201,
    response_model=IssuedSecretOut,
    summary="Add a secret (rotation)",
    openapi_extra=documented_body(NewSecret),
    description=(
        "Adds a secret, shown only this once, while the others keep working; expire_others_in "
        "gives them that many seconds of grace."
    ),
    responses=problem_responses(400, 404),
)
async def add_secret(client_id: str, request: Request, response: Response, clients: Clients) -> Any:
    body = await read_model(request, NewSecret)
    issued = await clients.add_secret(
        client_id,
        label=body.label,
        expire_others_in=body.expire_others_in,
        expires_at=body.expires_at if "expires_at" in body.model_fields_set else "default",
    )
    response.headers.update(NO_STORE)
    return {
        **present_new_secret(issued.record, clients.clock.now()),
        "client_secret": issued.plaintext,
    }


@router.get(
    "/clients/{client_id}/secrets",
    response_model=SecretList,
    summary="List secrets",
    description="Lists the client's secrets (never their values) with their expiry and last use.",
    responses=problem_responses(404),
)
async def list_secrets(client_id: str, clients: Clients) -> Any:
    now = clients.clock.now()
    return present_items(await clients.list_secrets(client_id), partial(present_secret, now=now))


@router.delete(
    "/clients/{client_id}/secrets/{secret_id}",
    status_code=204,
    summary="Revoke a secret",
    description=(
        "Revokes one secret of the client at once. A secret used in the last 24 hours is revoked "
        "only with confirm=true: without it the answer is 409, naming when it was last used "
        "(last_used_at)."
    ),
    responses=problem_responses(
        404,
        described={
            400: "confirm is not a boolean (invalid_input)",
            409: "The secret was used in the last 24 hours: repeat with confirm=true",
        },
    ),
)
async def revoke_secret(
    client_id: str,
    secret_id: str,
    clients: Clients,
    confirm: Annotated[
        bool, Query(description="Revoke even though it was used in the last 24 hours.")
    ] = False,
) -> Response:
    try:
        await clients.revoke_secret(client_id, secret_id, confirmed=confirm)
    except ConfirmationRequired as exc:
        raise exc.with_hint("repeat the request with ?confirm=true to revoke it") from None
    return Response(status_code=204)
