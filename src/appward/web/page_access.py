"""Who may see a page, and the one preamble every signed-in page shares.

A page handler asks for its caller with a dependency: ``Account`` (anyone signed in),
``ConsoleAdmin`` (the admin console: an admin, inside the console's shorter idle
timeout, with a second factor when APPWARD_CONSOLE_REQUIRE_2FA asks for one) or
``PortalDeveloper`` (the developer portal). What the caller gets is a ``PageCaller``: the
account, its session, the services acting as that account (so every change is audited
as ``user:<public id>``), and the CSRF token its forms carry. A form post reads its body
with ``posted_form``, which checks the CSRF token first.

Refusals are exceptions that app.py turns into pages (``add_page_handlers``): not signed
in is a redirect to the sign-in page that comes back; a missing role is a 403 page that
says which role is needed; a second factor still to enrol is a redirect to /account's
two-factor set-up; a temporary password (an admin's reset) is a redirect to
/account/password until the account has chosen its own. A form whose CSRF token is
wrong is a 400 page and changes nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Annotated, TypeVar
from urllib.parse import urlencode

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from appward.errors import AppwardError, NotFound
from appward.services import Services
from appward.users.models import Role, User
from appward.users.service import account_actor
from appward.users.sessions import ActiveSession
from appward.web.deps import RequestServices, State, source_ip
from appward.web.forms import read_form
from appward.web.responses import form_refused_status
from appward.web.sessions import check_csrf, csrf_token, signed_in
from appward.web.state import AppState
from appward.web.templates import render

# Where an admin who must have a second factor, and has none yet, is sent to enrol one.
SECOND_FACTOR_SETUP = "/account/two-factor"
# Where an account whose password an admin replaced with a temporary one is sent, from
# every page, until it has chosen its own.
PASSWORD_PAGE = "/account/password"


@dataclass(frozen=True, slots=True)
class PageCaller:
    """The signed-in account a page serves, with its services and its forms' token."""

    user: User
    session: ActiveSession
    services: Services
    csrf: str


class SignInRequired(Exception):
    """The page needs a signed-in account: app.py redirects to /login?next=<page>."""

    def __init__(self, come_back_to: str) -> None:
        super().__init__(come_back_to)
        self.come_back_to = come_back_to


class RoleRequired(Exception):
    """The account is signed in but lacks the page's role: app.py answers 403."""

    def __init__(self, role: Role) -> None:
        super().__init__(role.value)
        self.role = role


class SecondFactorRequired(Exception):
    """The console requires a second factor the admin has not enrolled: app.py redirects
    to its set-up on /account, which comes back."""

    def __init__(self, come_back_to: str) -> None:
        super().__init__(come_back_to)
        self.come_back_to = come_back_to


class PasswordChangeRequired(Exception):
    """The account signed in with a temporary password: app.py redirects to
    /account/password, which comes back once a new one is chosen."""

    def __init__(self, come_back_to: str) -> None:
        super().__init__(come_back_to)
        self.come_back_to = come_back_to


class FormRejected(Exception):
    """A form post whose CSRF token (or body) was refused: app.py answers 400 with the
    reason, having changed nothing."""

    def __init__(self, error: AppwardError) -> None:
        super().__init__(error.description)
        self.error = error


class PageNotFound(Exception):
    """What a page looks up by the id in its path does not exist: app.py answers with the
    404 page."""


T = TypeVar("T")


async def found(lookup: Awaitable[T]) -> T:
    """Returns what a page's lookup by an id in its path found. Raises PageNotFound (the
    404 page) when the domain raises NotFound."""
    try:
        return await lookup
    except NotFound as exc:
        raise PageNotFound() from exc


def _this_page(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query and request.method == "GET" else "")


async def _caller(
    request: Request,
    state: AppState,
    services: Services,
    *,
    role: Role | None = None,
    idle_timeout: int | None = None,
) -> PageCaller:
    current = await signed_in(request, state, services, idle_timeout=idle_timeout)
    if current is None:
        raise SignInRequired(_this_page(request))
    if current.user.password_change_required and request.url.path != PASSWORD_PAGE:
        raise PasswordChangeRequired(_this_page(request))
    if role is not None and current.user.role != role.value:
        raise RoleRequired(role)
    actor = account_actor(current.user, await source_ip(request, state))
    return PageCaller(current.user, current.session, services.acting_as(actor), csrf_token(request))


async def account(request: Request, state: State, services: RequestServices) -> PageCaller:
    return await _caller(request, state, services)


async def console_admin(request: Request, state: State, services: RequestServices) -> PageCaller:
    settings = state.settings
    caller = await _caller(
        request, state, services, role=Role.ADMIN, idle_timeout=settings.console_idle_timeout
    )
    # A TOTP-enrolled account cannot sign in without its code, so "enrolled" means this
    # session passed the second factor (or enrolled it, which proves the same).
    if settings.console_requires_second_factor and not await caller.services.totp.is_enrolled(
        caller.user
    ):
        raise SecondFactorRequired(_this_page(request))
    return caller


async def portal_developer(request: Request, state: State, services: RequestServices) -> PageCaller:
    return await _caller(request, state, services, role=Role.DEVELOPER)


Account = Annotated[PageCaller, Depends(account)]
ConsoleAdmin = Annotated[PageCaller, Depends(console_admin)]
PortalDeveloper = Annotated[PageCaller, Depends(portal_developer)]


async def posted_form(request: Request) -> dict[str, str]:
    """Returns a page's posted form once its CSRF token is checked. Raises FormRejected."""
    try:
        form = await read_form(request)
        check_csrf(request, form.get("csrf"))
    except AppwardError as exc:
        raise FormRejected(exc) from exc
    return form


def redirect_to(location: str) -> RedirectResponse:
    """The answer to a form post that worked: see the result at ``location`` (303)."""
    return RedirectResponse(location, status_code=303)


def as_sentence(description: str) -> str:
    """Returns a domain message ("no such link") as a page prints it, capitalised and
    with a full stop: the domain's messages are lower-case clauses, made for logs and
    the API's problem details."""
    return f"{description[:1].upper()}{description[1:]}."


def error_page(
    request: Request,
    heading: str,
    message: str,
    *,
    status_code: int,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """The page of a refusal that has no form to show it beside (page_error.html): a
    heading and a sentence, with the refusal's status, the same on every page."""
    return render(
        request,
        "page_error.html",
        {"heading": heading, "message": message},
        status_code=status_code,
        headers=headers,
    )


def add_page_handlers(app: FastAPI) -> None:
    """Turns the refusals above into the pages and redirects a browser expects."""

    async def sign_in(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, SignInRequired)
        return redirect_to(f"/login?{urlencode({'next': exc.come_back_to})}")

    async def role_required(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RoleRequired)
        needed = {Role.ADMIN: "an administrator", Role.DEVELOPER: "a developer"}[exc.role]
        return error_page(
            request,
            "Not available to your account",
            f"This page is for {needed} account. Ask an administrator if you need access.",
            status_code=403,
        )

    async def second_factor(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, SecondFactorRequired)
        return redirect_to(f"{SECOND_FACTOR_SETUP}?{urlencode({'next': exc.come_back_to})}")

    async def password_change(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, PasswordChangeRequired)
        return redirect_to(f"{PASSWORD_PAGE}?{urlencode({'next': exc.come_back_to})}")

    async def form_rejected(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, FormRejected)
        return error_page(
            request,
            "Nothing was changed",
            as_sentence(exc.error.description),
            status_code=form_refused_status(exc.error),
        )

    async def page_not_found(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, PageNotFound)
        return error_page(
            request,
            "Page not found",
            "There is nothing at this address: it may have been deleted.",
            status_code=404,
        )

    app.add_exception_handler(SignInRequired, sign_in)
    app.add_exception_handler(PageNotFound, page_not_found)
    app.add_exception_handler(RoleRequired, role_required)
    app.add_exception_handler(SecondFactorRequired, second_factor)
    app.add_exception_handler(PasswordChangeRequired, password_change)
    app.add_exception_handler(FormRejected, form_rejected)
