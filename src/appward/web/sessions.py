"""The login session as the browser holds it, and the pages' CSRF tokens.

The browser holds one cookie, ``appward_session`` (HttpOnly, SameSite=Lax, Secure under
https), with a random value: for a signed-in browser, the id of a session the server
keeps (users/sessions.py, under the id's hash); for anyone else, a random value the
server keeps nothing for, which only anchors the CSRF token of the sign-in form. Signing
in always sets a new id (session fixation); signing out ends the session on the server
and sets a new anonymous value, so an old cookie replayed is worth nothing.

The CSRF token of a page is an HMAC of the cookie's value under the server's session key
(APPWARD_SESSION_SECRET): a site that cannot read the cookie cannot know it, it changes
with every sign-in and sign-out, and the server stores nothing for it.

The session is looked up once per request; what was found is kept on the request.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from fastapi import Request
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from appward.errors import InvalidRequest
from appward.services import Services
from appward.users.models import User
from appward.users.sessions import ActiveSession, is_session_id, new_session_id
from appward.web.state import AppState

SESSION_COOKIE = "appward_session"
# Names on request.state (scope["state"]): this request's session, and the cookie value
# its response sets.
_LOOKED_UP = "appward_session"
_SET_COOKIE = "appward_set_cookie"


@dataclass(frozen=True, slots=True)
class SignedIn:
    """The signed-in account of a request, and its session."""

    user: User
    session: ActiveSession


async def signed_in(
    request: Request, state: AppState, services: Services, *, idle_timeout: int | None = None
) -> SignedIn | None:
    """Returns the request's signed-in, active account and its session, or None: no
    session, one ended on the server, past its absolute end (APPWARD_SESSION_TTL) or
    idle longer than ``idle_timeout`` (default APPWARD_SESSION_IDLE_TIMEOUT), or an
    account disabled or deleted since."""
    if hasattr(request.state, _LOOKED_UP):
        found: SignedIn | None = getattr(request.state, _LOOKED_UP)
        return found
    timeout = idle_timeout if idle_timeout is not None else state.settings.session_idle_timeout
    active = await services.sessions.resume(_cookie(request), idle_timeout=timeout)
    found = None
    if active is not None:
        user = await services.users.active(active.record.subject)
        if user is None:
            await services.sessions.end(active.session_id)
        else:
            found = SignedIn(user, active)
    setattr(request.state, _LOOKED_UP, found)
    return found


async def log_in(request: Request, services: Services, user: User) -> SignedIn:
    """Starts a new session for ``user`` under a new id (the one the browser held, if a
    session, ends), and sets it in the response's cookie."""
    active = await services.sessions.start(user.public_id, replacing=_cookie(request))
    _set_cookie(request, active.session_id)
    found = SignedIn(user, active)
    setattr(request.state, _LOOKED_UP, found)
    return found


async def log_out(request: Request, services: Services) -> None:
    """Ends the browser's session on the server, and gives the browser a new anonymous
    cookie value (so the old page's CSRF token is dead too)."""
    await services.sessions.end(_cookie(request))
    _set_cookie(request, new_session_id())
    setattr(request.state, _LOOKED_UP, None)


async def require_fresh_login(request: Request, services: Services, current: SignedIn) -> None:
    """prompt=login: nothing is issued from this session until the user signs in again."""
    marked = await services.sessions.require_fresh_login(current.session)
    setattr(request.state, _LOOKED_UP, SignedIn(current.user, marked))


def needs_fresh_login(current: SignedIn) -> bool:
    # log_in starts a new session: the mark lasts exactly until the user signs in again.
    # (No comparing of times: under a test's frozen clock a new login is not "later".)
    return current.session.record.fresh_login_required


def csrf_token(request: Request) -> str:
    """Returns the CSRF token of this browser's cookie (giving the browser a cookie
    first if it has none)."""
    value = _set_value(request) or _cookie(request)
    if value is None:
        value = new_session_id()
        _set_cookie(request, value)
    return _csrf_of(request, value)


def check_csrf(request: Request, presented: str | None) -> None:
    """Raises InvalidRequest unless ``presented`` is the CSRF token of the cookie the
    browser sent."""
    value = _cookie(request)
    if (
        value is None
        or presented is None
        or not hmac.compare_digest(_csrf_of(request, value).encode(), presented.encode())
    ):
        raise InvalidRequest("the form expired or did not come from this site; try again")


def _csrf_of(request: Request, value: str) -> str:
    state: AppState = request.app.state.appward
    mac = hmac.new(state.session_key, b"csrf\0" + value.encode(), hashlib.sha256)
    return mac.hexdigest()


def _cookie(request: Request) -> str | None:
    value = request.cookies.get(SESSION_COOKIE)
    return value if is_session_id(value) else None


def _set_value(request: Request) -> str | None:
    header: str | None = getattr(request.state, _SET_COOKIE, None)
    if header is None:
        return None
    return header.split(";", 1)[0].partition("=")[2]


def _set_cookie(request: Request, value: str) -> None:
    state: AppState = request.app.state.appward
    attributes = f"Path=/; Max-Age={state.settings.session_ttl}; HttpOnly; SameSite=Lax"
    if state.settings.issuer.startswith("https://"):
        attributes += "; Secure"
    setattr(request.state, _SET_COOKIE, f"{SESSION_COOKIE}={value}; {attributes}")


class SessionCookieMiddleware:
    """Adds the cookie a handler chose (log_in, log_out, a first CSRF token) to its
    response, whichever response class it returned."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                cookie = scope.get("state", {}).get(_SET_COOKIE)
                if cookie is not None:
                    MutableHeaders(scope=message).append("set-cookie", cookie)
            await send(message)

        await self.app(scope, receive, send_with_cookie)
