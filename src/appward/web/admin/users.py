"""Admin API: accounts (/admin/v1/users), addressed by their public id (a token's sub):
end users, developers and admins; roles, e-mail, disabling, sessions, deleting."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from appward.presenters import present_items, present_user
from appward.users.account_security import reset_url
from appward.users.service import KEEP, parse_role
from appward.web.admin.bodies import documented_body, read_model
from appward.web.deps import AdminServices, State, Users
from appward.web.openapi import problem_responses

router = APIRouter()

ROLE_DESCRIPTION = "admin (the console), developer (the portal), or null / none: an end user"


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str
    password: str = Field(repr=False)
    role: str | None = Field(None, description=ROLE_DESCRIPTION)
    email: str | None = Field(None, description="Unique regardless of case; unverified.")


class UserPatch(BaseModel):
    """The fields to change; a field left out stays as it is."""

    model_config = ConfigDict(extra="forbid")

    role: str | None = Field(None, description=ROLE_DESCRIPTION)
    email: str | None = Field(
        None,
        description="A new address is unverified (unless email_verified: true); null removes it.",
    )
    email_verified: StrictBool | None = Field(
        None, description="Whether the address is verified (set or cleared by an admin)."
    )


class UserOut(BaseModel):
    id: str = Field(description="The public id: the sub of the account's tokens")
    username: str
    email: str | None
    email_verified: bool
    email_verified_at: datetime | None
    role: str | None
    disabled_at: datetime | None
    created_at: datetime


class UserList(BaseModel):
    items: list[UserOut]


class SessionsEnded(BaseModel):
    sessions_ended: int


class PasswordResetIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    temporary: StrictBool = Field(
        False,
        description="false: a single-use reset link; true: a temporary password the "
        "account must change at its next sign-in.",
    )


class PasswordResetOut(BaseModel):
    """Shown once: neither the link's token nor the temporary password is kept."""

    link: str | None = Field(None, description="The single-use reset link, to pass on")
    expires_at: datetime | None = Field(None, description="When the link stops working")
    temporary_password: str | None = Field(None, description="The temporary password")


class SecondFactorReset(BaseModel):
    removed: bool = Field(description="Whether the account had a second factor")


@router.post(
    "/users",
    status_code=201,
    response_model=UserOut,
    summary="Create an account",
    openapi_extra=documented_body(UserIn),
    description="Creates an account that can sign in at the authorization endpoint: an end "
    "user, or with a role a developer or an admin.",
    responses=problem_responses(
        400, described={409: "A user of that name or e-mail address exists already (conflict)"}
    ),
)
async def create_user(request: Request, response: Response, users: Users) -> Any:
    body = await read_model(request, UserIn)
    user = await users.create(
        body.username, body.password, role=parse_role(body.role), email=body.email
    )
    response.headers["Location"] = f"/admin/v1/users/{user.public_id}"
    return present_user(user)


@router.get(
    "/users",
    response_model=UserList,
    summary="List accounts",
    description="Lists the accounts, oldest first (never their passwords).",
)
async def list_users(users: Users) -> Any:
    return present_items(await users.all(), present_user)


@router.get(
    "/users/{public_id}",
    response_model=UserOut,
    summary="Read an account",
    description="The account whose public id (its tokens' sub) this is.",
    responses=problem_responses(404),
)
async def read_user(public_id: str, users: Users) -> Any:
    return present_user(await users.by_public_id(public_id))


@router.patch(
    "/users/{public_id}",
    response_model=UserOut,
    summary="Change an account's role or e-mail address",
    openapi_extra=documented_body(UserPatch),
    description="Changes the fields given (role, email, email_verified); every change is "
    "audited. Nothing changes if any field is invalid.",
    responses=problem_responses(400, 404, described={409: "Another account has that address"}),
)
async def update_user(public_id: str, request: Request, users: Users) -> Any:
    body = await read_model(request, UserPatch)
    given = body.model_fields_set
    user = await users.by_public_id(public_id)
    updated = await users.update(
        user,
        role=parse_role(body.role) if "role" in given else KEEP,
        email=body.email if "email" in given else KEEP,
        email_verified=_verified(body.email_verified) if "email_verified" in given else KEEP,
    )
    return present_user(updated)


def _verified(value: bool | None) -> bool:
    return bool(value)  # null: not verified


@router.post(
    "/users/{public_id}/disable",
    response_model=UserOut,
    summary="Disable an account",
    description="The account cannot sign in, its sessions end at once, and its codes and "
    "refresh tokens stop working, until it is enabled again. The apps it owns keep working, "
    "unless `with_clients=true`: then every app it is an owner of (not those it only views) "
    "is disabled too.",
    responses=problem_responses(
        404, described={400: "with_clients is not a boolean (invalid_input)"}
    ),
)
async def disable_user(public_id: str, services: AdminServices, with_clients: bool = False) -> Any:
    user = await services.users.disable(await services.users.by_public_id(public_id))
    if with_clients:
        await services.clients.disable_all(await services.ownership.client_ids_owned_by(user))
    return present_user(user)


@router.post(
    "/users/{public_id}/enable",
    response_model=UserOut,
    summary="Enable an account",
    description="Lets a disabled account sign in again.",
    responses=problem_responses(404),
)
async def enable_user(public_id: str, users: Users) -> Any:
    return present_user(await users.enable(await users.by_public_id(public_id)))


@router.post(
    "/users/{public_id}/end-sessions",
    response_model=SessionsEnded,
    summary="End an account's sessions",
    description="Signs the account out of every browser: each of its sessions ends now.",
    responses=problem_responses(404),
)
async def end_user_sessions(public_id: str, users: Users) -> Any:
    return {"sessions_ended": await users.end_sessions(await users.by_public_id(public_id))}


@router.delete(
    "/users/{public_id}",
    status_code=204,
    summary="Delete an account",
    description="Deletes the account with its sessions, consents and grants: every code, "
    "refresh token and access token issued to it stops working. Its audit events stay.",
    responses=problem_responses(404),
)
async def delete_user(public_id: str, users: Users) -> Response:
    await users.delete(await users.by_public_id(public_id))
    return Response(status_code=204)


@router.post(
    "/users/{public_id}/password-reset",
    response_model=PasswordResetOut,
    response_model_exclude_none=True,
    summary="Reset an account's password",
    openapi_extra=documented_body(PasswordResetIn),
    description="Gives, once, a single-use link at which the account chooses a new "
    "password, or (temporary: true) sets a temporary password the account must change "
    "at its next sign-in. Either way its sessions end and earlier reset links stop "
    "working. Audited; neither the link nor the password is kept or logged.",
    responses=problem_responses(400, 404),
)
async def reset_user_password(
    public_id: str, request: Request, response: Response, services: AdminServices, state: State
) -> Any:
    body = await read_model(request, PasswordResetIn)
    user = await services.users.by_public_id(public_id)
    response.headers["Cache-Control"] = "no-store"
    security = services.account_security
    if body.temporary:
        return {"temporary_password": await security.set_temporary_password(user)}
    link = await security.issue_reset_link(user)
    return {
        "link": reset_url(state.settings.issuer, link.token),
        "expires_at": link.record.expires_at,
    }


@router.post(
    "/users/{public_id}/reset-two-factor",
    response_model=SecondFactorReset,
    summary="Reset an account's second factor",
    description="Removes the account's TOTP second factor and its recovery codes (for an "
    "account that lost both); it signs in with its password alone until it sets one up "
    "again. Audited.",
    responses=problem_responses(404),
)
async def reset_user_second_factor(public_id: str, services: AdminServices) -> Any:
    user = await services.users.by_public_id(public_id)
    return {"removed": await services.account_security.reset_second_factor(user)}
