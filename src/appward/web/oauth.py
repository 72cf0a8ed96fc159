"""OAuth endpoints: metadata, JWKS, authorize, token, introspection, revocation.

Thin adapters: every decision is the domain's (clients.policy, authorization, tokens).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from cryptography import x509
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from appward.auth import METHODS_SUPPORTED, PresentedCredentials, authenticate_client
from appward.auth.credentials import presented_assertion
from appward.auth.tls import certificate_thumbprint
from appward.authorization import (
    PARAMETERS,
    AuthorizationRequest,
    RedirectError,
    describe_scopes,
    redirect_with,
    validate_authorization_request,
)
from appward.clients import policy
from appward.clients.approval import shows_unverified_notice
from appward.clients.auth_methods import is_public_method, signing_algs_supported
from appward.clients.scopes import Scope
from appward.clients.snapshot import ClientSnapshot
from appward.errors import (
    AccessDenied,
    AppwardError,
    AuthFailure,
    ConsentRequired,
    InvalidClient,
    InvalidRequest,
    LoginRequired,
    UnsupportedGrantType,
    safe_description,
)
from appward.services import Services, unit_of_work
from appward.tokens.codes import CodeRequest, issue_code
from appward.tokens.grant_types import GRANT_TYPES
from appward.users.models import User
from appward.users.service import account_actor
from appward.web.client_certificate import presented_certificate
from appward.web.deps import RequestServices, State, forwarded_address, source_ip
from appward.web.fastpath import FormHandler, FormRequest
from appward.web.forms import form_decode as _form_decode
from appward.web.forms import parse_form, parse_pairs, read_form
from appward.web.page_access import PASSWORD_PAGE
from appward.web.responses import (
    NO_STORE,
    Reply,
    error_reply,
    form_refused_status,
    record_error,
)
from appward.web.sessions import (
    check_csrf,
    csrf_token,
    needs_fresh_login,
    require_fresh_login,
    signed_in,
)
from appward.web.state import AppState
from appward.web.templates import external_image, preferred_languages, render, source_expression

router = APIRouter(tags=["oauth"])


# --- client credentials ---


def presented_credentials(
    headers: Mapping[str, str],
    form: dict[str, str],
    certificate: x509.Certificate | None = None,
) -> PresentedCredentials:
    """Returns how the client tried to authenticate (RFC 6749 §2.3), with the TLS client
    certificate the trusted proxy passed on (web/client_certificate.py), if any.

    Raises InvalidRequest when more than one method is used, InvalidClient when none is
    or the Basic header is malformed.
    """
    presented = _presented_proof(headers, form)
    if certificate is None:
        return presented
    return replace(presented, certificate=certificate)


def _presented_proof(headers: Mapping[str, str], form: dict[str, str]) -> PresentedCredentials:
    header = headers.get("authorization")
    if "client_assertion" in form or "client_assertion_type" in form:
        if header is not None or "client_secret" in form:
            raise InvalidRequest("use one client authentication method, not an assertion too")
        return presented_assertion(
            form.get("client_assertion_type"), form.get("client_assertion"), form.get("client_id")
        )
    if header is not None:
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            raise InvalidClient(
                "only the Basic scheme authenticates clients here", reason=AuthFailure.MALFORMED
            )
        if "client_secret" in form:
            raise InvalidRequest("use one client authentication method, not Basic and the body")
        client_id, secret = _decode_basic(encoded.strip())
        if "client_id" in form and form["client_id"] != client_id:
            raise InvalidRequest("client_id in the body differs from the Basic credentials")
        return PresentedCredentials("client_secret_basic", client_id, secret)
    form_client_id = form.get("client_id")
    if form_client_id is None:
        raise InvalidClient("client authentication is required", reason=AuthFailure.MALFORMED)
    if "client_secret" in form:
        return PresentedCredentials("client_secret_post", form_client_id, form["client_secret"])
    return PresentedCredentials("none", form_client_id)


def _decode_basic(encoded: str) -> tuple[str, str]:
    # RFC 6749 §2.3.1: both parts are form-urlencoded before the Basic encoding.
    try:
        decoded = base64.b64decode(encoded, validate=True).decode()
    except (binascii.Error, ValueError):  # ValueError: non-ASCII in the header
        raise InvalidClient(
            "the Basic credentials are malformed", reason=AuthFailure.MALFORMED
        ) from None
    client_id, colon, secret = decoded.partition(":")
    if not colon or not client_id:
        raise InvalidClient("the Basic credentials are malformed", reason=AuthFailure.MALFORMED)
    return _form_decode(client_id), _form_decode(secret)


async def _authenticated_client(
    request: FormRequest,
    form: dict[str, str],
    state: AppState,
    services: Services,
    certificate: x509.Certificate | None,
) -> ClientSnapshot:
    return await authenticate_client(
        services.session,
        presented_credentials(request.headers, form, certificate),
        verifier=state.verifier,
        clock=state.clock,
        cache=state.credential_cache,
        tools=state.auth_tools,
        endpoint_url=state.settings.issuer + request.path,
        throttle=state.client_auth_throttle,
        address=_address(request, state),
    )


def _address(request: FormRequest, state: AppState) -> str | None:
    # As web.deps.source_ip reads it, from the form endpoints' plain headers.
    if not state.settings.trust_forwarded_for:
        return request.peer
    line = request.headers.get("x-forwarded-for")
    return (forwarded_address([line]) if line else None) or request.peer


def _certificate(request: FormRequest, state: AppState) -> x509.Certificate | None:
    # None at once when mutual TLS is off: the hot path pays one attribute read.
    return presented_certificate(state.client_certificates, request.headers, request.peer)


# --- discovery ---


@router.get(
    "/.well-known/oauth-authorization-server",
    summary="Server metadata (RFC 8414)",
    description="The endpoints, grant types, authentication methods and public scopes of "
    "this server, for clients to configure themselves.",
)
async def server_metadata(state: State, services: RequestServices) -> JSONResponse:
    issuer = state.settings.issuer
    # Admin-only scopes are not advertised: no client discovers them from here.
    scopes = await services.session.scalars(select(Scope.name).where(Scope.admin_only.is_(False)))
    registration = (
        {"registration_endpoint": f"{issuer}/oauth2/register"}
        if state.registration_policy.enabled
        else {}
    )
    return JSONResponse(
        {
            "issuer": issuer,
            "authorization_endpoint": f"{issuer}/oauth2/authorize",
            **registration,
            "token_endpoint": f"{issuer}/oauth2/token",
            "jwks_uri": f"{issuer}/oauth2/jwks",
            "introspection_endpoint": f"{issuer}/oauth2/introspect",
            "revocation_endpoint": f"{issuer}/oauth2/revoke",
            "scopes_supported": sorted(scopes),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": list(GRANT_TYPES),
            "token_endpoint_auth_methods_supported": list(METHODS_SUPPORTED),
            **_signing_algs_supported(),
            "introspection_endpoint_auth_methods_supported": [
                m for m in METHODS_SUPPORTED if not is_public_method(m)
            ],
            "revocation_endpoint_auth_methods_supported": list(METHODS_SUPPORTED),
            "code_challenge_methods_supported": ["S256"],
            "authorization_response_iss_parameter_supported": True,
            "prompt_values_supported": ["none", "login", "consent"],
            **_mtls_metadata(state),
        },
        headers={"Cache-Control": "public, max-age=300"},
    )


def _mtls_metadata(state: AppState) -> dict[str, Any]:
    # RFC 8705 §3.3 and §5: only while a proxy passes certificates on (mTLS is on).
    settings = state.settings
    if state.client_certificates is None:
        return {}
    base = (settings.mtls_endpoint_base or settings.issuer).rstrip("/")
    return {
        "tls_client_certificate_bound_access_tokens": True,
        "mtls_endpoint_aliases": {
            "token_endpoint": f"{base}/oauth2/token",
            "introspection_endpoint": f"{base}/oauth2/introspect",
            "revocation_endpoint": f"{base}/oauth2/revoke",
        },
    }


def _signing_algs_supported() -> dict[str, list[str]]:
    # RFC 8414 §2: present whenever a method taking signed assertions is offered.
    algs = signing_algs_supported()
    if not algs:
        return {}
    return {
        f"{endpoint}_endpoint_auth_signing_alg_values_supported": algs
        for endpoint in ("token", "introspection", "revocation")
    }


@router.get(
    "/oauth2/jwks",
    summary="Public signing keys (RFC 7517)",
    description="The JWK Set that verifies the access tokens this server signs.",
)
async def jwks(state: State) -> JSONResponse:
    return JSONResponse(state.key_ring().jwks, headers={"Cache-Control": "public, max-age=300"})


# --- token endpoint ---


# The three client-authenticated endpoints are plain Starlette routes: they take a form,
# not JSON, and the token endpoint is the hot path, where FastAPI's dependency solving
# costs more than the work. Their OpenAPI entries are added in web/app.py.


async def token_endpoint(request: FormRequest, state: AppState) -> Reply:
    """Token endpoint (RFC 6749 §3.2)."""
    async with unit_of_work(state, None) as services:
        return await token(request, state, services)


async def introspection_endpoint(request: FormRequest, state: AppState) -> Reply:
    """Token introspection (RFC 7662)."""
    async with unit_of_work(state, None) as services:
        return await introspect(request, state, services)


async def revocation_endpoint(request: FormRequest, state: AppState) -> Reply:
    """Token revocation (RFC 7009)."""
    async with unit_of_work(state, None) as services:
        return await revoke(request, state, services)


FORM_ENDPOINT_HANDLERS: dict[str, FormHandler] = {
    "/oauth2/token": token_endpoint,
    "/oauth2/introspect": introspection_endpoint,
    "/oauth2/revoke": revocation_endpoint,
}


async def _answer_405(_request: Request) -> Response:  # pragma: no cover (never called)
    return Response(status_code=405, headers={"Allow": "POST"})


# In the routing table only so that other methods get 405: POSTs are served by
# web/fastpath.py before routing.
for _path in FORM_ENDPOINT_HANDLERS:
    router.add_route(_path, _answer_405, methods=["POST"], include_in_schema=False)


async def token(request: FormRequest, state: AppState, services: Services) -> Reply:
    basic_attempted = "authorization" in request.headers
    client: ClientSnapshot | None = None
    try:
        form = parse_form(request.headers.get("content-type", ""), request.body)
        grant_type = form.get("grant_type")
        if grant_type is None:
            raise InvalidRequest("grant_type is required")
        if grant_type not in GRANT_TYPES:
            raise UnsupportedGrantType(f"grant_type {grant_type!r} is not supported")
        certificate = _certificate(request, state)
        client = await _authenticated_client(request, form, state, services, certificate)
        if state.token_limiter is not None:
            # After authentication: the count is the client's own, never one another
            # caller can spend by naming its client_id.
            await state.token_limiter.hit(client.client_id, state.clock.now())
        # RFC 8705 §3: what a certificate-bound client's tokens are bound to.
        thumbprint = None if certificate is None else certificate_thumbprint(certificate)
        body = await GRANT_TYPES[grant_type](services.tokens, client, form, thumbprint)
    except AppwardError as exc:
        # What the domain wrote before refusing stays written: a burnt code, a revoked
        # family after a replay.
        return _known_client(error_reply(exc, basic_attempted=basic_attempted), client)
    return Reply(200, body, NO_STORE, client_id=client.client_id, grant_type=grant_type)


def _known_client(reply: Reply, client: ClientSnapshot | None) -> Reply:
    # A refusal after authentication (invalid_grant, invalid_scope) names the client in
    # the request log; before it, nobody is known.
    return reply if client is None else replace(reply, client_id=client.client_id)


# --- introspection and revocation ---


async def introspect(request: FormRequest, state: AppState, services: Services) -> Reply:
    basic_attempted = "authorization" in request.headers
    client: ClientSnapshot | None = None
    try:
        form = parse_form(request.headers.get("content-type", ""), request.body)
        client = await _authenticated_client(
            request, form, state, services, _certificate(request, state)
        )
        policy.check_may_introspect(client)
        token_value = form.get("token")
        if token_value is None:
            raise InvalidRequest("token is required")
        body = await services.tokens.introspect(client, token_value)
    except AppwardError as exc:
        return _known_client(error_reply(exc, basic_attempted=basic_attempted), client)
    return Reply(200, body, NO_STORE, client_id=client.client_id)


async def revoke(request: FormRequest, state: AppState, services: Services) -> Reply:
    basic_attempted = "authorization" in request.headers
    client: ClientSnapshot | None = None
    try:
        form = parse_form(request.headers.get("content-type", ""), request.body)
        client = await _authenticated_client(
            request, form, state, services, _certificate(request, state)
        )
        token_value = form.get("token")
        if token_value is None:
            raise InvalidRequest("token is required")
        await services.tokens.revoke(client, token_value)
    except AppwardError as exc:
        return _known_client(error_reply(exc, basic_attempted=basic_attempted), client)
    return Reply(200, None, NO_STORE, client_id=client.client_id)


# --- authorization endpoint ---


@router.get(
    "/oauth2/authorize",
    summary="Authorization endpoint (RFC 6749 §3.1)",
    description="The browser's way in to the authorization code flow (with PKCE): signs the "
    "user in, asks for consent, then redirects to the client with a code or an error.",
    response_class=HTMLResponse,
    responses={
        200: {"description": "The consent page"},
        303: {"description": "To the login page, or back to the client's redirect URI"},
        400: {
            "description": "An error page, when the client or redirect URI is invalid",
            "content": {"text/html": {"schema": {"type": "string"}}},
        },
    },
    # Read from the raw query string (a repeated parameter is an error), so listed here.
    openapi_extra={
        "parameters": [
            {
                "name": name,
                "in": "query",
                "required": name in ("response_type", "client_id"),
                "schema": {"type": "string"},
            }
            for name in PARAMETERS
        ]
    },
)
async def authorize(request: Request, state: State, services: RequestServices) -> Response:
    try:
        params = parse_pairs(parse_qsl(request.url.query, keep_blank_values=True))
    except InvalidRequest as exc:
        return _error_page(request, exc)
    return await _authorize(request, state, services, params, decision=None)


@router.post("/oauth2/authorize", summary="The user's consent decision", include_in_schema=False)
async def authorize_decision(request: Request, state: State, services: RequestServices) -> Response:
    try:
        form = await read_form(request)
        check_csrf(request, form.get("csrf"))
    except AppwardError as exc:
        return _error_page(request, exc)
    params = {k: v for k, v in form.items() if k in PARAMETERS}
    return await _authorize(request, state, services, params, decision=form.get("decision"))


async def _authorize(
    request: Request,
    state: State,
    services: Services,
    params: dict[str, str],
    *,
    decision: str | None,
) -> Response:
    session = services.session
    try:
        authz = await validate_authorization_request(session, params)
    except RedirectError as exc:
        return _redirect_error(state, exc.redirect_uri, exc.state, exc.error)
    except AppwardError as exc:
        return _error_page(request, exc)

    # None too for a session ended on the server (signed out, ended by an admin, the
    # account disabled or deleted), past its end or idle for too long.
    current = await signed_in(request, state, services)
    if current is not None and authz.prompt == "login" and decision is None:
        await require_fresh_login(request, services, current)
        current = await signed_in(request, state, services)
    if current is None or needs_fresh_login(current):
        if authz.prompt == "none":
            return _redirect_error(state, authz.redirect_uri, authz.state, LoginRequired())
        # prompt=login is met by the sign-in this sends the user to: kept, it would ask
        # for yet another one on return, forever. prompt=consent must survive the trip.
        query = urlencode({k: v for k, v in params.items() if not (k == "prompt" and v == "login")})
        login_url = f"/login?{urlencode({'next': f'/oauth2/authorize?{query}'})}"
        return RedirectResponse(login_url, status_code=303)

    user = current.user
    if user.password_change_required:
        # An admin's temporary password: nothing is issued until the account has chosen
        # its own (page_access sends every page there too), then this request resumes.
        if authz.prompt == "none":
            return _redirect_error(state, authz.redirect_uri, authz.state, LoginRequired())
        back = f"/oauth2/authorize?{urlencode(params)}"
        return RedirectResponse(f"{PASSWORD_PAGE}?{urlencode({'next': back})}", status_code=303)
    user_id = user.id
    acting = services.acting_as(account_actor(user, await source_ip(request, state)))
    consents = acting.consents
    if decision == "deny":
        return _redirect_error(state, authz.redirect_uri, authz.state, AccessDenied())
    if decision == "allow":
        await consents.grant(user_id, authz.client, authz.scopes)
    elif authz.prompt == "consent" or (
        not authz.client.skip_consent
        and not await consents.covers(user_id, authz.client, authz.scopes)
    ):
        if authz.prompt == "none":
            return _redirect_error(state, authz.redirect_uri, authz.state, ConsentRequired())
        return await _consent_page(request, session, authz, user)

    code = await issue_code(
        session,
        state.clock,
        CodeRequest(
            client=authz.client,
            user_id=user_id,
            redirect_uri=authz.redirect_uri,
            redirect_uri_given=authz.redirect_uri_given,
            scopes=authz.scopes,
            code_challenge=authz.code_challenge,
        ),
        lifetime=state.settings.authorization_code_ttl,
    )
    location = redirect_with(
        authz.redirect_uri, {"code": code, "state": authz.state, "iss": state.settings.issuer}
    )
    return RedirectResponse(location, status_code=303, headers=NO_STORE)


def _redirect_error(
    state: State, redirect_uri: str, client_state: str | None, error: AppwardError
) -> Response:
    # RFC 9207: iss tells the client which server answered, against mix-up attacks.
    location = redirect_with(
        redirect_uri,
        {
            "error": error.error,
            "error_description": safe_description(error.description),
            "state": client_state,
            "iss": state.settings.issuer,
        },
    )
    return RedirectResponse(location, status_code=303, headers=NO_STORE)


def _error_page(request: Request, error: AppwardError) -> Response:
    record_error(request.scope, error)  # for web/pipeline.py's log line
    return render(
        request,
        "error.html",
        {"error": error.error, "description": error.description},
        status_code=500 if error.status_code >= 500 else form_refused_status(error),
    )


async def _consent_page(
    request: Request, session: AsyncSession, authz: AuthorizationRequest, user: User
) -> Response:
    client = authz.client
    logo_uri = external_image(client.logo_uri)
    context: dict[str, Any] = {
        "client": client,
        "client_name": client.display_name(
            preferred_languages(request.headers.get("accept-language", ""))
        ),
        "logo_uri": logo_uri,
        "unverified": shows_unverified_notice(client),
        "scopes": await describe_scopes(session, authz.scopes),
        "params": authz.params,
        "csrf": csrf_token(request),
        "redirect_host": authz.redirect_uri.split("/")[2] if "://" in authz.redirect_uri else "",
        "user": user,
        # "Not you?": sign out (a POST with the CSRF token), then this same request again.
        "switch_user_next": f"/oauth2/authorize?{urlencode(authz.params)}",
    }
    return render(
        request,
        "consent.html",
        context,
        headers=NO_STORE,
        form_action=source_expression(authz.redirect_uri),
        images=[logo_uri],
    )


@dataclass(frozen=True, slots=True)
class LoginTarget:
    """What the login page shows and allows for its ``next``: the application the user is
    signing in to (None unless ``next`` is a valid authorization request), its logo
    (https only), and the CSP source its form's answer may end at (None: only here)."""

    client_name: str | None = None
    logo_uri: str | None = None
    form_action: str | None = None


async def login_target(session: AsyncSession, target: str, languages: list[str]) -> LoginTarget:
    """Returns the LoginTarget of a login page whose safe ``next`` is ``target``.

    ``target`` is validated here as the authorization endpoint will validate it: only a
    request naming an active client and one of its registered redirect URIs gives a
    name, a logo or a form-action source, and then exactly that URI's origin.

    Why form-action: Chromium applies it to every redirect answering a form, not just to
    the form's own action. When no consent page follows (consent remembered, a
    skip_consent client, prompt=login), the login POST answers 303 /oauth2/authorize,
    which answers 303 to the client's redirect URI, and Chromium blocks that last hop
    unless the login page names its origin: the one the consent page names too and the
    only place /oauth2/authorize can send the browser for this request (with a code or,
    RFC 6749 §4.1.2.1, an error; a request that will end in such an error gets the
    source but no name, since the user is not going on to the application). Any other
    next (the account page, an unknown or disabled client, an unregistered redirect URI)
    adds nothing. A crafted link can therefore only name an origin some registered
    client may already receive codes at: for a loopback redirect URI any port of it (RFC
    8252 §7.3), and under open registration an origin its author registered. form-action
    is a second line behind autoescaping, which keeps HTML out of the page, so that is
    no open redirect: the server itself only ever sends the browser where
    /oauth2/authorize would.

    The logo is an image from elsewhere: shown only over https, and its origin alone is
    added to the page's img-src (templates.render), so a page loads no other image.
    """
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or parts.path != "/oauth2/authorize":
        return LoginTarget()
    try:
        params = parse_pairs(parse_qsl(parts.query, keep_blank_values=True))
        authz = await validate_authorization_request(session, params)
    except RedirectError as exc:
        # Registered, so the error is sent there: the form's answer may end at it. No
        # name shown: the request ends in that error, not at the application.
        return LoginTarget(form_action=_form_action(exc.redirect_uri))
    except AppwardError:
        return LoginTarget()
    client = authz.client
    return LoginTarget(
        client_name=client.display_name(languages),
        logo_uri=external_image(client.logo_uri),
        form_action=_form_action(authz.redirect_uri),
    )


def _form_action(redirect_uri: str) -> str | None:
    source = source_expression(redirect_uri)
    return None if source == "'none'" else source
