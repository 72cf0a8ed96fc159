"""An app's co-owners (clients/ownership.py): owners add a verified developer by e-mail
as owner or viewer, change a role, remove one; never the last owner. Viewers see the
list and change nothing.

Routes: GET /portal/apps/{client_id}/owners; POST /portal/apps/{client_id}/owners;
POST /portal/apps/{client_id}/owners/{public_id}/role;
POST /portal/apps/{client_id}/owners/{public_id}/remove. A co-owner is named by their
account's public id.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from appward.clients.models import Client
from appward.clients.ownership import OwnerRole, parse_owner_role
from appward.errors import AppwardError, NotFound
from appward.users.models import User
from appward.web.page_access import PageCaller, posted_form, redirect_to
from appward.web.portal.app_access import (
    NO_STORE,
    PortalRoute,
    VerifiedDeveloper,
    app_for,
    app_url,
    owned_app,
)
from appward.web.portal.apps import notice
from appward.web.templates import field_errors, render

router = APIRouter(route_class=PortalRoute)

ROLE_CHOICES = [
    (OwnerRole.OWNER.value, "Owner", "Changes the app, its secrets and its co-owners."),
    (OwnerRole.VIEWER.value, "Viewer", "Sees the app; changes nothing and never sees a secret."),
]


async def _owners_page(
    request: Request,
    caller: PageCaller,
    client: Client,
    role: OwnerRole,
    *,
    errors: dict[str, str],
    values: dict[str, str],
    status_code: int = 200,
    done: str | None = None,
) -> Response:
    return render(
        request,
        "portal/app_owners.html",
        {
            "caller": caller,
            "client": client,
            "is_owner": role is OwnerRole.OWNER,
            "owners": await caller.services.ownership.owners(client),
            "errors": errors,
            "values": values,
            "role_choices": ROLE_CHOICES,
            "notice": notice(done),
        },
        status_code=status_code,
        headers=NO_STORE,
    )


def _blank_add_form() -> dict[str, str]:
    """The add-a-co-owner form as it first shows: no e-mail, the least role."""
    return {"email": "", "role": "viewer"}


async def _refused(
    request: Request,
    caller: PageCaller,
    client: Client,
    exc: AppwardError,
    *,
    values: dict[str, str] | None = None,
) -> Response:
    """The owners page again, for the owner whose change the domain refused: every
    change here is an owner's, so the page shows as theirs, the message beside its field
    and the error's status; ``values`` keeps what they typed into the add form."""
    return await _owners_page(
        request,
        caller,
        client,
        OwnerRole.OWNER,
        errors=field_errors(exc),
        values=_blank_add_form() if values is None else values,
        status_code=exc.status_code,
    )


@router.get("/apps/{client_id}/owners")
async def owners_page(
    client_id: str, request: Request, caller: VerifiedDeveloper, done: str | None = None
) -> Response:
    client, role = await app_for(caller, client_id)
    return await _owners_page(
        request, caller, client, role, errors={}, values=_blank_add_form(), done=done
    )


@router.post("/apps/{client_id}/owners")
async def add_owner(client_id: str, request: Request, caller: VerifiedDeveloper) -> Response:
    client = await owned_app(caller, client_id)
    form = await posted_form(request)
    values = {"email": form.get("email", ""), "role": form.get("role", "")}
    ownership = caller.services.ownership
    try:
        role = parse_owner_role(form.get("role"))
        user = await ownership.developer_by_email(form.get("email", ""))
        await ownership.set_role(client, user, role)
    except AppwardError as exc:
        return await _refused(request, caller, client, exc, values=values)
    return redirect_to(app_url(client, "/owners?done=owner_added"))


async def _co_owner(caller: PageCaller, client: Client, public_id: str) -> User:
    """Returns the account ``public_id`` names if it is on the app. Raises NotFound."""
    for owner in await caller.services.ownership.owners(client):
        if owner.user.public_id == public_id:
            return owner.user
    raise NotFound("no such co-owner", detail=f"public id {public_id!r}")


@router.post("/apps/{client_id}/owners/{public_id}/role")
async def change_role(
    client_id: str, public_id: str, request: Request, caller: VerifiedDeveloper
) -> Response:
    client = await owned_app(caller, client_id)
    user = await _co_owner(caller, client, public_id)
    form = await posted_form(request)
    try:
        await caller.services.ownership.set_role(client, user, parse_owner_role(form.get("role")))
    except AppwardError as exc:
        return await _refused(request, caller, client, exc)
    if user.id == caller.user.id:  # they made themselves a viewer
        return redirect_to(app_url(client, "?done=owner_changed"))
    return redirect_to(app_url(client, "/owners?done=owner_changed"))


@router.post("/apps/{client_id}/owners/{public_id}/remove")
async def remove_owner(
    client_id: str, public_id: str, request: Request, caller: VerifiedDeveloper
) -> Response:
    client = await owned_app(caller, client_id)
    user = await _co_owner(caller, client, public_id)
    await posted_form(request)
    try:
        await caller.services.ownership.remove(client, user)
    except AppwardError as exc:
        return await _refused(request, caller, client, exc)
    if user.id == caller.user.id:  # they left the app
        return redirect_to("/portal/apps?done=owner_removed")
    return redirect_to(app_url(client, "/owners?done=owner_removed"))
