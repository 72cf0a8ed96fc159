"""Rendering domain errors, once per adapter: OAuth JSON, and problem details for the admin API."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from appward.errors import (
    AppwardError,
    FieldError,
    InsufficientScope,
    InvalidClient,
    InvalidInput,
    InvalidToken,
    TemporarilyUnavailable,
    TooManyAttempts,
)
from appward.scopes import ADMIN_SCOPE

log = logging.getLogger("appward.web")

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
PROBLEM_JSON = "application/problem+json"


def _is_admin_api(request: Request) -> bool:
    return request.url.path.startswith("/admin/")


@dataclass(frozen=True, slots=True)
class Reply:
    """A JSON answer of the form endpoints, sent by web/fastpath.py without a framework."""

    status: int
    body: dict[str, Any] | None
    headers: dict[str, str]


def retry_after(exc: AppwardError) -> int:
    """Seconds a client should wait before retrying after ``exc`` (RFC 9110 §10.2.3)."""
    return exc.retry_after if isinstance(exc, TooManyAttempts) else 1


def bearer_challenge(exc: InvalidToken) -> str:
    """RFC 6750 §3: no error code when the request carried no token at all (§3.1)."""
    challenge = 'Bearer realm="appward"'
    return challenge if exc.missing else f'{challenge}, error="invalid_token"'


def error_reply(exc: AppwardError, *, basic_attempted: bool = False) -> Reply:
    """RFC 6749 §5.2 error body, never cached; a failed Basic attempt gets its challenge."""
    headers = dict(NO_STORE)
    if isinstance(exc, InvalidClient) and basic_attempted:
        headers["WWW-Authenticate"] = 'Basic realm="appward", charset="UTF-8"'
    if isinstance(exc, TemporarilyUnavailable | TooManyAttempts):
        headers["Retry-After"] = str(retry_after(exc))
    if isinstance(exc, InvalidToken):
        headers["WWW-Authenticate"] = bearer_challenge(exc)
    return Reply(
        exc.status_code, {"error": exc.error, "error_description": exc.description}, headers
    )


def oauth_error(exc: AppwardError, *, basic_attempted: bool = False) -> JSONResponse:
    reply = error_reply(exc, basic_attempted=basic_attempted)
    return JSONResponse(reply.body, status_code=reply.status, headers=reply.headers)


def problem(exc: AppwardError) -> JSONResponse:
    """RFC 9457 problem details with the field list, for the admin API."""
    body: dict[str, Any] = {
        "type": f"urn:appward:error:{exc.error}",
        "title": exc.title,
        "status": exc.status_code,
        "detail": exc.description,
        "error": exc.error,
    }
    if exc.fields:
        body["errors"] = [{"field": f.field, "message": f.message} for f in exc.fields]
    headers = {}
    if isinstance(exc, InvalidToken):
        headers["WWW-Authenticate"] = bearer_challenge(exc)
    elif isinstance(exc, InsufficientScope):
        headers["WWW-Authenticate"] = (
            f'Bearer realm="appward", error="insufficient_scope", scope="{ADMIN_SCOPE}"'
        )
    return JSONResponse(body, status_code=exc.status_code, headers=headers, media_type=PROBLEM_JSON)


async def handle_appward_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppwardError)
    if exc.detail:
        log.info("%s %s: %s (%s)", request.method, request.url.path, exc.error, exc.detail)
    return problem(exc) if _is_admin_api(request) else oauth_error(exc)


async def handle_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    fields = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p not in ("query", "path", "header", "body")]
        fields.append(FieldError(".".join(loc) or "request", str(err.get("msg", "invalid"))))
    error = InvalidInput(
        "; ".join(f"{f.field}: {f.message}" for f in fields) or "invalid request",
        fields=fields,
    )
    return await handle_appward_error(request, error)


async def handle_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if not _is_admin_api(request):
        return JSONResponse(
            {
                "error": "not_found" if exc.status_code == 404 else "invalid_request",
                "error_description": str(exc.detail),
            },
            status_code=exc.status_code,
            headers=exc.headers,
        )
    body = {
        "type": "about:blank",
        "title": str(exc.detail),
        "status": exc.status_code,
        "detail": str(exc.detail),
    }
    return JSONResponse(
        body, status_code=exc.status_code, headers=exc.headers, media_type=PROBLEM_JSON
    )


async def handle_unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    request_id = secrets.token_hex(8)
    log.error(
        "unhandled error on %s %s [request %s]",
        request.method,
        request.url.path,
        request_id,
        exc_info=exc,
    )
    return JSONResponse(
        {"error": "server_error", "error_description": "internal error", "request_id": request_id},
        status_code=500,
        headers=NO_STORE,
    )
