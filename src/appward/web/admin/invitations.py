"""Admin API: invitations to sign up as a developer (/admin/v1/invitations,
users/invitations.py). Creating one mails its link; the link itself is in the answer
only when the server has no real mailer (development's log mailer), once, no-store."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from appward.errors import NotFound
from appward.presenters import present_invitation, present_items
from appward.web.admin.bodies import NO_STORE, documented_body, read_model
from appward.web.deps import AdminServices, State
from appward.web.openapi import problem_responses
from appward.web.portal.mailing import send_invitation

router = APIRouter()


class InvitationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(description="Where the invitation is mailed; the account gets it.")


class InvitationOut(BaseModel):
    id: int
    email: str | None
    created_at: datetime
    created_by: str
    expires_at: datetime


class IssuedInvitationOut(InvitationOut):
    invitation_url: str | None = Field(
        None,
        description="The link, only in development with the log mailer (shown once); "
        "otherwise it is only in the mail.",
    )


class InvitationList(BaseModel):
    items: list[InvitationOut]


@router.post(
    "/invitations",
    status_code=201,
    response_model=IssuedInvitationOut,
    response_model_exclude_none=True,
    summary="Invite a developer",
    openapi_extra=documented_body(InvitationIn),
    description="Mails a single-use invitation link (7 days) that opens the portal's sign-up "
    "form with this address; an earlier open invitation for it stops working.",
    responses=problem_responses(
        400,
        described={
            409: "An account has this address already",
            503: "The mail could not be sent (nothing is kept)",
        },
    ),
)
async def create_invitation(
    request: Request, response: Response, state: State, services: AdminServices
) -> Any:
    body = await read_model(request, InvitationIn)
    issued, shown = await send_invitation(state.settings, state.mailer, services, body.email)
    response.headers.update(NO_STORE)
    response.headers["Location"] = f"/admin/v1/invitations/{issued.record.id}"
    return {**present_invitation(issued.record), "invitation_url": shown}


@router.get(
    "/invitations",
    response_model=InvitationList,
    summary="List open invitations",
    description="The invitations not used yet nor expired, newest first (never their links).",
)
async def list_invitations(services: AdminServices) -> Any:
    return present_items(await services.invitations.open(), present_invitation)


@router.delete(
    "/invitations/{invitation_id}",
    status_code=204,
    summary="Revoke an invitation",
    description="Makes an open invitation's link stop working; audited.",
    responses=problem_responses(404),
)
async def revoke_invitation(invitation_id: str, services: AdminServices) -> Response:
    if not invitation_id.isdigit() or len(invitation_id) > 18:
        raise NotFound("no open invitation with this id")
    await services.invitations.revoke(int(invitation_id))
    return Response(status_code=204)
