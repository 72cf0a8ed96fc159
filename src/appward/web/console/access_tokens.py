"""Initial access tokens for dynamic client registration (RFC 7591 §3): the list (never a
token), create (the token shown once, from the POST's answer, never stored), revoke."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from appward.errors import AppwardError
from appward.registration.initial_access_tokens import (
    parse_initial_access_token_request,
    token_state,
)
from appward.web.page_access import ConsoleAdmin, PageCaller, found, posted_form, redirect_to
from appward.web.templates import field_errors, render

router = APIRouter()

NOTICES = {"revoked": "The token was revoked: it registers no more clients."}
FIELDS = ("label", "expires_in", "max_uses", "grant_types", "scopes")
INTEGER_FIELDS = ("expires_in", "max_uses")
LIST_FIELDS = ("grant_types", "scopes")
# The answer that shows a new token: no cache, proxy or back button keeps a copy.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _request_of(form: dict[str, str]) -> dict[str, Any]:
    """Returns the form as the admin API's body: a blank field left out, numbers as
    integers (anything else goes on as text, for the validator to name), lists split on
    spaces."""
    body: dict[str, Any] = {}
    for name in FIELDS:
        value = form.get(name, "").strip()
        if not value:
            continue
        if name in INTEGER_FIELDS:
            digits = value.removeprefix("-")
            body[name] = int(value) if digits.isascii() and digits.isdigit() else value
        elif name in LIST_FIELDS:
            body[name] = value.split()
        else:
            body[name] = value
    return body


@router.get("/access-tokens")
async def access_tokens(
    request: Request, caller: ConsoleAdmin, done: str | None = None
) -> Response:
    services = caller.services
    now = services.resources.clock.now()
    tokens = await services.initial_access_tokens.all()
    return render(
        request,
        "console/access_tokens.html",
        {
            "caller": caller,
            "section": "access_tokens",
            "tokens": tokens,
            "states": {token.id: token_state(token, now) for token in tokens},
            "notice": NOTICES.get(done or ""),
        },
    )


def _form_page(
    request: Request,
    caller: PageCaller,
    values: dict[str, str],
    errors: dict[str, str],
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "console/access_tokens_form.html",
        {"caller": caller, "section": "access_tokens", "values": values, "errors": errors},
        status_code=status_code,
    )


@router.get("/access-tokens/new")
async def new_access_token(request: Request, caller: ConsoleAdmin) -> Response:
    return _form_page(request, caller, dict.fromkeys(FIELDS, ""), {})


@router.post("/access-tokens")
async def create_access_token(request: Request, caller: ConsoleAdmin) -> Response:
    form = await posted_form(request)
    values = {name: form.get(name, "") for name in FIELDS}
    try:
        body = parse_initial_access_token_request(_request_of(form))
        issued = await caller.services.initial_access_tokens.create(**body.model_dump())
    except AppwardError as exc:
        return _form_page(request, caller, values, field_errors(exc), exc.status_code)
    return render(
        request,
        "console/access_tokens_created.html",
        {
            "caller": caller,
            "section": "access_tokens",
            "record": issued.record,
            "token": issued.plaintext,
        },
        status_code=201,
        headers=NO_STORE,
    )


@router.post("/access-tokens/{token_id}/revoke")
async def revoke_access_token(token_id: str, request: Request, caller: ConsoleAdmin) -> Response:
    await posted_form(request)
    await found(caller.services.initial_access_tokens.revoke(token_id))
    return redirect_to("/console/access-tokens?done=revoked")
