"""An app's Keys, for its owners and co-owners (a viewer is refused, another developer's
app is a 404): what web/keys_tab.py shows, edited through the same ClientService.update
as the console, as the developer's own change. The patch holds only the Keys form's
fields, so the portal never sets assertion_audience or the introspection permission.

Routes: GET and POST /portal/apps/{client_id}/keys.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from appward.auth.client_keys import key_uses
from appward.clients.models import Client
from appward.errors import InvalidClientMetadata, InvalidInput, PreconditionFailed
from appward.web import keys_tab
from appward.web.page_access import PageCaller, posted_form, redirect_to
from appward.web.portal.app_access import (
    NO_STORE,
    PortalRoute,
    VerifiedDeveloper,
    app_url,
    owned_app,
)
from appward.web.templates import render

router = APIRouter(route_class=PortalRoute)

DONE = {"saved": "The keys were saved: they apply to the app's next request."}


async def _page(
    request: Request,
    caller: PageCaller,
    client: Client,
    values: dict[str, Any],
    *,
    errors: dict[str, str] | None = None,
    done: str | None = None,
    status_code: int = 200,
) -> Response:
    uses = await key_uses(caller.services.session, client.pk)
    return render(
        request,
        "portal/app_keys.html",
        {
            "caller": caller,
            "client": client,
            "keys": keys_tab.tab_context(client, uses, values, errors or {}),
            "done": DONE.get(done or ""),
            "action": app_url(client, "/keys"),
        },
        status_code=status_code,
        headers=NO_STORE,
    )


@router.get("/apps/{client_id}/keys")
async def keys_page(
    client_id: str, request: Request, caller: VerifiedDeveloper, done: str | None = None
) -> Response:
    client = await owned_app(caller, client_id)
    return await _page(request, caller, client, keys_tab.stored_values(client), done=done)


@router.post("/apps/{client_id}/keys")
async def save_keys(client_id: str, request: Request, caller: VerifiedDeveloper) -> Response:
    client = await owned_app(caller, client_id)
    form = await posted_form(request)
    values = keys_tab.posted_values(form)
    revision = str(values["revision"])
    if not revision.isascii() or not revision.isdigit() or len(revision) > 9:
        errors = {"": "The form is out of date: open the app again."}
        return await _page(request, caller, client, values, errors=errors, status_code=400)
    clients = caller.services.clients
    try:
        async with caller.services.session.begin_nested():
            await clients.update(
                client.client_id,
                keys_tab.patch_of(values, client),
                expected_revision=int(revision),
                by_developer=True,
            )
    except PreconditionFailed:
        current = await clients.get(client.client_id)
        values["revision"] = str(current.revision)
        return await _page(
            request, caller, current, values, errors={"": keys_tab.STALE}, status_code=409
        )
    except (InvalidClientMetadata, InvalidInput) as exc:
        client = await clients.get(client.client_id)
        return await _page(
            request,
            caller,
            client,
            values,
            errors=keys_tab.errors_by_input(exc),
            status_code=exc.status_code,
        )
    return redirect_to(app_url(client, "/keys?done=saved"))
