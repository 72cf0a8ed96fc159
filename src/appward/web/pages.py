"""The end user's pages: the landing page, sign in, sign out (here or everywhere), and
the account page listing their grants."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from appward.errors import AppwardError, TemporarilyUnavailable, TooManyAttempts
from appward.web.deps import RequestServices, State, source_ip
from appward.web.forms import read_form
from appward.web.oauth import LoginTarget, login_target
from appward.web.page_access import Account, posted_form, redirect_to
from appward.web.responses import retry_after
from appward.web.sessions import check_csrf, csrf_token, log_in, log_out
from appward.web.templates import preferred_languages, render

router = APIRouter(include_in_schema=False)

SAFE_NEXT = ("/oauth2/authorize?", "/account", "/console", "/portal")


def _safe_next(value: str | None) -> str:
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


@router.get("/login")
async def login_form(
    request: Request, services: RequestServices, next: str | None = None
) -> Response:
    target = _safe_next(next)
    app = await _login_target(request, services.session, target)
    return render(
        request,
        "login.html",
        {"csrf": csrf_token(request), "next": target, "username": "", "errors": {}, "app": app},
        form_action=app.form_action,
        images=[app.logo_uri],
    )


@router.post("/login")
async def login(request: Request, state: State, services: RequestServices) -> Response:
    session = services.session
    try:
        form = await read_form(request)
        check_csrf(request, form.get("csrf"))
    except AppwardError as exc:
        return render(
            request,
            "login.html",
            {
                "csrf": csrf_token(request),
                "next": "/account",
                "username": "",
                "errors": {"": exc.description},
                "app": None,
            },
            status_code=400,
        )
    users = services.users
    target = _safe_next(form.get("next"))
    username = form.get("username", "")
    address = await source_ip(request, state)
    app = await _login_target(request, session, target)
    now = state.clock.now()
    try:
        await state.login_throttle.attempt(username, address, now)
        user = await users.sign_in(username, form.get("password", ""), source_ip=address)
    except (TemporarilyUnavailable, TooManyAttempts) as exc:
        return render(
            request,
            "login.html",
            {
                "csrf": csrf_token(request),
                "next": target,
                "username": username,
                "errors": {"": exc.description},
                "app": app,
            },
            status_code=exc.status_code,
            headers={"Retry-After": str(retry_after(exc))},
            form_action=app.form_action,
            images=[app.logo_uri],
        )
    if user is None:
        return render(
            request,
            "login.html",
            {
                "csrf": csrf_token(request),
                "next": target,
                "username": form.get("username", ""),
                "errors": {"username": "Wrong username or password."},
                "app": app,
            },
            status_code=401,
            form_action=app.form_action,
            images=[app.logo_uri],
        )
    await state.login_throttle.succeeded(username, address, now)
    await log_in(request, services, user)
    return RedirectResponse(target, status_code=303)


@router.post("/logout")
async def logout(request: Request, state: State, services: RequestServices) -> Response:
    try:
        form = await read_form(request)
        check_csrf(request, form.get("csrf"))
    except AppwardError:
        return RedirectResponse("/account", status_code=303)
    await log_out(request, services)
    # "Not you?" on the consent page: sign in again, then the same authorization request.
    target = _safe_next(form.get("next"))
    query = f"?{urlencode({'next': target})}" if target != "/account" else ""
    return RedirectResponse(f"/login{query}", status_code=303)


@router.get("/account")
async def account(request: Request, caller: Account) -> Response:
    user = caller.user
    services = caller.services
    return render(
        request,
        "account.html",
        {
            "user": user,
            "consents": await services.consents.given_by(user.id),
            "sessions": await services.sessions.count(user.public_id),
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
