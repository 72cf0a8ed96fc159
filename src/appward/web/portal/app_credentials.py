"""An app's secrets: add (rotate, with a grace period for the others) and revoke (the
safe revoke: one used in the last day needs a second, explicit confirmation), over the
same ClientService calls as the console and the admin API. Owners only: a viewer never
sees a secret, nor what secrets there are.

Routes: GET /portal/apps/{client_id}/secrets; POST /portal/apps/{client_id}/secrets (the
new secret is shown once, rendered from the POST, no-store); POST
/portal/apps/{client_id}/secrets/{secret_id}/revoke.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from appward.clients.auth_methods import uses_secret
from appward.clients.models import Client
from appward.errors import AppwardError, ConfirmationRequired, FieldError, InvalidInput
from appward.presenters import present_secret
from appward.web.page_access import PageCaller, posted_form, redirect_to
from appward.web.portal.app_access import (
    NO_STORE,
    PortalRoute,
    VerifiedDeveloper,
    app_url,
    owned_app,
)
from appward.web.templates import field_errors, render

router = APIRouter(route_class=PortalRoute)

# What the form offers the other secrets when a new one is added: (seconds or "", text).
GRACE_CHOICES = [
    ("", "Keep working until they expire or are revoked"),
    ("0", "Stop working now"),
    ("3600", "Keep working for 1 hour"),
    ("86400", "Keep working for 1 day"),
    ("604800", "Keep working for 7 days"),
]


async def _secrets_page(
    request: Request,
    caller: PageCaller,
    client: Client,
    *,
    errors: dict[str, str],
    values: dict[str, str],
    confirm: ConfirmationRequired | None = None,
    confirm_secret: str | None = None,
    status_code: int = 200,
    done: str | None = None,
) -> Response:
    services = caller.services
    now = services.resources.clock.now()
    secrets = [
        present_secret(s, now) for s in await services.clients.list_secrets(client.client_id)
    ]
    return render(
        request,
        "portal/app_secrets.html",
        {
            "caller": caller,
            "client": client,
            "uses_secret": uses_secret(client.token_endpoint_auth_method),
            "secrets": secrets,
            "errors": errors,
            "values": values,
            "grace_choices": GRACE_CHOICES,
            "confirm": confirm.description if confirm else None,
            "confirm_secret": confirm_secret,
            "revoked": done == "secret_revoked",
        },
        status_code=status_code,
        headers=NO_STORE,
    )


@router.get("/apps/{client_id}/secrets")
async def secrets_page(
    client_id: str, request: Request, caller: VerifiedDeveloper, done: str | None = None
) -> Response:
    client = await owned_app(caller, client_id)
    return await _secrets_page(
        request, caller, client, errors={}, values={"label": "", "grace": ""}, done=done
    )


@router.post("/apps/{client_id}/secrets")
async def add_secret(client_id: str, request: Request, caller: VerifiedDeveloper) -> Response:
    client = await owned_app(caller, client_id)
    form = await posted_form(request)
    values = {"label": form.get("label", ""), "grace": form.get("grace", "")}
    try:
        issued = await caller.services.clients.add_secret(
            client.client_id,
            label=form.get("label"),
            expire_others_in=_grace(form.get("grace")),
        )
    except AppwardError as exc:
        return await _secrets_page(
            request,
            caller,
            client,
            errors=field_errors(exc),
            values=values,
            status_code=exc.status_code,
        )
    return render(
        request,
        "portal/secret_issued.html",
        {
            "caller": caller,
            "client": client,
            "secret": issued.plaintext,
            "heading": "New secret",
        },
        status_code=201,
        headers=NO_STORE,
    )


def _grace(value: str | None) -> int | None:
    if value is None:
        return None
    if not value.isdigit() or len(value) > 9:
        raise InvalidInput(
            "choose what happens to the other secrets",
            fields=[FieldError("grace", "choose one of the options")],
        )
    return int(value)


@router.post("/apps/{client_id}/secrets/{secret_id}/revoke")
async def revoke_secret(
    client_id: str, secret_id: str, request: Request, caller: VerifiedDeveloper
) -> Response:
    client = await owned_app(caller, client_id)
    form = await posted_form(request)
    try:
        await caller.services.clients.revoke_secret(
            client.client_id, secret_id, confirmed=form.get("confirmed") == "yes"
        )
    except ConfirmationRequired as exc:
        return await _secrets_page(
            request,
            caller,
            client,
            errors={},
            values={"label": "", "grace": ""},
            confirm=exc,
            confirm_secret=secret_id,
            status_code=exc.status_code,
        )
    return redirect_to(app_url(client, "/secrets?done=secret_revoked"))
