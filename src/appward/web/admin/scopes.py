"""Admin API: the scopes clients may be allowed (/admin/v1/scopes)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, StrictBool

from appward.presenters import present_items, present_scope
from appward.web.admin.bodies import documented_body, read_model
from appward.web.deps import Scopes
from appward.web.openapi import problem_responses

router = APIRouter()


class ScopeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    description: str
    admin_only: StrictBool = False
    sensitive: StrictBool = False


class ScopePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str | None = None
    admin_only: StrictBool | None = None
    sensitive: StrictBool | None = None


class ScopeOut(BaseModel):
    name: str
    description: str
    admin_only: bool
    sensitive: bool
    created_at: datetime
    updated_at: datetime


class ScopeList(BaseModel):
    items: list[ScopeOut]


@router.post(
    "/scopes",
    status_code=201,
    response_model=ScopeOut,
    summary="Create a scope",
    openapi_extra=documented_body(ScopeIn),
    description=(
        "Creates a scope that clients may then be allowed; an admin-only one is never granted to "
        "a self-registered client, and a sensitive one puts a portal client in review."
    ),
    responses=problem_responses(
        400, described={409: "A scope of that name exists already (conflict)"}
    ),
)
async def create_scope(request: Request, scopes: Scopes) -> Any:
    body = await read_model(request, ScopeIn)
    return present_scope(
        await scopes.create(
            body.name, body.description, admin_only=body.admin_only, sensitive=body.sensitive
        )
    )


@router.get(
    "/scopes",
    response_model=ScopeList,
    summary="List scopes",
    description="Lists every scope, the built-in appward:admin included.",
)
async def list_scopes(scopes: Scopes) -> Any:
    return present_items(await scopes.all(), present_scope)


@router.get(
    "/scopes/{name}",
    response_model=ScopeOut,
    summary="Read a scope",
    description="One scope, with its description and admin-only flag.",
    responses=problem_responses(404),
)
async def read_scope(name: str, scopes: Scopes) -> Any:
    return present_scope(await scopes.get(name))


@router.patch(
    "/scopes/{name}",
    response_model=ScopeOut,
    summary="Update a scope",
    openapi_extra=documented_body(ScopePatch),
    description="Changes a scope's description, its admin-only flag or its sensitive flag.",
    responses=problem_responses(400, 404),
)
async def update_scope(name: str, request: Request, scopes: Scopes) -> Any:
    body = await read_model(request, ScopePatch)
    return present_scope(
        await scopes.update(
            name,
            description=body.description,
            admin_only=body.admin_only,
            sensitive=body.sensitive,
        )
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
