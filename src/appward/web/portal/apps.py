"""A developer's apps: the list, create, the app's page, edit and delete.

Routes: GET /portal/apps; GET /portal/apps/new, POST /portal/apps; GET
/portal/apps/{client_id}; GET and POST /portal/apps/{client_id}/edit; GET and POST
/portal/apps/{client_id}/delete. The metadata comes from registration/portal.py (the
app type's profile, the portal's policy, the one validator); the client from
ClientService; who may reach it from clients/ownership.py (someone else's app is a 404).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from appward.clients.models import Client
from appward.clients.ownership import OwnerRole
from appward.errors import AppwardError, FieldError, InvalidInput
from appward.registration.portal import (
    APP_PROFILES,
    AppType,
    app_type_of,
    parse_app_type,
    portal_metadata,
    portal_policy,
)
from appward.web.page_access import PageCaller, PortalDeveloper, posted_form, redirect_to
from appward.web.portal.app_access import (
    NO_STORE,
    PortalRoute,
    VerifiedDeveloper,
    app_for,
    app_url,
    owned_app,
)
from appward.web.templates import external_image, field_errors, render

router = APIRouter(route_class=PortalRoute)

# The results a page shows after a post (?done=...), by key.
NOTICES = {
    "welcome": "Welcome: your developer account is ready.",
    "verified": "Your e-mail address is verified: you can register apps.",
    "created": "The app is registered.",
    "updated": "The app is saved.",
    "deleted": "The app is deleted: it can no longer sign anyone in.",
    "secret_revoked": "The secret is revoked: it no longer works.",
    "owner_added": "The co-owner is added.",
    "owner_changed": "The co-owner's role is changed.",
    "owner_removed": "The co-owner is removed.",
}
# The fields of the app form, as the portal's metadata reads them.
TEXT_FIELDS = ("client_name", "logo_uri", "client_uri", "policy_uri", "tos_uri", "scope")
APP_TYPE_CHOICES = [
    (AppType.WEB.value, APP_PROFILES[AppType.WEB].label, "Runs on a server and keeps a secret."),
    (
        AppType.SPA.value,
        APP_PROFILES[AppType.SPA].label,
        "Runs in the browser: cannot keep a secret (PKCE instead).",
    ),
    (
        AppType.NATIVE.value,
        APP_PROFILES[AppType.NATIVE].label,
        "A desktop or mobile app: cannot keep a secret (PKCE instead).",
    ),
]


def notice(done: str | None) -> str | None:
    return NOTICES.get(done or "")


def form_values(form: dict[str, str]) -> dict[str, str]:
    """Returns what the app form shows again: what was typed."""
    return {
        **{name: form.get(name, "") for name in TEXT_FIELDS},
        "redirect_uris": form.get("redirect_uris", ""),
        "app_type": form.get("app_type", ""),
    }


def client_values(client: Client) -> dict[str, str]:
    """Returns the app form's values for a registered app."""
    return {
        **{name: getattr(client, name) or "" for name in TEXT_FIELDS if name != "scope"},
        "scope": " ".join(client.scopes),
        "redirect_uris": "\n".join(client.redirect_uris),
        "app_type": app_type_of(client.application_type, client.token_endpoint_auth_method).value,
    }


def metadata_form(form: dict[str, str]) -> dict[str, Any]:
    """Returns the form as portal_metadata reads it: redirect URIs one per line."""
    fields: dict[str, Any] = {name: form.get(name, "").strip() for name in TEXT_FIELDS}
    uris = [line.strip() for line in form.get("redirect_uris", "").splitlines() if line.strip()]
    if uris:
        fields["redirect_uris"] = uris
    return fields


async def _app_metadata(caller: PageCaller, app_type: AppType, form: dict[str, str]) -> Any:
    settings = caller.services.resources.settings
    return await portal_metadata(
        app_type,
        metadata_form(form),
        portal_policy(settings),
        bounds=settings.lifetime_bounds,
        session=caller.services.session,
    )


def _form_page(
    request: Request,
    caller: PageCaller,
    *,
    client: Client | None,
    values: dict[str, str],
    errors: dict[str, str],
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "portal/app_form.html",
        {
            "caller": caller,
            "client": client,
            "values": values,
            "errors": errors,
            "app_types": APP_TYPE_CHOICES,
        },
        status_code=status_code,
        headers=NO_STORE,
    )


@router.get("/apps")
async def app_list(request: Request, caller: PortalDeveloper, done: str | None = None) -> Response:
    verified = caller.user.email_verified_at is not None
    apps = await caller.services.ownership.clients_of(caller.user) if verified else []
    return render(
        request,
        "portal/apps.html",
        {
            "caller": caller,
            "verified": verified,
            "apps": apps,
            "notice": notice(done),
        },
        headers=NO_STORE,
    )


@router.get("/apps/new")
async def new_app(request: Request, caller: VerifiedDeveloper) -> Response:
    return _form_page(
        request, caller, client=None, values=form_values({"app_type": "web"}), errors={}
    )


@router.post("/apps")
async def register_app(request: Request, caller: VerifiedDeveloper) -> Response:
    form = await posted_form(request)
    services = caller.services
    try:
        app_type = parse_app_type(form.get("app_type"))
        data = await _app_metadata(caller, app_type, form)
        change = await services.clients.create(
            {**data, "owner": caller.user.username}, registration_source="portal"
        )
    except AppwardError as exc:
        return _form_page(
            request,
            caller,
            client=None,
            values=form_values(form),
            errors=field_errors(exc),
            status_code=exc.status_code,
        )
    await services.ownership.add_creator(change.client, caller.user)
    if change.secret is None:
        return redirect_to(app_url(change.client, "?done=created"))
    # The secret exists in this response only: rendered from the POST, never stored.
    return render(
        request,
        "portal/secret_issued.html",
        {
            "caller": caller,
            "client": change.client,
            "secret": change.secret.plaintext,
            "heading": "App registered",
        },
        status_code=201,
        headers=NO_STORE,
    )


@router.get("/apps/{client_id}")
async def app_page(
    client_id: str, request: Request, caller: VerifiedDeveloper, done: str | None = None
) -> Response:
    client, role = await app_for(caller, client_id)
    return render(
        request,
        "portal/app.html",
        {
            "caller": caller,
            "client": client,
            "role": role.value,
            "is_owner": role is OwnerRole.OWNER,
            "app_type": APP_PROFILES[
                app_type_of(client.application_type, client.token_endpoint_auth_method)
            ].label,
            "logo": external_image(client.logo_uri),
            "notice": notice(done),
        },
        headers=NO_STORE,
        images=[external_image(client.logo_uri)],
    )


@router.get("/apps/{client_id}/edit")
async def edit_form(client_id: str, request: Request, caller: VerifiedDeveloper) -> Response:
    client = await owned_app(caller, client_id)
    return _form_page(request, caller, client=client, values=client_values(client), errors={})


@router.post("/apps/{client_id}/edit")
async def edit(client_id: str, request: Request, caller: VerifiedDeveloper) -> Response:
    client = await owned_app(caller, client_id)
    form = await posted_form(request)
    app_type = app_type_of(client.application_type, client.token_endpoint_auth_method)
    values = {**form_values(form), "app_type": app_type.value}
    try:
        revision = _revision(form.get("revision"))
        data = await _app_metadata(caller, app_type, form)
        # Every field of the form is the developer's: one left empty is removed.
        patch = {name: data.get(name) for name in (*TEXT_FIELDS, "redirect_uris")}
        await caller.services.clients.update(
            client.client_id, patch, expected_revision=revision, by_developer=True
        )
    except AppwardError as exc:
        return _form_page(
            request,
            caller,
            client=client,
            values=values,
            errors=field_errors(exc),
            status_code=exc.status_code,
        )
    return redirect_to(app_url(client, "?done=updated"))


def _revision(value: str | None) -> int:
    if value is None or not value.isdigit() or len(value) > 9:
        raise InvalidInput("the form is out of date: open the app again")
    return int(value)


@router.get("/apps/{client_id}/delete")
async def delete_form(client_id: str, request: Request, caller: VerifiedDeveloper) -> Response:
    client = await owned_app(caller, client_id)
    return _delete_page(request, caller, client, {})


def _delete_page(
    request: Request,
    caller: PageCaller,
    client: Client,
    errors: dict[str, str],
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "portal/app_delete.html",
        {"caller": caller, "client": client, "errors": errors},
        status_code=status_code,
        headers=NO_STORE,
    )


@router.post("/apps/{client_id}/delete")
async def delete(client_id: str, request: Request, caller: VerifiedDeveloper) -> Response:
    client = await owned_app(caller, client_id)
    form = await posted_form(request)
    expected = client.client_name or client.client_id
    if form.get("confirm_name", "").strip() != expected:
        message = "type the app's name exactly to delete it"
        exc = InvalidInput(message, fields=[FieldError("confirm_name", message)])
        return _delete_page(request, caller, client, field_errors(exc), status_code=422)
    await caller.services.clients.delete(client.client_id)
    return redirect_to("/portal/apps?done=deleted")
