"""Rendering domain errors, once per adapter: OAuth JSON, and problem details for the
admin API. Each renderer also records the error in the request's scope, where the outer
layer (web/pipeline.py) finds it to log its detail once the answer is sent."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Scope

from appward.clients.scopes import ADMIN_SCOPE
from appward.db import DatabaseUnavailable
from appward.errors import (
    AppwardError,
    ConfirmationRequired,
    FieldError,
    InsufficientScope,
    InvalidClient,
    InvalidInput,
    InvalidToken,
    PayloadTooLarge,
    TemporarilyUnavailable,
    TooManyAttempts,
    safe_description,
)
from appward.web.templates import render

# Keys of the per-request scope["state"] dict (Starlette's request.state): set by the
# outer layer, read by handlers and log lines.
REQUEST_ID = "request_id"
RECORDED_ERROR = "appward_error"
# What the hooks (request log, metrics) read once the answer is sent: when the request
# arrived (time.perf_counter), the form endpoint it went to, the client it is known to
# come from, and the grant a token was issued for.
STARTED = "appward_started"
ROUTE = "appward_route"
CLIENT_ID = "appward_client_id"
GRANT_TYPE = "appward_grant_type"
UNMATCHED_ROUTE = "unmatched"

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
PROBLEM_JSON = "application/problem+json"


def _is_admin_api(request: Request) -> bool:
    return request.url.path.startswith("/admin/")


@dataclass(frozen=True, slots=True)
class Reply:
    """A JSON answer of the form endpoints, sent by web/pipeline.py without a framework;
    ``error`` is the domain error it renders, for the log; ``client_id`` the client that
    authenticated, ``grant_type`` the grant a token was issued for (for the hooks)."""

    status: int
    body: dict[str, Any] | None
    headers: dict[str, str]
    error: AppwardError | None = None
    client_id: str | None = None
    grant_type: str | None = None


def request_id(scope: Scope) -> str:
    """Returns the id web/pipeline.py gave this request ("-" outside the pipeline)."""
    state = scope.get("state")
    return str(state.get(REQUEST_ID, "-")) if state else "-"


def route_template(scope: Scope) -> str:
    """Returns the route that served the request as its template (``/admin/v1/clients/
    {client_id}``), never the path sent: the log and the metrics' label hold no id, no
    one-time-link token, and a bounded set of values. "unmatched" when no route did."""
    state = scope.get("state") or {}
    form_route = state.get(ROUTE)
    if form_route is not None:
        return str(form_route)
    # FastAPI keeps the full template of a route of an included router (prefixes and
    # all) in its effective route context; scope["route"].path is the route's own part.
    context = (scope.get("fastapi") or {}).get("effective_route_context")
    path = getattr(context, "path_format", None)
    if not isinstance(path, str):
        path = getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) else UNMATCHED_ROUTE


def record_client(scope: Scope, client_id: str) -> None:
    """Notes the client this request is known to come from, for the request log."""
    scope.setdefault("state", {})[CLIENT_ID] = client_id


def recorded_client(scope: Scope) -> str | None:
    state = scope.get("state")
    return state.get(CLIENT_ID) if state else None


def record_error(scope: Scope, exc: AppwardError) -> None:
    """Leaves ``exc`` for web/pipeline.py to log once the answer is sent."""
    scope.setdefault("state", {})[RECORDED_ERROR] = exc


def form_refused_status(exc: AppwardError) -> int:
    """The status of a page answering a form it could not take: 413 for a body over the
    limit, 400 for any other refusal (a missing CSRF token, a malformed body)."""
    return exc.status_code if isinstance(exc, PayloadTooLarge) else 400


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
    body = {"error": exc.error, "error_description": safe_description(exc.description)}
    return Reply(exc.status_code, body, headers, exc)


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
    if isinstance(exc, ConfirmationRequired):
        body["last_used_at"] = exc.last_used_at.isoformat()
    headers = {}
    if isinstance(exc, TemporarilyUnavailable | TooManyAttempts):
        headers["Retry-After"] = str(retry_after(exc))
    if isinstance(exc, InvalidToken):
        headers["WWW-Authenticate"] = bearer_challenge(exc)
    elif isinstance(exc, InsufficientScope):
        headers["WWW-Authenticate"] = (
            f'Bearer realm="appward", error="insufficient_scope", scope="{ADMIN_SCOPE}"'
        )
    return JSONResponse(body, status_code=exc.status_code, headers=headers, media_type=PROBLEM_JSON)


async def handle_appward_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppwardError)
    record_error(request.scope, exc)
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
                "error_description": safe_description(str(exc.detail)),
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


SERVER_ERROR = "server_error"


def server_error_description(request_id: str) -> str:
    return f"internal error; quote request id {request_id} when reporting it"


def server_error_reply(request_id: str) -> Reply:
    """The 500 of every JSON route: a request id to quote, nothing about the failure."""
    body = {
        "error": SERVER_ERROR,
        "error_description": server_error_description(request_id),
        "request_id": request_id,
    }
    return Reply(500, body, dict(NO_STORE))


def server_error_page(request: Request, request_id: str) -> HTMLResponse:
    """The 500 of the pages a browser shows: the same, as HTML in the pages' layout."""
    return render(
        request,
        "server_error.html",
        {"request_id": request_id},
        status_code=500,
        headers=NO_STORE,
    )


DATABASE_UNAVAILABLE = "the server cannot reach its database just now; retry in a moment"


def database_unavailable(exc: DatabaseUnavailable) -> TemporarilyUnavailable:
    """The refusal of a request the database could not serve: 503, rendered as the
    route's errors are; the cause goes to the log line only."""
    return TemporarilyUnavailable(DATABASE_UNAVAILABLE, detail=f"database unavailable: {exc}")


def unavailable_page(request: Request, exc: TemporarilyUnavailable) -> HTMLResponse:
    """The 503 of the pages a browser shows, in the pages' layout."""
    message = f"{exc.description[:1].upper()}{exc.description[1:]}."
    return render(
        request,
        "page_error.html",
        {"heading": "Temporarily unavailable", "message": message},
        status_code=exc.status_code,
        headers={**NO_STORE, "Retry-After": str(retry_after(exc))},
    )
