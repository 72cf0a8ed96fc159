"""Self-service password reset: /password-reset asks for the account's e-mail address or
username and mails a single-use link (through state.mailer), always answering the same
whether or not an account matched; the link opens /password-reset/<token>, which asks for
the new password. Redeeming it ends every session of the account. Only when mail can be
sent: SMTP configured, or the development log mailer.

The token is in the path: web/pipeline.py redacts the segment after /password-reset/ from
its own log lines and from uvicorn's access log (ONE_TIME_LINK_PATHS).
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.background import BackgroundTask

from appward.audit import Actor
from appward.errors import AppwardError, InvalidInput, TemporarilyUnavailable, TooManyAttempts
from appward.mail import Mailer, Message
from appward.services import Services
from appward.users.account_security import reset_mail, reset_url
from appward.users.one_time_links import LINK_EXPIRED
from appward.users.service import MIN_PASSWORD
from appward.web.deps import RequestServices, State, source_ip
from appward.web.page_access import as_sentence, posted_form, redirect_to
from appward.web.responses import retry_after
from appward.web.sessions import csrf_token
from appward.web.state import AppState
from appward.web.templates import field_errors, render

log = logging.getLogger("appward.web")
router = APIRouter(prefix="/password-reset", include_in_schema=False)

NO_STORE = {"Cache-Control": "no-store"}


def _request_page(
    request: Request,
    state: AppState,
    *,
    identifier: str = "",
    errors: dict[str, str] | None = None,
    sent: bool = False,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    available = state.mailer is not None
    return render(
        request,
        "password_reset.html",
        {
            "csrf": csrf_token(request),
            "identifier": identifier,
            "errors": errors or {},
            "sent": sent,
            "available": available,
        },
        status_code=status_code if available else 404,
        headers={**NO_STORE, **(headers or {})},
    )


async def _anonymous(request: Request, state: AppState, services: Services) -> Services:
    return services.acting_as(Actor("anonymous", await source_ip(request, state)))


@router.get("")
async def reset_form(request: Request, state: State, done: str | None = None) -> Response:
    return _request_page(request, state, sent=done == "sent")


@router.post("")
async def request_reset(request: Request, state: State, services: RequestServices) -> Response:
    form = await posted_form(request)
    mailer = state.mailer
    if mailer is None:
        return _request_page(request, state)
    identifier = form.get("identifier", "").strip()
    if not identifier:
        return _request_page(
            request,
            state,
            errors={"identifier": "Enter your e-mail address or username."},
            status_code=422,
        )
    try:
        await state.reset_throttle.attempt(
            identifier, await source_ip(request, state), state.clock.now()
        )
    except TooManyAttempts as exc:
        return _request_page(
            request,
            state,
            identifier=identifier,
            errors={"": exc.description},
            status_code=exc.status_code,
            headers={"Retry-After": str(retry_after(exc))},
        )
    acting = await _anonymous(request, state, services)
    found = await acting.account_security.request_reset(identifier)
    answer = redirect_to("/password-reset?done=sent")
    if found is not None:
        user, link = found
        message = reset_mail(
            user, reset_url(state.settings.issuer, link.token), state.settings.display_name
        )
        # Sent once the answer is out: the answer, and its timing, must not tell whether
        # an account matched.
        answer.background = BackgroundTask(_send_quietly, mailer, message, link.record.id)
    return answer


async def _send_quietly(mailer: Mailer, message: Message, link_id: int) -> None:
    try:
        await mailer.send(message)
    except TemporarilyUnavailable as exc:
        # The reason (never the message, which holds the link) goes to the log.
        log.warning("password reset mail for link %s not sent: %s", link_id, exc.detail)


def _new_password_page(
    request: Request,
    token: str,
    *,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "password_reset_new.html",
        {
            "csrf": csrf_token(request),
            "token": token,
            "errors": errors or {},
            "min_password": MIN_PASSWORD,
        },
        status_code=status_code,
        headers=NO_STORE,
    )


def _expired_page(request: Request) -> Response:
    return render(
        request,
        "password_reset_expired.html",
        {"message": as_sentence(LINK_EXPIRED)},
        status_code=404,
        headers=NO_STORE,
    )


@router.get("/{token}")
async def new_password_form(
    token: str, request: Request, state: State, services: RequestServices
) -> Response:
    acting = await _anonymous(request, state, services)
    if await acting.account_security.account_of_link(token) is None:
        return _expired_page(request)
    return _new_password_page(request, token)


@router.post("/{token}")
async def set_new_password(
    token: str, request: Request, state: State, services: RequestServices
) -> Response:
    form = await posted_form(request)
    acting = await _anonymous(request, state, services)
    try:
        await acting.account_security.redeem_reset(
            token, form.get("new_password", ""), form.get("repeat_password", "")
        )
    except InvalidInput as exc:
        if not exc.fields:
            return _expired_page(request)
        return _new_password_page(
            request, token, errors=field_errors(exc), status_code=exc.status_code
        )
    except AppwardError as exc:
        return _new_password_page(
            request, token, errors={"": exc.description}, status_code=exc.status_code
        )
    return redirect_to("/login?done=password_reset")
