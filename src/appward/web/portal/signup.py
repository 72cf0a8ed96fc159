"""The portal's front page, developer sign-up (open, invite or closed) and e-mail
verification. The rules are users/signup.py's; this module reads forms, sends the mail
and renders.

Routes: GET /portal (portal_home, routed by portal/__init__.py: a router's path may
not be empty); GET and POST /portal/signup (open mode); GET and POST
/portal/signup/{token} (an invitation's form, the address fixed); GET and POST
/portal/verify/{token} (GET shows a button, so a mail scanner opening the link uses
nothing up); POST /portal/verify (send the link again). The tokens are in paths:
web/pipeline.py keeps them out of the logs.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from appward.audit import Actor
from appward.errors import AppwardError, InvalidInput
from appward.mail import Message
from appward.rate_limit import address_key
from appward.services import Services
from appward.users.invitations import INVITATION_PATH
from appward.users.models import Role
from appward.users.one_time_links import LINK_EXPIRED
from appward.users.signup import (
    ALREADY_REGISTERED_SUBJECT,
    VERIFY_SUBJECT,
    SignupMode,
    already_registered_text,
    verification_text,
)
from appward.web.deps import RequestServices, State, source_ip
from appward.web.page_access import (
    PortalDeveloper,
    as_sentence,
    error_page,
    posted_form,
    redirect_to,
)
from appward.web.portal.app_access import NO_STORE, PortalRoute
from appward.web.portal.mailing import link_url, send_link
from appward.web.responses import record_error
from appward.web.sessions import csrf_token, log_in, signed_in
from appward.web.state import AppState
from appward.web.templates import field_errors, render

router = APIRouter(route_class=PortalRoute)

VERIFY_PATH = "/portal/verify/"


def _mode(state: AppState) -> SignupMode:
    return SignupMode(state.settings.portal_signup)


async def portal_home(request: Request, state: State, services: RequestServices) -> Response:
    current = await signed_in(request, state, services)
    if current is not None and current.user.role == Role.DEVELOPER.value:
        return RedirectResponse("/portal/apps", status_code=303)
    return render(
        request,
        "portal/home.html",
        {
            "user": current.user if current is not None else None,
            "mode": _mode(state).value,
        },
    )


def _form_page(
    request: Request,
    state: AppState,
    *,
    values: dict[str, str],
    errors: dict[str, str],
    invitation: tuple[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    """The sign-up form; ``invitation``: (token, address) when an invitation opened it."""
    return render(
        request,
        "portal/signup.html",
        {
            "mode": _mode(state).value,
            "csrf": csrf_token(request),
            "values": {"username": values.get("username", ""), "email": values.get("email", "")},
            "errors": errors,
            "invited_email": invitation[1] if invitation else None,
            "action": f"{INVITATION_PATH}{invitation[0]}" if invitation else "/portal/signup",
        },
        status_code=status_code,
        headers=NO_STORE,
    )


@router.get("/signup")
async def signup_form(request: Request, state: State) -> Response:
    return _form_page(request, state, values={}, errors={})


@router.post("/signup")
async def signup(request: Request, state: State, services: RequestServices) -> Response:
    return await _sign_up(request, state, services, None)


@router.get("/signup/{token}")
async def invitation_form(
    token: str, request: Request, state: State, services: RequestServices
) -> Response:
    visitor = await _as_visitor(request, state, services)
    try:
        link = await visitor.signup.invitation(_mode(state), token)
    except InvalidInput as exc:
        return _link_unusable(request, exc)
    return _form_page(request, state, values={}, errors={}, invitation=(token, link.email or ""))


@router.post("/signup/{token}")
async def invited_signup(
    token: str, request: Request, state: State, services: RequestServices
) -> Response:
    return await _sign_up(request, state, services, token)


async def _sign_up(
    request: Request, state: AppState, services: Services, token: str | None
) -> Response:
    form = await posted_form(request)
    address = await source_ip(request, state)
    # Sign-ups count against the address's sign-in budget (users/throttle.py): a flood
    # of sign-ups from one address is refused (429) like a flood of guesses.
    await state.login_throttle.by_address.hit(address_key(address), state.clock.now())
    visitor = await _as_visitor(request, state, services)
    invited: tuple[str, str] | None = None
    if token is not None:
        try:
            link = await visitor.signup.invitation(_mode(state), token)
        except InvalidInput as exc:
            return _link_unusable(request, exc)
        invited = (token, link.email or "")
    try:
        outcome = await visitor.signup.sign_up(
            _mode(state),
            username=form.get("username", ""),
            password=form.get("password", ""),
            email=form.get("email") if invited is None else None,
            invitation=token,
        )
    except AppwardError as exc:
        if isinstance(exc, InvalidInput) and not exc.fields:  # the invitation was used up meanwhile
            return _link_unusable(request, exc)
        if exc.status_code == 403:
            raise
        return _form_page(
            request,
            state,
            values=form,
            errors=field_errors(exc),
            invitation=invited,
            status_code=exc.status_code,
        )
    if outcome.user is not None and outcome.verification is None:
        # Invited: the link proved the address; the new developer is signed in.
        await log_in(request, services, outcome.user)
        return redirect_to("/portal/apps?done=welcome")
    site = state.settings.display_name
    if outcome.verification is not None:
        url = link_url(state.settings, VERIFY_PATH, outcome.verification.token)
        text = verification_text(site, url)
        subject = VERIFY_SUBJECT
    else:
        url = f"{state.settings.issuer.rstrip('/')}/login?next=%2Fportal"
        text = already_registered_text(site, url)
        subject = ALREADY_REGISTERED_SUBJECT
    shown = await send_link(visitor, state.mailer, Message(outcome.email, subject, text), url)
    return _sent_page(request, outcome.email, shown)


def _sent_page(request: Request, email: str, shown: str | None) -> Response:
    return render(
        request,
        "portal/signup_sent.html",
        {"email": email, "dev_link": shown},
        headers=NO_STORE,
    )


async def _as_visitor(request: Request, state: AppState, services: Services) -> Services:
    """The services of a visitor who is not signed in: a sign-up or a verification is
    audited as anonymous, from the caller's address."""
    return services.acting_as(Actor("anonymous", await source_ip(request, state)))


def _link_unusable(request: Request, exc: AppwardError) -> Response:
    record_error(request.scope, exc)  # logged by the pipeline, the token redacted
    return error_page(
        request,
        "This link cannot be used",
        as_sentence(exc.description),
        status_code=exc.status_code,
        headers=NO_STORE,
    )


@router.get("/verify/{token}")
async def verify_form(
    token: str, request: Request, state: State, services: RequestServices
) -> Response:
    visitor = await _as_visitor(request, state, services)
    user = await visitor.signup.pending_verification(token)
    if user is None:
        return _link_unusable(request, InvalidInput(LINK_EXPIRED))
    return render(
        request,
        "portal/verify.html",
        {"csrf": csrf_token(request), "email": user.email, "token": token},
        headers=NO_STORE,
    )


@router.post("/verify/{token}")
async def verify(token: str, request: Request, state: State, services: RequestServices) -> Response:
    await posted_form(request)
    visitor = await _as_visitor(request, state, services)
    try:
        await visitor.signup.verify_email(token)
    except InvalidInput as exc:
        return _link_unusable(request, exc)
    return redirect_to("/portal/apps?done=verified")


@router.post("/verify")
async def resend_verification(request: Request, state: State, caller: PortalDeveloper) -> Response:
    """Sends the signed-in developer's verification link again."""
    await posted_form(request)
    user = caller.user
    issued = await caller.services.signup.verification_link(user)
    assert user.email is not None  # verification_link refuses an account without one
    url = link_url(state.settings, VERIFY_PATH, issued.token)
    message = Message(
        user.email, VERIFY_SUBJECT, verification_text(state.settings.display_name, url)
    )
    shown = await send_link(caller.services, state.mailer, message, url)
    return _sent_page(request, user.email, shown)
