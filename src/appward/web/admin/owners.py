"""Admin API: a client's owners and viewers (/admin/v1/clients/{client_id}/owners), the
developer portal's co-owners (clients/ownership.py), addressed by the account's public
id. The same rules as the portal's: only a verified developer, never the last owner."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from appward.clients.ownership import OwnershipService, parse_owner_role
from appward.presenters import present_co_owner, present_items
from appward.services import Services
from appward.web.admin.bodies import documented_body, read_model
from appward.web.deps import AdminServices
from appward.web.openapi import problem_responses

router = APIRouter()


async def ownership_service(services: AdminServices) -> OwnershipService:
    return services.ownership


Ownership = Annotated[OwnershipService, Depends(ownership_service)]


class OwnerOut(BaseModel):
    id: str = Field(description="The account's public id")
    username: str
    email: str | None
    role: str = Field(description="owner or viewer")
    added_at: datetime


class OwnerList(BaseModel):
    items: list[OwnerOut]


class OwnerRoleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: str = Field(description="owner (changes everything) or viewer (sees, never a secret)")


@router.get(
    "/clients/{client_id}/owners",
    response_model=OwnerList,
    summary="List a client's owners",
    description="The developers who own or view the client on the portal, oldest first.",
    responses=problem_responses(404),
)
async def list_owners(client_id: str, services: AdminServices) -> Any:
    client = await services.clients.get(client_id)
    return present_items(await services.ownership.owners(client), present_co_owner)


@router.put(
    "/clients/{client_id}/owners/{public_id}",
    response_model=OwnerOut,
    summary="Add a co-owner or change their role",
    openapi_extra=documented_body(OwnerRoleIn),
    description="Makes the account (an active developer with a verified e-mail address) an "
    "owner or viewer of the client; audited. The last owner cannot become a viewer.",
    responses=problem_responses(
        400, 404, described={409: "The client would be left without an owner"}
    ),
)
async def put_owner(
    client_id: str, public_id: str, request: Request, services: AdminServices
) -> Any:
    body = await read_model(request, OwnerRoleIn)
    client, user = await _client_and_user(services, client_id, public_id)
    return present_co_owner(
        await services.ownership.set_role(client, user, parse_owner_role(body.role))
    )


@router.delete(
    "/clients/{client_id}/owners/{public_id}",
    status_code=204,
    summary="Remove a co-owner",
    description="Takes the account off the client; audited. The last owner cannot be removed.",
    responses=problem_responses(404, described={409: "It is the client's last owner"}),
)
async def delete_owner(client_id: str, public_id: str, services: AdminServices) -> Response:
    client, user = await _client_and_user(services, client_id, public_id)
    await services.ownership.remove(client, user)
    return Response(status_code=204)


async def _client_and_user(services: Services, client_id: str, public_id: str) -> Any:
    return await services.clients.get(client_id), await services.users.by_public_id(public_id)
