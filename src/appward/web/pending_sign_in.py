"""The state between a sign-in's password step and its second factor.

An account with a second factor gets no session from its password alone: the login
form answers with the code form, carrying a pending sign-in token

    <public id>.<expires, Unix seconds>.<HMAC-SHA256>

signed with the server's session key over the account, the expiry, a digest of the
account's password hash (a password changed or reset meanwhile kills it) and the
browser's session cookie value (the anonymous one its login form's CSRF token is bound
to). So it is bound to this browser, lasts PENDING_LIFETIME seconds, and is no way in by
itself: nothing but the code form reads it, and signed_in() knows nothing of it. The
sign-in that completes starts a session under a new cookie value, so the token then
dies with the old one. Wrong codes are throttled like passwords (pages.py).
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

from fastapi import Request

from appward.services import Services
from appward.users.models import User
from appward.users.service import PUBLIC_ID
from appward.web.sessions import SESSION_COOKIE
from appward.web.state import AppState

PENDING_LIFETIME = 300  # seconds to type the code


def pending_token(request: Request, state: AppState, user: User) -> str:
    """Returns the token the code form carries for ``user``'s sign-in in this browser."""
    expires = int(state.clock.now().timestamp()) + PENDING_LIFETIME
    return f"{user.public_id}.{expires}.{_mac(request, state, user, expires)}"


async def pending_user(
    request: Request, state: AppState, services: Services, token: str | None
) -> User | None:
    """Returns the active account whose sign-in ``token`` stands for, if it was made for
    this browser, has not expired and the account's password is unchanged; else None."""
    public_id, expires, mac = _parts(token)
    if public_id is None or expires is None or mac is None:
        return None
    if datetime.fromtimestamp(expires, state.clock.now().tzinfo) <= state.clock.now():
        return None
    user = await services.users.active(public_id)
    if user is None or _cookie(request) is None:
        return None
    if not hmac.compare_digest(_mac(request, state, user, expires), mac):
        return None
    return user


def _parts(token: str | None) -> tuple[str | None, int | None, str | None]:
    if token is None or len(token) > 200:
        return None, None, None
    public_id, _, rest = token.partition(".")
    expires, _, mac = rest.partition(".")
    if not PUBLIC_ID.fullmatch(public_id) or not expires.isdigit() or len(expires) > 12:
        return None, None, None
    return public_id, int(expires), mac


def _cookie(request: Request) -> str | None:
    return request.cookies.get(SESSION_COOKIE)


def _mac(request: Request, state: AppState, user: User, expires: int) -> str:
    password = hashlib.sha256(user.password_hash.encode()).hexdigest()
    message = "\0".join(
        ["pending-sign-in", user.public_id, str(expires), password, _cookie(request) or ""]
    )
    return hmac.new(state.session_key, message.encode(), hashlib.sha256).hexdigest()
