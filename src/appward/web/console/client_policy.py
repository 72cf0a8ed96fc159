"""A client's Policy tab (with the server-wide bounds) and its Token preview tab.

The policy form is a merge patch of the policy fields, saved by ClientService.update at
the revision the form was read at: a stale one, or any invalid field, re-renders the
form as posted with the domain's messages, nothing stored. The preview asks
TokenPreviewService what the policy would issue now, issuing nothing.

The form reader refuses a repeated parameter, so each checkbox of a list has a name of
its own: ``grant_types.<grant type>``, ``scope.<scope name>``.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request, Response

from appward.clients.models import Client
from appward.clients.service import GRANT_TYPES
from appward.errors import (
    AppwardError,
    FieldError,
    InvalidInput,
    InvalidScope,
    NotFound,
    PreconditionFailed,
    UnauthorizedClient,
)
from appward.tokens.preview import TokenPreview, previews_for_a_user, previews_own_token
from appward.web.console.client_tab import client_tab, not_found_page
from appward.web.page_access import ConsoleAdmin, PageCaller, posted_form, redirect_to
from appward.web.templates import field_errors, render

router = APIRouter()

LIFETIMES = ("access_token_ttl", "refresh_token_ttl", "refresh_token_absolute_ttl")
FLAGS = ("issue_refresh_tokens", "rotate_refresh_tokens", "require_pkce", "skip_consent")
# Not client metadata: the admin-granted introspection permission, saved on its own
# (ClientService.set_introspection_permission) in the same savepoint as the policy.
INTROSPECTION = "may_introspect_others"
POLICY_FIELDS = ("grant_types", "scope", *LIFETIMES, *FLAGS, INTROSPECTION)
GRANT_PREFIX = "grant_types."
SCOPE_PREFIX = "scope."
STALE = (
    "Someone else changed this client since you opened this form, so nothing was saved. "
    "Open the Policy tab again to see the current policy, then make your change again."
)
DONE = {"saved": "The policy was saved."}


def _path(client: Client, tab: str) -> str:
    return f"/console/clients/{quote(client.client_id, safe='')}/{tab}"


def duration(seconds: int) -> str:
    """Returns ``seconds`` as a reader counts them ("1 h", "30 days", "90 s")."""
    for unit, size in (("days", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def _by_input(exc: AppwardError, inputs: tuple[str, ...]) -> dict[str, str]:
    """Returns the domain's messages keyed by the form's inputs (``grant_types[0]`` is
    the grant_types input); a field the form has no input for goes to the form as a
    whole, named."""
    errors: dict[str, str] = {}
    for field, message in field_errors(exc).items():
        name = re.split(r"[.\[]", field, maxsplit=1)[0]
        if name and name not in inputs:
            name, message = "", f"{field}: {message}"
        errors[name] = f"{errors[name]}; {message}" if name in errors else message
    return errors


# --- Policy ---


def _values_of(client: Client) -> dict[str, Any]:
    """Returns the form's values for the client as stored."""
    return {
        "grant_types": list(client.grant_types),
        "scopes": client.scopes,
        **{name: str(getattr(client, name)) for name in LIFETIMES},
        **{name: bool(getattr(client, name)) for name in FLAGS},
        INTROSPECTION: client.may_introspect_others,
        "revision": str(client.revision),
    }


def _values_posted(form: dict[str, str]) -> dict[str, Any]:
    """Returns the form's values as posted, to show them again."""
    return {
        "grant_types": [k.removeprefix(GRANT_PREFIX) for k in form if k.startswith(GRANT_PREFIX)],
        "scopes": [k.removeprefix(SCOPE_PREFIX) for k in form if k.startswith(SCOPE_PREFIX)],
        **{name: form.get(name, "") for name in LIFETIMES},
        **{name: name in form for name in FLAGS},
        INTROSPECTION: INTROSPECTION in form,
        "revision": form.get("revision", ""),
    }


def _number(text: str | None) -> object:
    """A lifetime as the validator takes it: an integer when the text is one, else the
    text itself (refused by the validator, with its message); empty resets the field to
    the server's default."""
    if text is None:
        return None
    try:
        return int(text.strip())
    except ValueError:
        return text


def _patch(values: dict[str, Any]) -> dict[str, Any]:
    """Returns the merge patch (RFC 7396) the policy form asks for."""
    return {
        "grant_types": values["grant_types"],
        "scope": " ".join(values["scopes"]) or None,
        **{name: _number(values[name] or None) for name in LIFETIMES},
        **{name: values[name] for name in FLAGS},
    }


def _revision(text: str) -> int:
    if not text.isascii() or not text.isdigit():
        raise InvalidInput(
            "the form lost the client's revision; open the Policy tab again",
            fields=[FieldError("revision", "missing")],
        )
    return int(text)


async def _policy_page(
    request: Request,
    caller: PageCaller,
    client: Client,
    values: dict[str, Any],
    *,
    errors: dict[str, str] | None = None,
    done: str | None = None,
    status_code: int = 200,
) -> Response:
    clients = caller.services.clients
    registered = [scope.name for scope in await caller.services.scopes.all()]
    # A scope the client holds is listed even if the registry lost it meanwhile.
    scopes = list(dict.fromkeys([*registered, *values["scopes"]]))
    return render(
        request,
        "console/client_policy.html",
        {
            **client_tab(client, "policy", caller),
            "values": values,
            "errors": errors or {},
            "done": DONE.get(done or ""),
            "grant_types": GRANT_TYPES,
            "scopes": scopes,
            "bounds": clients.bounds,
            "duration": duration,
            "action": _path(client, "policy"),
        },
        status_code=status_code,
    )


@router.get("/clients/{client_id}/policy")
async def policy_tab(
    client_id: str, request: Request, caller: ConsoleAdmin, done: str | None = None
) -> Response:
    try:
        client = await caller.services.clients.get(client_id)
    except NotFound:
        return not_found_page(request)
    return await _policy_page(request, caller, client, _values_of(client), done=done)


@router.post("/clients/{client_id}/policy")
async def save_policy(client_id: str, request: Request, caller: ConsoleAdmin) -> Response:
    form = await posted_form(request)
    clients = caller.services.clients
    try:
        client = await clients.get(client_id)
    except NotFound:
        return not_found_page(request)
    values = _values_posted(form)
    try:
        revision = _revision(values["revision"])
        # A savepoint: a refused change leaves nothing behind.
        async with caller.services.session.begin_nested():
            await clients.update(client_id, _patch(values), expected_revision=revision)
            await clients.set_introspection_permission(client_id, values[INTROSPECTION])
    except NotFound:
        return not_found_page(request)
    except PreconditionFailed as exc:
        client = await clients.get(client_id)
        return await _policy_page(
            request, caller, client, values, errors={"": STALE}, status_code=exc.status_code
        )
    except AppwardError as exc:
        client = await clients.get(client_id)  # read again: the savepoint's undo expired it
        if any(problem.field == "revision" for problem in exc.fields):
            errors = {"": exc.description}
        else:
            errors = _by_input(exc, POLICY_FIELDS)
        return await _policy_page(
            request, caller, client, values, errors=errors, status_code=exc.status_code
        )
    return redirect_to(f"{_path(client, 'policy')}?done=saved")


# --- Token preview ---


async def _preview_page(
    request: Request,
    caller: PageCaller,
    client: Client,
    values: dict[str, Any],
    *,
    preview: TokenPreview | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    registered = [scope.name for scope in await caller.services.scopes.all()]
    return render(
        request,
        "console/client_preview.html",
        {
            **client_tab(client, "preview", caller),
            "values": values,
            "errors": errors or {},
            "scopes": list(dict.fromkeys([*client.scopes, *registered])),
            "allowed": client.scopes,
            "own_token": previews_own_token(client.grant_types),
            "for_a_user": previews_for_a_user(client.grant_types),
            "preview": preview,
            # Escaped by the template like any other text: a claim holds what was stored.
            "claims": json.dumps(preview.claims, indent=2, sort_keys=True) if preview else "",
            "duration": duration,
            "action": _path(client, "preview"),
        },
        status_code=status_code,
        headers={"Cache-Control": "no-store"},
    )


@router.get("/clients/{client_id}/preview")
async def preview_tab(client_id: str, request: Request, caller: ConsoleAdmin) -> Response:
    try:
        client = await caller.services.clients.get(client_id)
    except NotFound:
        return not_found_page(request)
    return await _preview_page(request, caller, client, {"scopes": [], "user": ""})


@router.post("/clients/{client_id}/preview")
async def preview_token(client_id: str, request: Request, caller: ConsoleAdmin) -> Response:
    form = await posted_form(request)
    services = caller.services
    try:
        client = await services.clients.get(client_id)
    except NotFound:
        return not_found_page(request)
    scopes = [k.removeprefix(SCOPE_PREFIX) for k in form if k.startswith(SCOPE_PREFIX)]
    values = {"scopes": scopes, "user": form.get("user", "")}
    try:
        preview = await services.token_preview.preview(
            client_id, scope=" ".join(scopes) or None, user=form.get("user")
        )
    except AppwardError as exc:
        return await _preview_page(
            request,
            caller,
            client,
            values,
            errors=_preview_errors(exc, client),
            status_code=exc.status_code,
        )
    return await _preview_page(request, caller, client, values, preview=preview)


def _preview_errors(exc: AppwardError, client: Client) -> dict[str, str]:
    """Puts the domain's refusal next to the input it is about: a scope the client may
    not have by the scopes, an unknown user (or none, for a client that only gets
    tokens on a user's behalf) by the user."""
    if isinstance(exc, InvalidScope):
        return {"scope": exc.description}
    if isinstance(exc, NotFound | InvalidInput):
        return {"user": exc.description}
    if isinstance(exc, UnauthorizedClient) and previews_for_a_user(client.grant_types):
        return {"user": f"{exc.description}: name the user the token is for"}
    return {"": exc.description}
