"""Request-scoped dependencies: the unit of work, the caller, and the services they get."""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, cast

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from appward.audit import Actor, AuditLog
from appward.auth.invalidation import announce_change
from appward.clients import policy
from appward.clients.credential_changes import changed_credentials
from appward.clients.scopes import ScopeService
from appward.clients.service import ClientService
from appward.errors import InvalidToken
from appward.registration.initial_access_tokens import InitialAccessTokenService
from appward.tokens.access import verify_access_token
from appward.tokens.service import TokenService
from appward.users.service import UserService
from appward.web.state import AppState

# Dependencies are async on purpose: FastAPI runs a plain ``def`` dependency in a worker
# thread, a hop that costs more than the work on the token endpoint's hot path.


async def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.appward
    return state


State = Annotated[AppState, Depends(app_state)]


class _DeferredSession:
    """Stands in for an AsyncSession and opens the real one on first use.

    The token endpoint answers most requests from memory (a cached verification and a
    signature); not even building a session for those is a measurable part of its cost.
    """

    def __init__(self, state: AppState) -> None:
        self._state = state
        self.opened: AsyncSession | None = None

    def __getattr__(self, name: str) -> Any:
        if self.opened is None:
            self.opened = self._state.sessions()()
        return getattr(self.opened, name)


@asynccontextmanager
async def transaction(state: AppState) -> AsyncIterator[AsyncSession]:
    """One unit of work: committed when the block ends, rolled back if it raises; then
    every credential cache hears of the credentials it changed."""
    deferred = _DeferredSession(state)
    try:
        yield cast(AsyncSession, deferred)
    except BaseException:
        if deferred.opened is not None:
            await deferred.opened.rollback()
            await deferred.opened.close()
        raise
    session = deferred.opened
    if session is None:
        return
    try:
        if session.in_transaction():
            await session.commit()
    finally:
        await session.close()
    await announce_change(
        changed_credentials(session),
        epoch=state.epoch,
        redis_url=state.settings.redis_url,
        local=state.credential_cache,
    )


async def unit_of_work(state: State) -> AsyncIterator[AsyncSession]:
    """One transaction per request, scoped to the handler so the commit happens before
    the response is sent."""
    async with transaction(state) as session:
        yield session


Session = Annotated[AsyncSession, Depends(unit_of_work, scope="function")]


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


async def current_admin(request: Request, state: State, session: Session) -> Actor:
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
    tokens = TokenService(session, state.key_ring(), state.settings.issuer, state.clock)
    active = await tokens.active_access_token(token)
    if active is None:
        raise InvalidToken("the token was revoked, or its client is disabled or deleted")
    claims, client = active
    policy.check_admin(claims, client)
    return Actor(f"client:{client.client_id}", await source_ip(request, state))


Admin = Annotated[Actor, Depends(current_admin)]


async def audit_log(state: State, session: Session, admin: Admin) -> AuditLog:
    return AuditLog(session, state.clock, admin)


Audit = Annotated[AuditLog, Depends(audit_log)]


async def client_service(state: State, session: Session, audit: Audit) -> ClientService:
    return build_client_service(state, session, audit)


def build_client_service(state: AppState, session: AsyncSession, audit: AuditLog) -> ClientService:
    settings = state.settings
    return ClientService(
        session,
        state.clock,
        state.hasher,
        settings.lifetime_bounds,
        settings.secret_policy,
        audit,
    )


async def scope_service(state: State, session: Session, audit: Audit) -> ScopeService:
    return ScopeService(session, state.clock, audit)


async def initial_access_token_service(
    state: State, session: Session, audit: Audit
) -> InitialAccessTokenService:
    return InitialAccessTokenService(session, state.clock, audit)


Clients = Annotated[ClientService, Depends(client_service)]
InitialAccessTokens = Annotated[InitialAccessTokenService, Depends(initial_access_token_service)]
Scopes = Annotated[ScopeService, Depends(scope_service)]


async def user_service(state: State, session: Session, audit: Audit) -> UserService:
    return UserService(session, state.clock, state.user_verifier, audit)


Users = Annotated[UserService, Depends(user_service)]
