"""The end user's pages: the landing page, sign in, sign out (here or everywhere), and
the account page listing their grants."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from appward.errors import AppwardError, TemporarilyUnavailable, TooManyAttempts
from appward.services import Services
from appward.users.models import User
from appward.users.service import account_actor
from appward.users.totp import kind_of_code
from appward.web.deps import RequestServices, State, source_ip
from appward.web.forms import read_form
from appward.web.oauth import LoginTarget, login_target
from appward.web.page_access import PASSWORD_PAGE, Account, posted_form, redirect_to
from appward.web.pending_sign_in import pending_token, pending_user
from appward.web.responses import form_refused_status, retry_after
from appward.web.sessions import check_csrf, csrf_token, log_in, log_out
from appward.web.state import AppState
from appward.web.templates import preferred_languages, render

router = APIRouter(include_in_schema=False)

SAFE_NEXT = ("/oauth2/authorize?", "/account", "/console", "/portal")


def safe_next(value: str | None) -> str:
    """Returns where to go after login: only our own authorize URL, the account page, the
    console or the portal, so the login form is no open redirector."""
    if value and value.startswith(SAFE_NEXT) and not value.startswith("//"):
        return value
    return "/account"


async def _login_target(request: Request, session: AsyncSession, target: str) -> LoginTarget:
    """Returns which application the login page names, and where its form may end."""
    languages = preferred_languages(request.headers.get("accept-language", ""))
    return await login_target(session, target, languages)


@router.get("/")
async def landing(request: Request) -> Response:
    return render(request, "landing.html", {})


LOGIN_NOTICES = {
    "password_reset": "Your password was changed. Sign in with the new one.",
}


@router.get("/login")
async def login_form(
    request: Request, services: RequestServices, next: str | None = None, done: str | None = None
) -> Response:
    target = safe_next(next)
    app = await _login_target(request, services.session, target)
    return _login_page(request, app, next=target, errors={}, notice=LOGIN_NOTICES.get(done or ""))


def _login_page(
    request: Request,
    app: LoginTarget | None,
    *,
    next: str,
    username: str = "",
    errors: dict[str, str],
    notice: str | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    state: AppState = request.app.state.appward
    return render(
        request,
        "login.html",
        {
            "csrf": csrf_token(request),
            "next": next,
            "username": username,
            "errors": errors,
            "app": app,
            "notice": notice,
            # Self-service reset needs a way to mail the link (web/password_reset.py).
            "reset_available": state.mailer is not None,
        },
        status_code=status_code,
        headers=headers,
        form_action=app.form_action if app else None,
        images=[app.logo_uri] if app else [],
    )


def _code_page(
    request: Request,
    app: LoginTarget,
    *,
    next: str,
    pending: str,
    errors: dict[str, str],
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    """The sign-in's second step: the code from the authenticator app (or a recovery
    code), for the pending sign-in ``pending`` (web/pending_sign_in.py)."""
    return render(
        request,
        "login_code.html",
        {
            "csrf": csrf_token(request),
            "next": next,
            "pending": pending,
            "errors": errors,
            "app": app,
        },
        status_code=status_code,
        headers={"Cache-Control": "no-store", **(headers or {})},
        form_action=app.form_action,
        images=[app.logo_uri],
    )


async def _signed_in_to(request: Request, services: Services, user: User, target: str) -> Response:
    """Starts the session and goes on to ``target``; first to /account/password when an
    admin's temporary password must be replaced."""
    await log_in(request, services, user)
    if user.password_change_required:
        return RedirectResponse(f"{PASSWORD_PAGE}?{urlencode({'next': target})}", status_code=303)
    return RedirectResponse(target, status_code=303)


@router.post("/login")
async def login(request: Request, state: State, services: RequestServices) -> Response:
    session = services.session
    try:
        form = await read_form(request)
        check_csrf(request, form.get("csrf"))
    except AppwardError as exc:
        return _login_page(
            request,
            None,
            next="/account",
            errors={"": exc.description},
            status_code=form_refused_status(exc),
        )
    users = services.users
    target = safe_next(form.get("next"))
    username = form.get("username", "")
    address = await source_ip(request, state)
    app = await _login_target(request, session, target)
    now = state.clock.now()
    try:
        await state.login_throttle.attempt(username, address, now)
        user = await users.check_sign_in(username, form.get("password", ""), source_ip=address)
    except (TemporarilyUnavailable, TooManyAttempts) as exc:
        return _login_page(
            request,
            app,
            next=target,
            username=username,
            errors={"": exc.description},
            status_code=exc.status_code,
            headers={"Retry-After": str(retry_after(exc))},
        )
    if user is None:
        return _login_page(
            request,
            app,
            next=target,
            username=username,
            errors={"username": "Wrong username or password."},
            status_code=401,
        )
    acting = services.acting_as(account_actor(user, address))
    if await acting.totp.is_enrolled(user):
        # No session yet: the throttle's count stands until the code is right too.
        pending = pending_token(request, state, user)
        return _code_page(request, app, next=target, pending=pending, errors={})
    await state.login_throttle.succeeded(username, address, now)
    await users.record_sign_in(user, source_ip=address)
    return await _signed_in_to(request, services, user, target)


@router.post("/login/code")
async def login_code(request: Request, state: State, services: RequestServices) -> Response:
    """The second step of a sign-in with a second factor: a current TOTP code, not used
    before, or an unused recovery code; only then the session starts."""
    try:
        form = await read_form(request)
        check_csrf(request, form.get("csrf"))
    except AppwardError as exc:
        return _login_page(
            request,
            None,
            next="/account",
            errors={"": exc.description},
            status_code=form_refused_status(exc),
        )
    target = safe_next(form.get("next"))
    app = await _login_target(request, services.session, target)
    pending = form.get("pending", "")
    user = await pending_user(request, state, services, pending)
    if user is None:
        return _login_page(
            request,
            app,
            next=target,
            errors={"": "The sign-in took too long or was not started here; sign in again."},
            status_code=400,
        )
    address = await source_ip(request, state)
    now = state.clock.now()
    try:
        await state.login_throttle.attempt(user.username, address, now)
    except (TemporarilyUnavailable, TooManyAttempts) as exc:
        return _code_page(
            request,
            app,
            next=target,
            pending=pending,
            errors={"": exc.description},
            status_code=exc.status_code,
            headers={"Retry-After": str(retry_after(exc))},
        )
    code = form.get("code", "")
    acting = services.acting_as(account_actor(user, address))
    if not code.strip() or not await acting.totp.verify(user, code):
        await services.users.record_failed_second_factor(user, source_ip=address)
        return _code_page(
            request,
            app,
            next=target,
            pending=pending,
            errors={"code": "That code is wrong, expired or already used. Try the next one."},
            status_code=401,
        )
    await state.login_throttle.succeeded(user.username, address, now)
    await services.users.record_sign_in(user, source_ip=address, second_factor=kind_of_code(code))
    return await _signed_in_to(request, services, user, target)


@router.post("/logout")
async def logout(request: Request, state: State, services: RequestServices) -> Response:
    try:
        form = await read_form(request)
        check_csrf(request, form.get("csrf"))
    except AppwardError:
        return RedirectResponse("/account", status_code=303)
    await log_out(request, services)
    # "Not you?" on the consent page: sign in again, then the same authorization request.
    target = safe_next(form.get("next"))
    query = f"?{urlencode({'next': target})}" if target != "/account" else ""
    return RedirectResponse(f"/login{query}", status_code=303)


ACCOUNT_NOTICES = {
    "two_factor_removed": "Two-factor sign-in was removed.",
    "password_changed": "Your password was changed. You were signed out everywhere else.",
}


@router.get("/account")
async def account(request: Request, caller: Account, done: str | None = None) -> Response:
    user = caller.user
    services = caller.services
    return render(
        request,
        "account.html",
        {
            "user": user,
            "consents": await services.consents.given_by(user.id),
            "sessions": await services.sessions.count(user.public_id),
            "second_factor": await services.totp.status(user),
            "notice": ACCOUNT_NOTICES.get(done or ""),
            "csrf": caller.csrf,
        },
        headers={"Cache-Control": "no-store"},
    )


@router.post("/account/sessions/end")
async def sign_out_everywhere(request: Request, caller: Account) -> Response:
    """Ends every session of the account, this one included ("Sign out everywhere")."""
    await posted_form(request)
    await caller.services.users.end_sessions(caller.user)
    await log_out(request, caller.services)
    return redirect_to("/login")


@router.post("/account/grants/{client_id}/revoke")
async def revoke_grant(client_id: str, request: Request, caller: Account) -> Response:
    await posted_form(request)
    await caller.services.consents.revoke(caller.user.id, client_id)
    return redirect_to("/account")
