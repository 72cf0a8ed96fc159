"""The login session (a signed, HttpOnly, SameSite=Lax cookie) and CSRF tokens.

Times in the session are seconds since the epoch from the app's clock (AppState.clock),
so a test's clock ages a login as it does every other expiry.
"""

from __future__ import annotations

import hmac
import secrets

from fastapi import Request

from appward.clock import Clock
from appward.errors import InvalidRequest
from appward.web.state import AppState

SESSION_COOKIE = "appward_session"
FRESH_LOGIN_REQUIRED = "fresh_login_required"


def current_user_id(request: Request, state: AppState) -> int | None:
    """Returns the logged-in user's id, or None when nobody is, or the login is too old."""
    user_id = request.session.get("uid")
    logged_in_at = request.session.get("auth_time")
    if not isinstance(user_id, int) or not isinstance(logged_in_at, int | float):
        return None
    if _seconds(state.clock) - logged_in_at > state.settings.session_ttl:
        request.session.clear()
        return None
    return user_id


def log_in(request: Request, user_id: int, clock: Clock) -> None:
    # A fresh session and CSRF token at login: nothing from before carries over.
    request.session.clear()
    request.session["uid"] = user_id
    request.session["auth_time"] = _seconds(clock)
    request.session["csrf"] = secrets.token_urlsafe(24)


def require_fresh_login(request: Request) -> None:
    """prompt=login: nothing is issued until the user signs in again."""
    request.session[FRESH_LOGIN_REQUIRED] = True


def needs_fresh_login(request: Request) -> bool:
    # log_in starts a new session: the mark lasts exactly until the user signs in again.
    # (No comparing of times: under a test's frozen clock a new login is not "later".)
    return request.session.get(FRESH_LOGIN_REQUIRED) is True


def _seconds(clock: Clock) -> float:
    return clock.now().timestamp()


def log_out(request: Request) -> None:
    request.session.clear()


def csrf_token(request: Request) -> str:
    """Returns the session's CSRF token, creating one on first use."""
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(24)
        request.session["csrf"] = token
    return token


def check_csrf(request: Request, presented: str | None) -> None:
    """Raises InvalidRequest unless ``presented`` is this session's CSRF token."""
    expected = request.session.get("csrf")
    if (
        not isinstance(expected, str)
        or presented is None
        or not hmac.compare_digest(expected.encode(), presented.encode())
    ):
        raise InvalidRequest("the form expired or did not come from this site; try again")
