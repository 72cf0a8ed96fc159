"""The account's own security pages: the second factor (/account/two-factor: set up an
authenticator app, see how many recovery codes are left, replace them, remove the
factor) and the password (/account/password). Every rule is the domain's
(users/totp.py, users/account_security.py); these handlers read a form, call one
service and render.

A console that requires a second factor sends an admin without one to
/account/two-factor?next=/console...: the set-up comes back there once confirmed (only to
the safe local targets of pages.safe_next). A temporary password (an admin's reset)
sends every page to /account/password?next=..., which goes back there once changed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar
from urllib.parse import urlencode

import segno
from fastapi import APIRouter, Request
from fastapi.responses import Response
from markupsafe import Markup

from appward.errors import AppwardError, TemporarilyUnavailable, TooManyAttempts
from appward.users.service import MIN_PASSWORD
from appward.users.totp import Enrolment
from appward.web.deps import State, source_ip
from appward.web.page_access import (
    SECOND_FACTOR_SETUP,
    Account,
    PageCaller,
    posted_form,
    redirect_to,
)
from appward.web.pages import safe_next
from appward.web.responses import retry_after
from appward.web.sessions import log_in
from appward.web.state import AppState
from appward.web.templates import field_errors, render

T = TypeVar("T")

router = APIRouter(prefix="/account", include_in_schema=False)

NO_STORE = {"Cache-Control": "no-store"}
DONE_NOTICES = {
    "recovery_codes": "New recovery codes were made; the old ones no longer work.",
    "password_changed": "Your password was changed. You were signed out everywhere else.",
}


def _with_next(path: str, target: str) -> str:
    return path if target == "/account" else f"{path}?{urlencode({'next': target})}"


def qr_code_svg(uri: str) -> Markup:
    """Returns the provisioning URI as an inline SVG QR code (segno): served in the page
    itself, so the CSP's img-src needs no data: source. Only modules and fixed
    attributes, never the URI's text, so it is safe markup."""
    svg = segno.make(uri, error="m").svg_inline(scale=5, border=4, light="#fff")
    return Markup(svg)  # noqa: S704 (segno's own SVG of modules: no user text in it)


def _grouped(seed: str) -> str:
    return " ".join(seed[i : i + 4] for i in range(0, len(seed), 4))


async def _two_factor_page(
    request: Request,
    caller: PageCaller,
    target: str,
    *,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
    done: str | None = None,
) -> Response:
    totp = caller.services.totp
    status = await totp.status(caller.user)
    enrolment: Enrolment | None = None
    if not status.enrolled:
        enrolment = await totp.pending_enrolment(caller.user)
    return render(
        request,
        "two_factor.html",
        {
            "user": caller.user,
            "csrf": caller.csrf,
            "next": target,
            "status": status,
            "enrolment": enrolment,
            "qr_code": qr_code_svg(enrolment.provisioning_uri) if enrolment else None,
            "seed": _grouped(enrolment.seed) if enrolment else None,
            "errors": errors or {},
            "notice": DONE_NOTICES.get(done or ""),
            "required_by_console": target.startswith("/console"),
        },
        status_code=status_code,
        headers=NO_STORE,
    )


def _codes_page(request: Request, caller: PageCaller, codes: list[str], target: str) -> Response:
    """The recovery codes, shown this once (no-store): only their hashes are kept."""
    return render(
        request,
        "two_factor_codes.html",
        {"user": caller.user, "codes": codes, "next": target},
        headers=NO_STORE,
    )


@router.get("/two-factor")
async def two_factor(
    request: Request, caller: Account, next: str | None = None, done: str | None = None
) -> Response:
    return await _two_factor_page(request, caller, safe_next(next), done=done)


@router.post("/two-factor/start")
async def start_two_factor(request: Request, caller: Account) -> Response:
    form = await posted_form(request)
    target = safe_next(form.get("next"))
    try:
        await caller.services.totp.start_enrolment(caller.user)
    except AppwardError as exc:
        return await _two_factor_page(
            request, caller, target, errors=field_errors(exc), status_code=exc.status_code
        )
    return redirect_to(_with_next(SECOND_FACTOR_SETUP, target))


async def _throttled(
    request: Request,
    state: AppState,
    caller: PageCaller,
    target: str,
    prove: Callable[[], Awaitable[T]],
    *,
    refused_status: int | None = None,
    field_names: dict[str, str] | None = None,
) -> T | Response:
    """Runs ``prove`` (a step that checks the password or a code) under the sign-in
    throttle, so guessing either here costs what it costs at /login. Returns its result,
    or the two-factor page with the refusal: beside its field (renamed by
    ``field_names`` where this page's form calls it otherwise), with ``refused_status``
    or the error's own status."""
    user = caller.user
    address = await source_ip(request, state)
    now = state.clock.now()
    try:
        await state.login_throttle.attempt(user.username, address, now)
        result = await prove()
    except (TemporarilyUnavailable, TooManyAttempts) as exc:
        return await _two_factor_page(
            request, caller, target, errors={"": exc.description}, status_code=exc.status_code
        )
    except AppwardError as exc:
        names = field_names or {}
        errors = {names.get(field, field): text for field, text in field_errors(exc).items()}
        return await _two_factor_page(
            request, caller, target, errors=errors, status_code=refused_status or exc.status_code
        )
    await state.login_throttle.succeeded(user.username, address, now)
    return result


@router.post("/two-factor/confirm")
async def confirm_two_factor(request: Request, state: State, caller: Account) -> Response:
    form = await posted_form(request)
    target = safe_next(form.get("next"))
    confirmed = await _throttled(
        request,
        state,
        caller,
        target,
        lambda: caller.services.account_security.confirm_second_factor(
            caller.user, form.get("code", ""), form.get("password", "")
        ),
        refused_status=422,
    )
    if isinstance(confirmed, Response):
        return confirmed
    # Every session of the account ended (a password-only one must not pass for one
    # that gave the factor): this browser goes on in a new one.
    await log_in(request, caller.services, caller.user)
    return _codes_page(request, caller, confirmed[0], target)


@router.post("/two-factor/recovery-codes")
async def regenerate_recovery_codes(request: Request, state: State, caller: Account) -> Response:
    form = await posted_form(request)
    target = safe_next(form.get("next"))
    codes = await _throttled(
        request,
        state,
        caller,
        target,
        lambda: caller.services.account_security.regenerate_recovery_codes(
            caller.user, form.get("codes_proof", "")
        ),
        # The domain names its proof "proof"; on this page that is the remove form's.
        field_names={"proof": "codes_proof"},
    )
    if isinstance(codes, Response):
        return codes
    return _codes_page(request, caller, codes, target)


@router.post("/two-factor/remove")
async def remove_two_factor(request: Request, state: State, caller: Account) -> Response:
    form = await posted_form(request)
    removed = await _throttled(
        request,
        state,
        caller,
        "/account",
        lambda: caller.services.account_security.remove_second_factor(
            caller.user, form.get("proof", "")
        ),
    )
    if isinstance(removed, Response):
        return removed
    return redirect_to("/account?done=two_factor_removed")


def _password_page(
    request: Request,
    caller: PageCaller,
    target: str,
    *,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    return render(
        request,
        "account_password.html",
        {
            "user": caller.user,
            "csrf": caller.csrf,
            "next": target,
            "errors": errors or {},
            "temporary": caller.user.password_change_required,
            "min_password": MIN_PASSWORD,
        },
        status_code=status_code,
        headers={**NO_STORE, **(headers or {})},
    )


@router.get("/password")
async def password_form(request: Request, caller: Account, next: str | None = None) -> Response:
    return _password_page(request, caller, safe_next(next))


@router.post("/password")
async def change_password(request: Request, state: State, caller: Account) -> Response:
    form = await posted_form(request)
    target = safe_next(form.get("next"))
    user = caller.user
    address = await source_ip(request, state)
    now = state.clock.now()
    try:
        await state.login_throttle.attempt(user.username, address, now)
        await caller.services.account_security.change_password(
            user,
            form.get("current_password", ""),
            form.get("new_password", ""),
            form.get("repeat_password", ""),
        )
    except (TemporarilyUnavailable, TooManyAttempts) as exc:
        return _password_page(
            request,
            caller,
            target,
            errors={"": exc.description},
            status_code=exc.status_code,
            headers={"Retry-After": str(retry_after(exc))},
        )
    except AppwardError as exc:
        return _password_page(
            request, caller, target, errors=field_errors(exc), status_code=exc.status_code
        )
    await state.login_throttle.succeeded(user.username, address, now)
    # Every session ended with the old password, this one too: this browser goes on in
    # a new one (a new cookie, so the old page's CSRF token is dead as well).
    await log_in(request, caller.services, user)
    if target != "/account":
        return redirect_to(target)
    return redirect_to("/account?done=password_changed")
