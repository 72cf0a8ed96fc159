"""Inviting developers (/console/invitations): an admin enters an e-mail address, the
invitation link is mailed (or, in development with the log mailer, shown once on the
page rendered from the post), the open invitations are listed, and one can be revoked.
The rules are users/invitations.py's."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from appward.errors import AppwardError, NotFound
from appward.web.deps import State
from appward.web.page_access import ConsoleAdmin, PageCaller, posted_form, redirect_to
from appward.web.portal.app_access import NO_STORE, PortalRoute
from appward.web.portal.mailing import send_invitation
from appward.web.templates import field_errors, render

# PortalRoute: an unknown invitation is a 404 page, a mail server that refuses a 503 page.
router = APIRouter(route_class=PortalRoute)


async def _page(
    request: Request,
    caller: PageCaller,
    *,
    errors: dict[str, str],
    email: str = "",
    sent_to: str | None = None,
    dev_link: str | None = None,
    revoked: bool = False,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "console/invitations.html",
        {
            "caller": caller,
            "invitations": await caller.services.invitations.open(),
            "errors": errors,
            "email": email,
            "sent_to": sent_to,
            "dev_link": dev_link,
            "revoked": revoked,
        },
        status_code=status_code,
        headers=NO_STORE,
    )


@router.get("/invitations")
async def invitations_page(
    request: Request, caller: ConsoleAdmin, done: str | None = None
) -> Response:
    return await _page(request, caller, errors={}, revoked=done == "revoked")


@router.post("/invitations")
async def invite(request: Request, state: State, caller: ConsoleAdmin) -> Response:
    form = await posted_form(request)
    email = form.get("email", "")
    try:
        issued, shown = await send_invitation(state.settings, state.mailer, caller.services, email)
    except AppwardError as exc:
        if exc.status_code >= 500:
            raise  # the unit of work rolls the invitation back; PortalRoute says why
        return await _page(
            request, caller, errors=field_errors(exc), email=email, status_code=exc.status_code
        )
    # Rendered from the post: the development link is shown this once, never stored.
    return await _page(request, caller, errors={}, sent_to=issued.record.email, dev_link=shown)


@router.post("/invitations/{invitation_id}/revoke")
async def revoke(invitation_id: str, request: Request, caller: ConsoleAdmin) -> Response:
    await posted_form(request)
    if not invitation_id.isdigit() or len(invitation_id) > 18:
        raise NotFound("no open invitation with this id")
    await caller.services.invitations.revoke(int(invitation_id))
    return redirect_to("/console/invitations?done=revoked")
