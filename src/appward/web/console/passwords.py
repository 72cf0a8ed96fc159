"""An account's password and second-factor resets in the console
(/console/accounts/{public_id}/password): a single-use reset link (mailed to the
account's address when SMTP is configured, else shown once to pass on), a temporary
password (shown once; the account must change it at its next sign-in), and resetting
the second factor. The same service calls as the admin API's and the CLI's
(users/account_security.py); every one is audited as the admin."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from appward.errors import NotFound, TemporarilyUnavailable
from appward.users.account_security import reset_mail, reset_url
from appward.users.models import User
from appward.web.deps import State
from appward.web.page_access import ConsoleAdmin, PageCaller, error_page, posted_form, redirect_to
from appward.web.templates import render

router = APIRouter()

NO_STORE = {"Cache-Control": "no-store"}
DONE_NOTICES = {
    "link_mailed": "A reset link was mailed to the account's e-mail address.",
    "two_factor_reset": "The second factor was removed. The account signs in with its "
    "password alone until it sets one up again.",
    "no_two_factor": "The account had no second factor.",
}


def _not_found(request: Request) -> Response:
    return error_page(
        request, "No such account", "There is no account with this id.", status_code=404
    )


async def _account(caller: PageCaller, public_id: str) -> User | None:
    try:
        return await caller.services.users.by_public_id(public_id)
    except NotFound:
        return None


async def _page(
    request: Request,
    caller: PageCaller,
    user: User,
    *,
    done: str | None = None,
    shown: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    state = request.app.state.appward
    mailer = state.mailer
    return render(
        request,
        "console/account_password.html",
        {
            "section": "accounts",
            "caller": caller,
            "csrf": caller.csrf,
            "account": user,
            "second_factor": await caller.services.totp.status(user),
            "mails_links": mailer is not None and not mailer.development,
            "notice": DONE_NOTICES.get(done or ""),
            "shown": shown or {},
        },
        status_code=status_code,
        headers=NO_STORE,
    )


@router.get("/accounts/{public_id}/password")
async def password_page(
    public_id: str, request: Request, caller: ConsoleAdmin, done: str | None = None
) -> Response:
    user = await _account(caller, public_id)
    if user is None:
        return _not_found(request)
    return await _page(request, caller, user, done=done)


@router.post("/accounts/{public_id}/password/link")
async def issue_reset_link(
    public_id: str, request: Request, state: State, caller: ConsoleAdmin
) -> Response:
    await posted_form(request)
    user = await _account(caller, public_id)
    if user is None:
        return _not_found(request)
    link = await caller.services.account_security.issue_reset_link(user)
    url = reset_url(state.settings.issuer, link.token)
    mailer = state.mailer
    if mailer is not None and not mailer.development and user.email is not None:
        try:
            await mailer.send(reset_mail(user, url, state.settings.display_name))
        except TemporarilyUnavailable:
            shown = {"link": url, "expires_at": link.record.expires_at, "mail_failed": True}
            return await _page(request, caller, user, shown=shown)
        return redirect_to(f"/console/accounts/{user.public_id}/password?done=link_mailed")
    shown = {"link": url, "expires_at": link.record.expires_at, "mail_failed": False}
    return await _page(request, caller, user, shown=shown)


@router.post("/accounts/{public_id}/password/temporary")
async def set_temporary_password(
    public_id: str, request: Request, caller: ConsoleAdmin
) -> Response:
    await posted_form(request)
    user = await _account(caller, public_id)
    if user is None:
        return _not_found(request)
    password = await caller.services.account_security.set_temporary_password(user)
    return await _page(request, caller, user, shown={"temporary_password": password})


@router.post("/accounts/{public_id}/password/two-factor")
async def reset_second_factor(public_id: str, request: Request, caller: ConsoleAdmin) -> Response:
    await posted_form(request)
    user = await _account(caller, public_id)
    if user is None:
        return _not_found(request)
    had = await caller.services.account_security.reset_second_factor(user)
    done = "two_factor_reset" if had else "no_two_factor"
    return redirect_to(f"/console/accounts/{user.public_id}/password?done={done}")
