"""Accounts: the list (search by username or e-mail, filter by role and status, cursor
pages), create, and an account's page: role, e-mail and its verified state, disable and
enable, ending sessions, resetting the second factor, delete (typing the username).
Password resets are the "auth" part's page (/console/accounts/{public_id}/password).

The rules (the last admin stays, disabling ends the sessions, every change audited)
are users/service.py's."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from appward.errors import AppwardError
from appward.pagination import Page
from appward.users.models import Role, User
from appward.users.service import (
    ACCOUNT_STATUSES,
    NO_ROLE,
    AccountFilter,
    check_deletion_confirmed,
    parse_role,
)
from appward.web.page_access import (
    ConsoleAdmin,
    PageCaller,
    as_sentence,
    found,
    posted_form,
    redirect_to,
)
from appward.web.templates import field_errors, render

router = APIRouter()

PAGE_SIZE = 50
FILTERS = ("q", "role", "status")
ROLE_CHOICES = [
    (Role.ADMIN.value, "Admin (the console)"),
    (Role.DEVELOPER.value, "Developer (the portal)"),
    (NO_ROLE, "None (an end user)"),
]
NOTICES = {
    "created": "The account was created.",
    "role": "The role was changed.",
    "email": "The e-mail address was saved.",
    "disabled": "The account was disabled and its sessions ended; the apps it owns keep working.",
    "disabled_with_clients": "The account was disabled, its sessions ended, and every app "
    "it owns disabled.",
    "enabled": "The account was enabled: it can sign in again.",
    "sessions": "The account's sessions were ended.",
    "second_factor": "The second factor was reset: the account signs in with its password "
    "alone until it enrols a new one.",
    "deleted": "The account was deleted.",
}


def _role_of(user: User) -> str:
    return user.role or NO_ROLE


# --- the list ---


@router.get("/accounts")
async def accounts(request: Request, caller: ConsoleAdmin) -> Response:
    query = request.query_params
    values = {name: query.get(name, "") for name in FILTERS}
    users = caller.services.users
    errors: dict[str, str] = {}
    page: Page[User] = Page([], None)
    try:
        page = await users.search(
            AccountFilter(values["q"] or None, values["role"] or None, values["status"] or None),
            cursor=query.get("cursor") or None,
            limit=PAGE_SIZE,
        )
    except AppwardError as exc:
        errors = field_errors(exc)
        if "cursor" in errors:
            errors = {"": "That page link is not valid: start from the first page."}
    next_url = None
    if page.next_cursor:
        kept = {name: value for name, value in values.items() if value}
        next_url = "/console/accounts?" + urlencode({**kept, "cursor": page.next_cursor})
    return render(
        request,
        "console/accounts.html",
        {
            "caller": caller,
            "section": "accounts",
            "users": page.items,
            "values": values,
            "errors": errors,
            "filtered": any(values.values()),
            "role_filters": [("", "Any role"), *ROLE_CHOICES],
            "status_filters": [
                ("", "Any status"),
                *((s, s.capitalize()) for s in ACCOUNT_STATUSES),
            ],
            "next_url": next_url,
            "notice": NOTICES.get(query.get("done", "")),
        },
        status_code=400 if errors else 200,
    )


# --- create ---


def _create_page(
    request: Request,
    caller: PageCaller,
    values: dict[str, str],
    errors: dict[str, str],
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "console/accounts_new.html",
        {
            "caller": caller,
            "section": "accounts",
            "values": values,
            "errors": errors,
            "roles": ROLE_CHOICES,
        },
        status_code=status_code,
    )


@router.get("/accounts/new")
async def new_account(request: Request, caller: ConsoleAdmin) -> Response:
    return _create_page(request, caller, {"username": "", "email": "", "role": NO_ROLE}, {})


@router.post("/accounts")
async def create_account(request: Request, caller: ConsoleAdmin) -> Response:
    form = await posted_form(request)
    values = {
        "username": form.get("username", ""),
        "email": form.get("email", ""),
        "role": form.get("role", NO_ROLE),
    }
    try:
        user = await caller.services.users.create(
            values["username"],
            form.get("password", ""),
            role=parse_role(values["role"]),
            email=values["email"].strip() or None,
        )
    except AppwardError as exc:
        errors = field_errors(exc)
        if "" in errors and exc.status_code == 409:
            errors = {"username": exc.description[:1].upper() + exc.description[1:]}
        return _create_page(request, caller, values, errors, exc.status_code)
    return redirect_to(f"/console/accounts/{user.public_id}?done=created")


# --- an account's page ---


async def _account_page(
    request: Request,
    caller: PageCaller,
    user: User,
    *,
    notice: str | None = None,
    errors: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    services = caller.services
    shown = {
        "role": _role_of(user),
        "email": user.email or "",
        "email_verified": user.email_verified_at is not None,
        "confirm_username": "",
        **(values or {}),
    }
    return render(
        request,
        "console/accounts_page.html",
        {
            "caller": caller,
            "section": "accounts",
            "account": user,
            "is_caller": user.id == caller.user.id,
            "second_factor": await services.totp.is_enrolled(user),
            "sessions": await services.sessions.count(user.public_id),
            "owned_clients": len(await services.ownership.client_ids_owned_by(user)),
            "roles": ROLE_CHOICES,
            "values": shown,
            "errors": errors or {},
            "notice": notice,
        },
        status_code=status_code,
        headers={"Cache-Control": "no-store"},
    )


def _refused(exc: AppwardError, field: str | None = None) -> dict[str, str]:
    """Returns the refusal's messages by field; one naming no field goes beside
    ``field`` when given, else at the top of the page."""
    errors = field_errors(exc)
    message = errors.pop("", None)
    if message is not None:
        errors[field or ""] = as_sentence(message)
    return errors


async def _refused_page(
    request: Request,
    caller: PageCaller,
    user: User,
    exc: AppwardError,
    *,
    field: str | None = None,
    values: dict[str, Any] | None = None,
) -> Response:
    """The account's page again after the domain refused a change to it, so every form
    on the page answers a refusal alike: the messages by field (a general one beside
    ``field``, see _refused), what was posted in ``values``, the error's status."""
    return await _account_page(
        request,
        caller,
        user,
        errors=_refused(exc, field),
        values=values,
        status_code=exc.status_code,
    )


async def _posted_to(
    request: Request, caller: PageCaller, public_id: str
) -> tuple[User, dict[str, str]]:
    """Returns the account the path names and the form posted to it; the account is
    looked up first, so a post to no account is the 404 page, whatever its form."""
    user = await found(caller.services.users.by_public_id(public_id))
    return user, await posted_form(request)


@router.get("/accounts/{public_id}")
async def account(
    public_id: str, request: Request, caller: ConsoleAdmin, done: str | None = None
) -> Response:
    user = await found(caller.services.users.by_public_id(public_id))
    return await _account_page(request, caller, user, notice=NOTICES.get(done or ""))


def _done(user: User, what: str) -> Response:
    return redirect_to(f"/console/accounts/{user.public_id}?done={what}")


@router.post("/accounts/{public_id}/role")
async def change_role(public_id: str, request: Request, caller: ConsoleAdmin) -> Response:
    users = caller.services.users
    user, form = await _posted_to(request, caller, public_id)
    role = form.get("role", "")
    try:
        await users.set_role(user, parse_role(role or None))
    except AppwardError as exc:
        return await _refused_page(request, caller, user, exc, field="role", values={"role": role})
    if user.id == caller.user.id and user.role != Role.ADMIN.value:
        return redirect_to("/account")  # no longer an admin: the console is closed to them
    return _done(user, "role")


@router.post("/accounts/{public_id}/email")
async def change_email(public_id: str, request: Request, caller: ConsoleAdmin) -> Response:
    users = caller.services.users
    user, form = await _posted_to(request, caller, public_id)
    email = form.get("email", "").strip()
    verified = form.get("email_verified") == "on"
    try:
        await users.update(user, email=email or None, email_verified=verified)
    except AppwardError as exc:
        values = {"email": email, "email_verified": verified}
        return await _refused_page(request, caller, user, exc, field="email", values=values)
    return _done(user, "email")


@router.post("/accounts/{public_id}/disable")
async def disable(public_id: str, request: Request, caller: ConsoleAdmin) -> Response:
    users = caller.services.users
    user, form = await _posted_to(request, caller, public_id)
    try:
        await users.disable(user)
    except AppwardError as exc:
        return await _refused_page(request, caller, user, exc)
    if user.id == caller.user.id:
        return redirect_to("/login")  # their own sessions, this one included, ended
    if form.get("with_clients") != "on":
        return _done(user, "disabled")
    await _disable_clients_owned_by(caller, user)
    return _done(user, "disabled_with_clients")


async def _disable_clients_owned_by(caller: PageCaller, user: User) -> None:
    """Disables every app ``user`` is an owner of (the apps it only views stay as they
    are): "disable the developer and their apps"."""
    services = caller.services
    await services.clients.disable_all(await services.ownership.client_ids_owned_by(user))


@router.post("/accounts/{public_id}/enable")
async def enable(public_id: str, request: Request, caller: ConsoleAdmin) -> Response:
    users = caller.services.users
    user, _ = await _posted_to(request, caller, public_id)
    await users.enable(user)
    return _done(user, "enabled")


@router.post("/accounts/{public_id}/end-sessions")
async def end_sessions(public_id: str, request: Request, caller: ConsoleAdmin) -> Response:
    users = caller.services.users
    user, _ = await _posted_to(request, caller, public_id)
    await users.end_sessions(user)
    if user.id == caller.user.id:
        return redirect_to("/login")
    return _done(user, "sessions")


@router.post("/accounts/{public_id}/reset-2fa")
async def reset_second_factor(public_id: str, request: Request, caller: ConsoleAdmin) -> Response:
    services = caller.services
    user, _ = await _posted_to(request, caller, public_id)
    await services.totp.remove(user)
    return _done(user, "second_factor")


@router.post("/accounts/{public_id}/delete")
async def delete(public_id: str, request: Request, caller: ConsoleAdmin) -> Response:
    users = caller.services.users
    user, form = await _posted_to(request, caller, public_id)
    typed = form.get("confirm_username", "")
    is_caller = user.id == caller.user.id
    try:
        check_deletion_confirmed(user, typed)
        await users.delete(user)
    except AppwardError as exc:
        return await _refused_page(request, caller, user, exc, values={"confirm_username": typed})
    if is_caller:
        return redirect_to("/login")
    return redirect_to("/console/accounts?done=deleted")
