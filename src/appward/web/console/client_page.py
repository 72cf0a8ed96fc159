"""A client's page: its header (enable/disable, verified, delete, revoke all tokens), the
Settings tab and the Activity tab.

An unknown (or deleted) client_id is a 404 page on every route, GET or POST. The header's
actions come back to the Settings tab with a notice saying what was done.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from appward.audit import AuditFilter, field_changes
from appward.clients.models import Client
from appward.clients.service import ClientChange
from appward.errors import (
    InvalidClientMetadata,
    InvalidInput,
    NotFound,
    PreconditionFailed,
)
from appward.web.console import client_form
from appward.web.console.client_form import FormValues
from appward.web.console.client_tab import not_found_page
from appward.web.page_access import ConsoleAdmin, PageCaller, error_page, posted_form, redirect_to
from appward.web.responses import NO_STORE
from appward.web.templates import field_errors, render

router = APIRouter()

ACTIVITY_PAGE_SIZE = 25
NOTICES = {
    "saved": "The settings were saved.",
    "disabled": "The client was disabled: it can get no tokens, and those it holds stop working.",
    "enabled": "The client was enabled. Tokens issued before it was disabled stay revoked.",
    "verified": "The client is marked verified: consent no longer calls it unverified.",
    "unverified": "The client is no longer marked verified.",
    "tokens-revoked": "Every token issued to the client so far was revoked.",
}
STALE = (
    "Someone else changed this client after you opened the page, so nothing was saved. "
    "Your edits are kept below; compare them with the current settings (open the page "
    "again in another tab) and save again to apply them over the other change."
)


def _base(client_id: str) -> str:
    return f"/console/clients/{client_id}"


def _settings_page(
    request: Request,
    caller: PageCaller,
    client: Client,
    values: FormValues,
    *,
    revision: int,
    errors: dict[str, str] | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "console/client_settings.html",
        {
            "caller": caller,
            "client": client,
            "tab": "settings",
            "values": values,
            "revision": revision,
            "errors": errors or {},
            "notice": notice,
            "form": client_form,
        },
        status_code=status_code,
        headers={"Cache-Control": "no-store"},
    )


@router.get("/clients/{client_id}")
async def client_settings(client_id: str, request: Request, caller: ConsoleAdmin) -> Response:
    try:
        client = await caller.services.clients.get(client_id)
    except NotFound:
        return not_found_page(request)
    notice = NOTICES.get(request.query_params.get("done", ""))
    values = client_form.client_values(client)
    return _settings_page(request, caller, client, values, revision=client.revision, notice=notice)


def _revision(form: dict[str, str]) -> int | None:
    text = form.get("revision", "")
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 9 else None


@router.post("/clients/{client_id}")
async def save_settings(client_id: str, request: Request, caller: ConsoleAdmin) -> Response:
    """Saves the Settings form on the condition that the client is still at the revision
    the form was read at: else nothing is saved and the form comes back as it was sent."""
    form = await posted_form(request)
    clients = caller.services.clients
    values = client_form.posted_values(form, client_form.SETTINGS_FIELDS)
    try:
        client = await clients.get(client_id)
    except NotFound:
        return not_found_page(request)
    expected = _revision(form)
    if expected is None:
        errors = {"": "The form has lost its revision: open the page again."}
        return _settings_page(
            request, caller, client, values, revision=client.revision, errors=errors,
            status_code=400,
        )  # fmt: skip
    try:
        change = await clients.update(
            client_id, client_form.metadata_from(values, patch=True), expected_revision=expected
        )
    except NotFound:
        return not_found_page(request)
    except PreconditionFailed:
        # The other change is not lost (it is stored) and neither are these edits: they
        # come back with the current revision, so saving again is a deliberate overwrite.
        current = await clients.get(client_id)
        return _settings_page(
            request, caller, current, values, revision=current.revision, errors={"": STALE},
            status_code=409,
        )  # fmt: skip
    except (InvalidClientMetadata, InvalidInput) as exc:
        return _settings_page(
            request, caller, client, values, revision=expected, errors=field_errors(exc),
            status_code=exc.status_code,
        )  # fmt: skip
    if change.secret is not None:
        return _new_secret_page(request, caller, change)
    return redirect_to(f"{_base(client_id)}?done=saved")


def _new_secret_page(request: Request, caller: PageCaller, change: ClientChange) -> Response:
    """A change to a secret-based method issued a first secret: shown once, from the POST."""
    assert change.secret is not None
    return render(
        request,
        "console/client_settings_secret.html",
        {
            "caller": caller,
            "client": change.client,
            "tab": "settings",
            "secret": change.secret.plaintext,
        },
        headers=dict(NO_STORE),
    )


# --- the Activity tab ---


@router.get("/clients/{client_id}/activity")
async def client_activity(
    client_id: str, request: Request, caller: ConsoleAdmin, cursor: str | None = None
) -> Response:
    try:
        client = await caller.services.clients.get(client_id)
    except NotFound:
        return not_found_page(request)
    errors: dict[str, str] = {}
    events: list[dict[str, Any]] = []
    next_cursor = None
    try:
        page = await caller.services.audit.query(
            AuditFilter(client_id=client_id), cursor=cursor, limit=ACTIVITY_PAGE_SIZE
        )
        events = []
        for event in page.items:
            changes = field_changes(event)
            # Before/after columns for an event that recorded old values (an update).
            paired = any(change.had_old for change in changes)
            events.append({"event": event, "changes": changes, "paired": paired})
        next_cursor = page.next_cursor
    except InvalidInput as exc:
        errors = field_errors(exc)
    base = f"{_base(client_id)}/activity"
    return render(
        request,
        "console/client_activity.html",
        {
            "caller": caller,
            "client": client,
            "tab": "activity",
            "events": events,
            "errors": errors,
            "next_url": f"{base}?cursor={next_cursor}" if next_cursor else None,
            "first_url": base if cursor else None,
        },
        status_code=400 if errors else 200,
    )


# --- the header's actions ---


@router.post("/clients/{client_id}/status")
async def set_status(client_id: str, request: Request, caller: ConsoleAdmin) -> Response:
    form = await posted_form(request)
    status = {"disabled": "disabled", "active": "active"}.get(form.get("status", ""))
    try:
        if status is None:
            await caller.services.clients.get(client_id)  # an unknown client is still a 404
            return _refused(request, "Choose whether to enable or disable the client.")
        await caller.services.clients.set_status(client_id, status)
    except NotFound:
        return not_found_page(request)
    done = "disabled" if status == "disabled" else "enabled"
    return redirect_to(f"{_base(client_id)}?done={done}")


@router.post("/clients/{client_id}/verified")
async def set_verified(client_id: str, request: Request, caller: ConsoleAdmin) -> Response:
    form = await posted_form(request)
    verified = {"true": True, "false": False}.get(form.get("verified", ""))
    try:
        if verified is None:
            await caller.services.clients.get(client_id)
            return _refused(request, "Choose whether the client is verified.")
        await caller.services.clients.set_verified(client_id, verified)
    except NotFound:
        return not_found_page(request)
    return redirect_to(f"{_base(client_id)}?done={'verified' if verified else 'unverified'}")


@router.post("/clients/{client_id}/revoke-tokens")
async def revoke_tokens(client_id: str, request: Request, caller: ConsoleAdmin) -> Response:
    await posted_form(request)
    try:
        await caller.services.clients.revoke_tokens(client_id)
    except NotFound:
        return not_found_page(request)
    return redirect_to(f"{_base(client_id)}?done=tokens-revoked")


def _refused(request: Request, message: str) -> Response:
    return error_page(request, "Nothing was changed", message, status_code=400)


def _delete_page(
    request: Request,
    caller: PageCaller,
    client: Client,
    typed: str = "",
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "console/client_delete.html",
        {
            "caller": caller,
            "client": client,
            "tab": "settings",
            "typed": typed,
            "errors": errors or {},
        },
        status_code=status_code,
    )


@router.get("/clients/{client_id}/delete")
async def confirm_delete(client_id: str, request: Request, caller: ConsoleAdmin) -> Response:
    try:
        client = await caller.services.clients.get(client_id)
    except NotFound:
        return not_found_page(request)
    return _delete_page(request, caller, client)


@router.post("/clients/{client_id}/delete")
async def delete_client(client_id: str, request: Request, caller: ConsoleAdmin) -> Response:
    """Deletes the client once the admin has typed its name (the domain compares them)."""
    form = await posted_form(request)
    typed = form.get("confirm_name", "")
    clients = caller.services.clients
    try:
        await clients.delete_confirmed(client_id, typed)
    except NotFound:
        return not_found_page(request)
    except InvalidInput as exc:
        client = await clients.get(client_id)
        return _delete_page(request, caller, client, typed, field_errors(exc), exc.status_code)
    return redirect_to("/console/clients?done=deleted")
