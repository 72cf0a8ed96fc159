"""Admin API: initial access tokens for Dynamic Client Registration (RFC 7591 §3),
at /admin/v1/initial-access-tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from appward.presenters import present_initial_access_token, present_items
from appward.registration.initial_access_tokens import (
    InitialAccessTokenRequest,
    parse_initial_access_token_request,
)
from appward.web.admin.bodies import NO_STORE, documented_body, read_object
from appward.web.deps import InitialAccessTokens
from appward.web.openapi import problem_responses

router = APIRouter()


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


@router.post(
    "/initial-access-tokens",
    status_code=201,
    response_model=IssuedInitialAccessTokenOut,
    openapi_extra=documented_body(InitialAccessTokenRequest, title="InitialAccessTokenIn"),
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
    body = parse_initial_access_token_request(await read_object(request))
    issued = await tokens.create(**body.model_dump())
    response.headers.update(NO_STORE)
    return {**present_initial_access_token(issued.record), "token": issued.plaintext}


@router.get(
    "/initial-access-tokens",
    response_model=InitialAccessTokenList,
    summary="List initial access tokens",
    description="Lists initial access tokens (never their values) with their use counts.",
)
async def list_initial_access_tokens(tokens: InitialAccessTokens) -> Any:
    return present_items(await tokens.all(), present_initial_access_token)


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
