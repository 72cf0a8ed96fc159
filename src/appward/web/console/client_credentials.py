"""A client's Credentials tab: its secrets, adding one (with a grace period for the others)
and the safe revoke.

A new secret is shown once, in the answer to the POST that made it (no-store, never in a
URL); the page after a revoke is a redirect with ``?done=revoked``. Revoking a secret used
in the last day answers with a confirmation page naming its last use (the domain's
ConfirmationRequired); a second post with confirm=yes revokes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request, Response

from appward.clients.auth_methods import is_public_method, uses_secret
from appward.clients.models import Client, ClientSecret
from appward.clients.secret_encryption import ENCRYPTED_STORAGE, secret_storage
from appward.clients.secrets import (
    EXPIRY_PRESET_DAYS,
    MAX_GRACE_DAYS,
    OTHERS_KEEP,
    expires_soon,
    read_new_secret_choice,
    time_since,
    used_recently,
)
from appward.clients.service import IssuedSecret
from appward.errors import AppwardError, ConfirmationRequired, NotFound
from appward.web.console.client_tab import client_tab, not_found_page
from appward.web.page_access import ConsoleAdmin, PageCaller, posted_form, redirect_to
from appward.web.templates import field_errors, render

router = APIRouter()

NO_STORE = {"Cache-Control": "no-store"}
# The expiry the form offers first: a secret should not live for ever by default.
DEFAULT_EXPIRY = "90"
DONE = {
    "revoked": "The secret was revoked: it no longer authenticates the client.",
}


@dataclass(frozen=True, slots=True)
class SecretRow:
    """One secret as the tab lists it, with what the domain says of it now."""

    secret: ClientSecret
    usable: bool
    expires_soon: bool
    used_recently: bool


def _rows(secrets: list[ClientSecret], now: datetime) -> list[SecretRow]:
    # Newest first: the one just added, or about to replace the others, is on top.
    return [
        SecretRow(
            secret,
            secret.is_usable(now),
            secret.is_usable(now) and expires_soon(secret.expires_at, now),
            used_recently(secret.last_used_at, now),
        )
        for secret in reversed(secrets)
    ]


def _path(client_id: str) -> str:
    return f"/console/clients/{quote(client_id, safe='')}/credentials"


async def _page(
    request: Request,
    caller: PageCaller,
    client: Client,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    issued: IssuedSecret | None = None,
    done: str | None = None,
    status_code: int = 200,
) -> Response:
    services = caller.services
    now = services.clients.clock.now()
    method = client.token_endpoint_auth_method
    context: dict[str, Any] = {
        **client_tab(client, "credentials", caller),
        "uses_secret": uses_secret(method),
        "public_client": is_public_method(method),
        # argon2id or aes-256-gcm (clients/secret_encryption.py): shown beside the list.
        "secret_storage": secret_storage(method),
        "secret_encrypted": secret_storage(method) == ENCRYPTED_STORAGE,
        "rows": _rows(await services.clients.list_secrets(client.client_id), now),
        "now": now,
        "values": values or {"expiry": DEFAULT_EXPIRY, "others": OTHERS_KEEP},
        "errors": errors or {},
        "issued": issued,
        "done": DONE.get(done or ""),
        "expiry_presets": EXPIRY_PRESET_DAYS,
        "max_grace_days": MAX_GRACE_DAYS,
        "action": _path(client.client_id),
    }
    # Every answer here lists secrets' metadata, and one of them a new secret: no cache.
    return render(
        request,
        "console/client_credentials.html",
        context,
        status_code=status_code,
        headers=NO_STORE,
    )


@router.get("/clients/{client_id}/credentials")
async def credentials_tab(
    client_id: str, request: Request, caller: ConsoleAdmin, done: str | None = None
) -> Response:
    try:
        client = await caller.services.clients.get(client_id)
    except NotFound:
        return not_found_page(request)
    return await _page(request, caller, client, done=done)


@router.post("/clients/{client_id}/credentials")
async def add_secret(client_id: str, request: Request, caller: ConsoleAdmin) -> Response:
    """Adds a secret and shows it, this once, in the answer itself."""
    form = await posted_form(request)
    clients = caller.services.clients
    try:
        client = await clients.get(client_id)
    except NotFound:
        return not_found_page(request)
    try:
        choice = read_new_secret_choice(
            expiry=form.get("expiry"),
            expiry_date=form.get("expiry_date"),
            others=form.get("others"),
            grace_days=form.get("grace_days"),
            now=clients.clock.now(),
        )
        # A savepoint: a refused secret leaves nothing behind, not even the others' grace.
        async with caller.services.session.begin_nested():
            issued = await clients.add_secret(
                client_id,
                label=form.get("label"),
                expire_others_in=choice.expire_others_in,
                expires_at=choice.expires_at,
            )
    except NotFound:
        return not_found_page(request)
    except AppwardError as exc:
        client = await clients.get(client_id)  # read again: the savepoint's undo expired it
        return await _page(
            request,
            caller,
            client,
            values=form,
            errors=field_errors(exc),
            status_code=exc.status_code,
        )
    return await _page(request, caller, client, issued=issued, status_code=201)


@router.post("/clients/{client_id}/credentials/{secret_id}/revoke")
async def revoke_secret(
    client_id: str, secret_id: str, request: Request, caller: ConsoleAdmin
) -> Response:
    """Revokes one secret; one used in the last day only once confirmed (confirm=yes)."""
    form = await posted_form(request)
    clients = caller.services.clients
    try:
        client = await clients.get(client_id)
        await clients.revoke_secret(client_id, secret_id, confirmed=form.get("confirm") == "yes")
    except NotFound:
        return not_found_page(request)
    except ConfirmationRequired as exc:
        secret = next(s for s in await clients.list_secrets(client_id) if s.id == secret_id)
        return render(
            request,
            "console/client_revoke_confirm.html",
            {
                **client_tab(client, "credentials", caller),
                "secret": secret,
                "last_used_at": exc.last_used_at,
                "ago": time_since(exc.last_used_at, clients.clock.now()),
                "action": f"{_path(client_id)}/{quote(secret_id, safe='')}/revoke",
                "back": _path(client_id),
            },
            status_code=exc.status_code,
            headers=NO_STORE,
        )
    return redirect_to(f"{_path(client_id)}?done=revoked#secrets")
