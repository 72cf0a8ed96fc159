"""A client's Keys tab in the console (web/keys_tab.py has what it shows and how the form
becomes a patch): GET and POST /console/clients/{client_id}/keys.

The form is saved by ClientService.update (audited, announced to every credential cache)
at the revision it was read at: a stale one, or any invalid field, shows the form again
as posted with the domain's messages beside their inputs, nothing stored.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request, Response

from appward.auth.client_keys import key_uses
from appward.clients.models import Client
from appward.errors import InvalidClientMetadata, InvalidInput, NotFound, PreconditionFailed
from appward.web import keys_tab
from appward.web.console.client_tab import client_tab, not_found_page
from appward.web.page_access import ConsoleAdmin, PageCaller, posted_form, redirect_to
from appward.web.responses import NO_STORE
from appward.web.templates import render

router = APIRouter()

DONE = {"saved": "The keys were saved: they apply to the client's next request."}


def _path(client: Client) -> str:
    return f"/console/clients/{quote(client.client_id, safe='')}/keys"


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
        "console/client_keys.html",
        {
            **client_tab(client, "keys", caller),
            "keys": keys_tab.tab_context(client, uses, values, errors or {}),
            "done": DONE.get(done or ""),
            "action": _path(client),
        },
        status_code=status_code,
        headers=dict(NO_STORE),
    )


@router.get("/clients/{client_id}/keys")
async def keys_page(
    client_id: str, request: Request, caller: ConsoleAdmin, done: str | None = None
) -> Response:
    try:
        client = await caller.services.clients.get(client_id)
    except NotFound:
        return not_found_page(request)
    return await _page(request, caller, client, keys_tab.stored_values(client), done=done)


@router.post("/clients/{client_id}/keys")
async def save_keys(client_id: str, request: Request, caller: ConsoleAdmin) -> Response:
    form = await posted_form(request)
    clients = caller.services.clients
    try:
        client = await clients.get(client_id)
    except NotFound:
        return not_found_page(request)
    values = keys_tab.posted_values(form)
    revision = str(values["revision"])
    if not revision.isascii() or not revision.isdigit() or len(revision) > 9:
        errors = {"": "The form has lost its revision: open the page again."}
        return await _page(request, caller, client, values, errors=errors, status_code=400)
    try:
        async with caller.services.session.begin_nested():
            await clients.update(
                client_id, keys_tab.patch_of(values, client), expected_revision=int(revision)
            )
    except NotFound:
        return not_found_page(request)
    except PreconditionFailed:
        current = await clients.get(client_id)
        values["revision"] = str(current.revision)
        return await _page(
            request, caller, current, values, errors={"": keys_tab.STALE}, status_code=409
        )
    except (InvalidClientMetadata, InvalidInput) as exc:
        client = await clients.get(client_id)
        return await _page(
            request,
            caller,
            client,
            values,
            errors=keys_tab.errors_by_input(exc),
            status_code=exc.status_code,
        )
    return redirect_to(f"{_path(client)}?done=saved")
