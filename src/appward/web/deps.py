"""Request-scoped dependencies: the unit of work (services.py), the caller, and the
services they get."""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request

from appward.audit import Actor, AuditLog
from appward.auth.tls import certificate_thumbprint
from appward.clients import policy
from appward.clients.scopes import ScopeService
from appward.clients.service import ClientService
from appward.errors import InvalidClient, InvalidToken
from appward.registration.initial_access_tokens import InitialAccessTokenService
from appward.services import Services, unit_of_work
from appward.tokens.access import verify_access_token
from appward.tokens.preview import TokenPreviewService
from appward.users.service import UserService
from appward.web.client_certificate import presented_certificate
from appward.web.responses import record_client
from appward.web.state import AppState

# Dependencies are async on purpose: FastAPI runs a plain ``def`` dependency in a worker
# thread, a hop that costs more than the work on the token endpoint's hot path.


async def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.appward
    return state


State = Annotated[AppState, Depends(app_state)]


async def request_services(state: State) -> AsyncIterator[Services]:
    """One unit of work per request, scoped to the handler so the commit happens before
    the response is sent. It audits as no one: handlers that change something take
    AdminServices (or act as their caller with ``acting_as``)."""
    async with unit_of_work(state, None) as services:
        yield services


RequestServices = Annotated[Services, Depends(request_services, scope="function")]


async def source_ip(request: Request, state: State) -> str | None:
    """Returns the caller's address: the peer's, or behind a trusted proxy the rightmost
    X-Forwarded-For entry (the one the proxy wrote), when that is an IP address."""
    peer = request.client.host if request.client else None
    if not state.settings.trust_forwarded_for:
        return peer
    return forwarded_address(request.headers.getlist("x-forwarded-for")) or peer


def forwarded_address(lines: list[str]) -> str | None:
    """Returns the rightmost entry of every X-Forwarded-For line read as one list, if it
    is an IP address.

    Entries left of the proxy's are the caller's to invent, and so is a whole header line
    when the proxy adds its own line instead of appending to the caller's: only the
    last entry of the last line is the proxy's. Anything that is not an address (an empty
    entry, a name) is no address at all, so it cannot open a throttling bucket of its own.
    """
    entries = ",".join(lines).split(",")
    candidate = entries[-1].strip()
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return None


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidToken(
            "a Bearer access token with scope appward:admin is required", missing=not header
        )
    return token.strip()


async def current_admin(request: Request, state: State, services: RequestServices) -> Actor:
    """Returns the admin making the request. Raises InvalidToken (401) for a missing,
    invalid or expired token or a client no longer active; InsufficientScope (403)."""
    token = bearer_token(request)
    verify_access_token(
        state.key_ring(),
        token,
        issuer=state.settings.issuer,
        audience=state.settings.issuer,
        now=state.clock.now(),
    )
    active = await services.tokens.active_access_token(token)
    if active is None:
        raise InvalidToken("the token was revoked, or its client is disabled or deleted")
    claims, client = active
    policy.check_token_binding(claims, _presented_thumbprint(request, state))
    policy.check_admin(claims, client)
    record_client(request.scope, client.client_id)
    return Actor(f"client:{client.client_id}", await source_ip(request, state))


def _presented_thumbprint(request: Request, state: AppState) -> str | None:
    # The certificate the trusted proxy passed on, if any (web/client_certificate.py's
    # rule, as at the token endpoint); an unreadable one counts as none.
    peer = request.client.host if request.client else None
    try:
        certificate = presented_certificate(state.client_certificates, request.headers, peer)
    except InvalidClient:
        return None
    return certificate_thumbprint(certificate) if certificate is not None else None


Admin = Annotated[Actor, Depends(current_admin)]


async def admin_services(services: RequestServices, admin: Admin) -> Services:
    return services.acting_as(admin)


AdminServices = Annotated[Services, Depends(admin_services)]


async def audit_log(services: AdminServices) -> AuditLog:
    return services.audit


async def client_service(services: AdminServices) -> ClientService:
    return services.clients


async def scope_service(services: AdminServices) -> ScopeService:
    return services.scopes


async def initial_access_token_service(services: AdminServices) -> InitialAccessTokenService:
    return services.initial_access_tokens


async def user_service(services: AdminServices) -> UserService:
    return services.users


async def token_preview_service(services: AdminServices) -> TokenPreviewService:
    return services.token_preview


Audit = Annotated[AuditLog, Depends(audit_log)]
Clients = Annotated[ClientService, Depends(client_service)]
InitialAccessTokens = Annotated[InitialAccessTokenService, Depends(initial_access_token_service)]
Scopes = Annotated[ScopeService, Depends(scope_service)]
Users = Annotated[UserService, Depends(user_service)]
TokenPreviews = Annotated[TokenPreviewService, Depends(token_preview_service)]
