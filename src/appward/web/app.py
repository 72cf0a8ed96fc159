"""create_app: the ASGI application, built from Settings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from appward.auth import SecretVerifier
from appward.clients.secrets import Argon2Hasher, Hasher
from appward.clock import Clock, SystemClock
from appward.config import Settings, load_settings
from appward.db import create_engine, create_sessionmaker
from appward.errors import AppwardError
from appward.tokens.keys import ensure_signing_key, load_key_encryption, load_key_ring
from appward.web import admin_api, oauth
from appward.web.responses import (
    handle_appward_error,
    handle_http_error,
    handle_unexpected_error,
    handle_validation_error,
)
from appward.web.state import AppState


def create_app(
    settings: Settings, *, clock: Clock | None = None, hasher: Hasher | None = None
) -> FastAPI:
    """Returns the app. The database must be migrated (``appward db upgrade``)."""
    hasher = hasher or Argon2Hasher(settings.argon2)
    state = AppState(
        settings=settings,
        clock=clock or SystemClock(),
        hasher=hasher,
        verifier=SecretVerifier(hasher, settings.secret_policy),
        cipher=load_key_encryption(settings.key_encryption_key, settings.data_dir),
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        state.engine = create_engine(settings.database_url, schema=settings.database_schema)
        state.sessionmaker = create_sessionmaker(state.engine)
        async with state.sessionmaker.begin() as session:
            await ensure_signing_key(session, state.cipher, state.clock)
        async with state.sessionmaker() as session:
            state.ring = await load_key_ring(session, state.cipher)
        try:
            yield
        finally:
            await state.engine.dispose()

    app = FastAPI(
        title="Appward",
        summary="OAuth 2.0 authorization server built around client management",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.appward = state
    app.include_router(oauth.router)
    app.include_router(admin_api.router)
    app.add_exception_handler(AppwardError, handle_appward_error)
    app.add_exception_handler(RequestValidationError, handle_validation_error)
    app.add_exception_handler(StarletteHTTPException, handle_http_error)
    app.add_exception_handler(Exception, handle_unexpected_error)
    return app


def app_from_environment() -> FastAPI:
    """Factory for uvicorn's worker processes: settings come from APPWARD_* variables."""
    return create_app(load_settings())
