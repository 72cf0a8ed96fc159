"""create_app: the ASGI application, built from Settings."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import secrets
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager

import redis.asyncio as aioredis
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette._utils import get_route_path
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.errors import ServerErrorMiddleware
from starlette.responses import RedirectResponse
from starlette.routing import Match, Router
from starlette.types import ASGIApp, Receive, Scope, Send

from appward.auth import AuthTools, ClientAuthThrottle, CredentialCache
from appward.auth.credential_cache import EPOCH_FILE
from appward.auth.credentials import AssertionRules, JtiStore, RemoteKeySets
from appward.auth.epoch_file import EpochFile
from appward.auth.invalidation import listen_for_changes
from appward.auth.jwks import JwksFetcher
from appward.auth.replay import DatabaseJtiStore, RedisJtiStore
from appward.auth.tls import load_client_ca
from appward.clock import Clock, SystemClock
from appward.config import Settings, load_settings
from appward.db import DatabaseUnavailable, create_engine, create_sessionmaker
from appward.errors import AppwardError
from appward.hashing import Argon2Hasher, Hasher, SecretVerifier
from appward.logs import configure_logging
from appward.mail import mailer_for
from appward.metrics import MULTIPROCESS_DIR, NO_METRICS, Metrics, scrape_registry, serve_metrics
from appward.rate_limit import RateLimiter, address_rate_limiter, rate_limiter
from appward.registration.policy import registration_policy
from appward.services import redis_client, unit_of_work
from appward.tokens.keys import (
    KEYS_EPOCH_FILE,
    ensure_signing_key,
    generated_key_file,
    load_key_encryption,
    load_key_ring,
    load_secret_cipher,
)
from appward.users.throttle import (
    RESET_REQUEST_WINDOW,
    RESET_REQUESTS_PER_ACCOUNT,
    RESET_REQUESTS_PER_ADDRESS,
    LoginThrottle,
    ResetRequestThrottle,
)
from appward.web import (
    account_security,
    admin,
    console,
    health,
    oauth,
    pages,
    password_reset,
    portal,
    registration,
    static,
)
from appward.web.client_certificate import CertificateHeader
from appward.web.openapi import add_api_docs, openapi_document
from appward.web.page_access import add_page_handlers
from appward.web.pipeline import Pipeline, RequestHook, redact_access_log
from appward.web.request_log import RequestLog
from appward.web.request_metrics import RequestMetrics
from appward.web.responses import (
    handle_appward_error,
    handle_http_error,
    handle_validation_error,
)
from appward.web.sessions import SessionCookieMiddleware
from appward.web.state import AppState

log = logging.getLogger("appward.web")
SESSION_KEY_FILE = "session.key"
# Seconds between two looks at the signing keys' epoch file (a memory read each).
KEY_EPOCH_POLL = 0.2


def jwks_fetcher(settings: Settings, metrics: Metrics = NO_METRICS) -> JwksFetcher:
    """Returns the app's one fetcher of clients' jwks_uri (closed in the lifespan)."""
    return JwksFetcher(
        metrics=metrics,
        cache_ttl=settings.jwks_uri_cache_ttl,
        refetch_interval=settings.jwks_uri_refetch_interval,
        timeout=settings.jwks_uri_timeout,
        max_bytes=settings.jwks_uri_max_bytes,
        allow_loopback=settings.jwks_uri_allow_loopback,
    )


def auth_tools(
    settings: Settings,
    clock: Clock,
    redis: aioredis.Redis | None = None,
    remote_keys: RemoteKeySets | None = None,
) -> AuthTools:
    """Returns what the methods beyond shared secrets need, from ``settings``: the jti
    replay store is Redis when the app has it (every process shares it), else the
    database; ``remote_keys`` fetches clients' jwks_uri (jwks_fetcher)."""
    database_store = DatabaseJtiStore(clock)
    replay: JtiStore = RedisJtiStore(redis, database_store) if redis is not None else database_store
    return AuthTools(
        assertion_rules=AssertionRules(
            issuer=settings.issuer,
            token_endpoint=f"{settings.issuer}/oauth2/token",
            audience=settings.assertion_audience,
            max_lifetime=settings.assertion_max_lifetime,
            clock_skew=settings.assertion_clock_skew,
        ),
        replay=replay,
        secret_cipher=load_secret_cipher(
            settings.key_encryption_key, settings.data_dir, settings.previous_key_encryption_keys
        ),
        remote_keys=remote_keys,
        client_ca=load_client_ca(settings.mtls_ca_bundle) if settings.mtls_ca_bundle else None,
    )


def create_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    hasher: Hasher | None = None,
    hooks: Sequence[RequestHook] = (),
) -> FastAPI:
    """Returns the app. The database must be migrated (``appward db upgrade``).
    ``hooks`` see every request (web/pipeline.py), before the metrics' and the request
    log's when those are on."""
    hasher = hasher or Argon2Hasher(settings.argon2)
    metrics = (
        Metrics(max_clients=settings.metrics_max_clients)
        if settings.metrics_enabled
        else NO_METRICS
    )
    hooks = [*hooks, *_observers(settings, metrics)]
    epoch = EpochFile(settings.data_dir / EPOCH_FILE)
    redis = redis_client(settings.redis_url, timeout=settings.redis_timeout)  # on first use
    clock = clock or SystemClock()
    remote_keys = jwks_fetcher(settings, metrics)
    keys_epoch = EpochFile(settings.data_dir / KEYS_EPOCH_FILE)
    state = AppState(
        settings=settings,
        clock=clock,
        hasher=hasher,
        verifier=SecretVerifier(hasher, settings.secret_policy, metrics=metrics),
        user_verifier=SecretVerifier(hasher, settings.secret_policy, metrics=metrics, pool="users"),
        credential_cache=CredentialCache(
            ttl=settings.credential_cache_ttl,
            max_entries=settings.credential_cache_size,
            epoch=epoch,
            fallback_ttl=settings.credential_cache_fallback_ttl,
            metrics=metrics,
        ),
        metrics=metrics,
        login_throttle=LoginThrottle(
            **_limiters(
                redis,
                settings.login_failure_window,
                by_address=("login-addresses", settings.login_failures_per_address),
                by_username=("login-usernames", settings.login_failures_per_username),
            )
        ),
        client_auth_throttle=ClientAuthThrottle(
            **_limiters(
                redis,
                settings.client_auth_failure_window,
                by_client=("client-auth-clients", settings.client_auth_failures_per_client),
                by_address=("client-auth-addresses", settings.client_auth_failures_per_address),
            )
        ),
        token_limiter=None
        if settings.token_requests_per_client is None
        else rate_limiter("token-requests", limit=settings.token_requests_per_client, redis=redis),
        epoch=epoch,
        cipher=load_key_encryption(settings.key_encryption_key, settings.data_dir),
        session_key=_session_secret(settings).encode(),
        registration_limiter=address_rate_limiter(
            "registrations",
            limit=settings.dcr_rate_limit,
            redis=redis,
        ),
        registration_policy=registration_policy(settings),
        reset_throttle=ResetRequestThrottle(
            **_limiters(
                redis,
                RESET_REQUEST_WINDOW,
                by_address=("password-reset-addresses", RESET_REQUESTS_PER_ADDRESS),
                by_account=("password-reset-accounts", RESET_REQUESTS_PER_ACCOUNT),
            )
        ),
        redis=redis,
        mailer=mailer_for(settings, clock),
        auth_tools=auth_tools(settings, clock, redis, remote_keys),
        client_certificates=CertificateHeader.from_settings(settings),
    )
    state.credential_cache.on_change(remote_keys.forget)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        state.engine = create_engine(
            settings.database_url,
            schema=settings.database_schema,
            timeout=settings.database_timeout,
        )
        state.sessionmaker = create_sessionmaker(state.engine)
        async with unit_of_work(state, None) as services:
            await ensure_signing_key(services.session, state.cipher, state.clock)
        await reload_keys(state)
        tasks = [asyncio.create_task(keep_keys_fresh(state, keys_epoch))]
        if redis is not None:
            tasks.append(
                asyncio.create_task(
                    listen_for_changes(
                        redis, state.credential_cache, lambda: reload_keys_or_keep(state)
                    )
                )
            )
        if metrics.enabled:
            tasks.append(asyncio.create_task(metrics.fold_every()))
        stop_metrics = _serve_own_metrics(settings, metrics)
        _settle_garbage_collector()
        try:
            yield
        finally:
            metrics.fold()
            if stop_metrics is not None:
                stop_metrics()
            metrics.close()
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await state.engine.dispose()
            await remote_keys.aclose()
            await state.registration_limiter.close()
            await state.login_throttle.close()
            await state.client_auth_throttle.close()
            if state.token_limiter is not None:
                await state.token_limiter.close()
            await state.reset_throttle.close()
            if redis is not None:
                await redis.aclose()

    redact_access_log()  # one-time-link tokens in paths never reach uvicorn's access log
    app = AppwardApp(
        title="Appward",
        summary="OAuth 2.0 authorization server built around client management",
        version="0.1.0",
        lifespan=lifespan,
        # Served by add_api_docs from the app's own copy of the assets, not from a CDN.
        docs_url=None,
        redoc_url=None,
        # Starlette's own redirect builds its Location from the Host header (an open
        # redirect through a forged Host); ours is relative (_redirect_slashes).
        redirect_slashes=False,
    )
    app.router.default = _redirect_slashes(app.router)
    app.state.appward = state
    app.add_middleware(SessionCookieMiddleware)
    app.include_router(health.router)
    app.include_router(oauth.router)
    app.include_router(pages.router)
    app.include_router(account_security.router)
    app.include_router(password_reset.router)
    app.include_router(static.router)
    app.include_router(admin.router)
    app.include_router(registration.router)
    app.include_router(console.router)
    app.include_router(portal.router)
    add_api_docs(app)
    app.add_exception_handler(AppwardError, handle_appward_error)
    app.add_exception_handler(RequestValidationError, handle_validation_error)
    app.add_exception_handler(StarletteHTTPException, handle_http_error)
    add_page_handlers(app)
    # No handler for Exception: an unexpected one reaches the pipeline, the one place
    # that answers 500 (AppwardApp.build_middleware_stack).
    app.pipeline = Pipeline(
        app.serve_framework,
        oauth.FORM_ENDPOINT_HANDLERS,
        state,
        hooks,
        head_limits=settings.head_limits,
        max_body=settings.body_limits.largest,
    )
    redact_access_log()  # one-time links' tokens are in their paths
    app.openapi = lambda: openapi_document(app)  # type: ignore[method-assign]
    return app


class AppwardApp(FastAPI):
    """The FastAPI app behind the outer layer (web/pipeline.py), which also holds the
    form endpoints' short way in (web/fastpath.py)."""

    pipeline: Pipeline  # set by create_app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["app"] = self
        await self.pipeline(scope, receive, send)

    async def serve_framework(self, scope: Scope, receive: Receive, send: Send) -> None:
        """FastAPI's own handling: middleware, routing, the exception handlers."""
        await super().__call__(scope, receive, send)

    def build_middleware_stack(self) -> ASGIApp:
        # Starlette's outermost ServerErrorMiddleware answers an unexpected exception with
        # its own 500 and raises it on: dropped, so the exception reaches the pipeline.
        stack = super().build_middleware_stack()
        return stack.app if isinstance(stack, ServerErrorMiddleware) else stack


def _redirect_slashes(router: Router) -> ASGIApp:
    """The router's answer when no route matches: a path that matches once its trailing
    slash is dropped (or added) is redirected there, like Starlette's redirect_slashes,
    but with a relative Location (path and query only) that names no host, so a forged
    Host header cannot send the user elsewhere; anything else is a 404."""

    async def default(scope: Scope, receive: Receive, send: Send) -> None:
        route_path = get_route_path(scope)
        if scope["type"] == "http" and route_path != "/":
            path: str = scope["path"]
            other = {**scope, "path": path.rstrip("/") if path.endswith("/") else path + "/"}
            if any(route.matches(other)[0] is not Match.NONE for route in router.routes):
                # One leading slash: "//host/..." would be a network-path reference.
                location = "/" + other["path"].lstrip("/")
                if scope.get("query_string"):
                    location += "?" + scope["query_string"].decode("latin-1")
                await RedirectResponse(location)(scope, receive, send)
                return
        await router.not_found(scope, receive, send)

    return default


def _observers(settings: Settings, metrics: Metrics) -> list[RequestHook]:
    observers: list[RequestHook] = []
    if metrics.enabled:
        observers.append(RequestMetrics(metrics))
    if settings.request_log:
        observers.append(RequestLog())
    return observers


def _serve_own_metrics(settings: Settings, metrics: Metrics) -> Callable[[], None] | None:
    """Starts the metrics listener in this process when metrics are on and no supervisor
    serves them: `appward serve` runs the one listener of all its workers itself (and sets
    the multiprocess directory, metrics.py); any other server of the app is one process."""
    if not metrics.enabled or os.environ.get(MULTIPROCESS_DIR):
        return None
    return serve_metrics(
        settings.metrics_host, settings.metrics_port, scrape_registry(metrics.registry)
    )


def _settle_garbage_collector() -> None:
    """Moves everything built at start-up out of the collector's sight and collects young
    objects less often: full collections over SQLAlchemy's and FastAPI's start-up graph
    otherwise stall the event loop for tens of milliseconds (the token endpoint's p99)."""
    gc.collect()
    gc.freeze()
    _, second, third = gc.get_threshold()
    gc.set_threshold(20_000, second, third)


def _limiters(
    redis: aioredis.Redis | None, window: int, **named: tuple[str, int]
) -> dict[str, RateLimiter]:
    """The limiters of one throttle, by its argument names: (limiter name, limit) each,
    all over the same window and the same Redis (or this process). ``by_address`` counts
    per source address, with a wider limit per IPv6 site (rate_limit.AddressRateLimiter)."""
    return {
        argument: (address_rate_limiter if argument == "by_address" else rate_limiter)(
            name, limit=limit, window=window, redis=redis
        )
        for argument, (name, limit) in named.items()
    }


def _session_secret(settings: Settings) -> str:
    if settings.session_secret:
        return settings.session_secret
    path = settings.data_dir / SESSION_KEY_FILE
    return generated_key_file(path, lambda: secrets.token_urlsafe(48).encode()).decode()


async def reload_keys(state: AppState) -> None:
    """Loads the signing key ring afresh: picks up rotations made by the CLI or a peer."""
    async with state.sessions()() as session:
        state.ring = await load_key_ring(
            session,
            state.cipher,
            now=state.clock.now(),
            # A worker may sign with a retired key until its next reload: keep verifying
            # for that long after the longest token lifetime too.
            publish_retired_for=state.settings.access_token_ttl_max
            + state.settings.key_reload_interval,
        )


async def keep_keys_fresh(state: AppState, epoch: EpochFile) -> None:
    """Reloads the key ring as soon as a process of this host announces a change of the
    signing keys (the epoch file, looked at KEY_EPOCH_POLL times a second), and every
    APPWARD_KEY_RELOAD_INTERVAL anyway; other hosts' changes arrive through Redis."""
    seen = epoch.read()
    since_reload = 0.0
    while True:
        await asyncio.sleep(KEY_EPOCH_POLL)
        since_reload += KEY_EPOCH_POLL
        current = epoch.read()
        if current == seen and since_reload < state.settings.key_reload_interval:
            continue
        seen, since_reload = current, 0.0
        await reload_keys_or_keep(state)


async def reload_keys_or_keep(state: AppState) -> None:
    try:
        await reload_keys(state)
    except DatabaseUnavailable as exc:  # an outage: /readyz tells; no traceback
        log.warning("reloading the signing keys failed (%s); keeping the current ones", exc)
    except Exception:
        log.exception("reloading the signing keys failed; keeping the current ones")


def app_from_environment() -> FastAPI:
    """Factory for uvicorn's worker processes: settings come from APPWARD_* variables.
    Appward's lines (a refused request's detail, web/pipeline.py; the request log) go to
    stderr beside uvicorn's, unless logging was set up already: uvicorn configures only
    its own loggers, and Python's fallback shows WARNING and above alone."""
    settings = load_settings()
    configure_logging(settings.log_format, settings.log_level)
    return create_app(settings)
