"""Admin API: end users who sign in at the authorization endpoint (/admin/v1/users)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from appward.presenters import present_items, present_user
from appward.web.admin.bodies import documented_body, read_model
from appward.web.deps import Users
from appward.web.openapi import problem_responses

router = APIRouter()


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
    openapi_extra=documented_body(UserIn),
    description="Creates an end user who can sign in at the authorization endpoint.",
    responses=problem_responses(
        400, described={409: "A user of that name exists already (conflict)"}
    ),
)
async def create_user(request: Request, users: Users) -> Any:
    body = await read_model(request, UserIn)
    return present_user(await users.create(body.username, body.password))


@router.get(
    "/users",
    response_model=UserList,
    summary="List end users",
    description="Lists the end users (never their passwords).",
)
async def list_users(users: Users) -> Any:
    return present_items(await users.all(), present_user)
