"""The one outer layer every HTTP request passes through, on both ways in: the form
endpoints' short way (web/fastpath.py: POST /oauth2/token, /introspect, /revoke) and the
FastAPI app (everything else).

For every request it
- gives it an id (random, 16 hex digits), put in ``scope["state"]["request_id"]``
  (``request.state.request_id`` in a handler; ``responses.request_id(scope)``) and sent
  back as ``X-Request-Id``;
- logs the domain error an answer carries (its code and internal ``detail``, with the
  request id, method, path and status; never the body, a secret or a token), at INFO, or
  WARNING for a 5xx. The renderers leave the error where this layer finds it: a Reply's
  ``error``, or ``responses.record_error`` in the scope. Nothing is logged on success;
- turns an unexpected exception into the one 500 (JSON, or an HTML page on the pages a
  browser shows), carrying the request id; the traceback goes to the log only;
- answers a request the database could not serve (db.DatabaseUnavailable: down, hung
  past APPWARD_DATABASE_TIMEOUT) with 503 temporarily_unavailable instead: an OAuth
  error body, the admin API's problem details, or a page on the pages;
- refuses a request over the size limits, whatever its endpoint (web/request_size.py:
  414, 431, or 413 for a declared body larger than every body limit);
- calls its hooks (RequestHook): the one place a rate limit, the request log
  (web/request_log.py) or the metrics (web/request_metrics.py) plug in. There are none by
  default, and then they cost nothing. With hooks, it notes for them when the request
  arrived and, on the form endpoints, the route, the authenticated client and the grant
  of an issued token (responses.STARTED, ROUTE, CLIENT_ID, GRANT_TYPE).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from appward.config import HeadLimits
from appward.db import DatabaseUnavailable
from appward.errors import AppwardError, TemporarilyUnavailable, safe_description
from appward.web.fastpath import FormHandler, form_handler, form_reply, route_path, send_reply
from appward.web.request_size import oversized
from appward.web.responses import (
    CLIENT_ID,
    GRANT_TYPE,
    RECORDED_ERROR,
    REQUEST_ID,
    ROUTE,
    STARTED,
    database_unavailable,
    error_reply,
    handle_appward_error,
    oauth_error,
    problem,
    record_error,
    server_error_page,
    server_error_reply,
    unavailable_page,
)

if TYPE_CHECKING:
    from appward.web.state import AppState

log = logging.getLogger("appward.web")

REQUEST_ID_HEADER = b"x-request-id"
# The pages a browser shows: a 500 there is a page in their layout, elsewhere JSON.
PAGE_PATHS = (
    "/",
    "/login",
    "/logout",
    "/account",
    "/oauth2/authorize",
    "/password-reset",
    "/portal",
    "/console",
)
# Routes whose next path segment is a one-time link's token: never written to a log.
ONE_TIME_LINK_PATHS = ("/password-reset/", "/portal/verify/", "/portal/signup/")
REDACTED = "[redacted]"


def redacted_path(path: str) -> str:
    """Returns ``path`` with the token segment of a one-time-link route replaced by
    "[redacted]" (the query too, on those routes); any other path as it is. The route
    may sit below a mount point (a deployment under /auth logs /auth/password-reset/...:
    uvicorn's access log and scope["path"] both hold the root path)."""
    for prefix in ONE_TIME_LINK_PATHS:
        at = path.split("?", 1)[0].find(prefix)
        if at >= 0 and len(path) > at + len(prefix):
            rest = path[at + len(prefix) :]
            end = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
            tail = rest[end:].split("?", 1)[0]
            return f"{path[:at]}{prefix}{REDACTED}{tail}"
    return path


class RedactAccessLog(logging.Filter):
    """Redacts one-time-link tokens from uvicorn's access log lines, whose arguments are
    (client, method, path with query, HTTP version, status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], redacted_path(args[2]), *args[3:])
        return True


def redact_access_log() -> None:
    """Installs RedactAccessLog on uvicorn's access logger (once)."""
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactAccessLog) for f in access.filters):
        access.addFilter(RedactAccessLog())


class RequestHook(Protocol):
    """What must see every request, such as a rate limit or a metrics recorder.

    ``before`` runs once the request has its id, before any handler: returning an
    AppwardError (TooManyAttempts, TemporarilyUnavailable) refuses the request, rendered
    as that route's errors are; None lets it through. ``after`` runs once the answer is
    sent, with its status and the domain error it carried (None on success and on a
    500). Both run on the token endpoint's hot path: keep them cheap, and never read the
    body there (the handler reads it). A hook whose class sets ``observes_only = True``
    never refuses: its ``before`` is not called at all (an awaited no-op per request
    and hook was a measurable share of the token endpoint's time).
    """

    async def before(self, scope: Scope) -> AppwardError | None: ...

    def after(self, scope: Scope, status: int, error: AppwardError | None) -> None: ...


class Pipeline:
    """The ASGI callable in front of the app (see the module's docstring)."""

    def __init__(
        self,
        app: ASGIApp,
        form_endpoints: Mapping[str, FormHandler],
        state: AppState,
        hooks: Sequence[RequestHook] = (),
        *,
        head_limits: HeadLimits | None = None,
        max_body: int = 0,
    ) -> None:
        """``head_limits`` and ``max_body`` (the largest body limit) are the size check's
        (web/request_size.py); without them there is none (a pipeline under test)."""
        self.app = app
        self.form_endpoints = form_endpoints
        self.state = state
        self.hooks = tuple(hooks)
        self.gates = tuple(h for h in self.hooks if not getattr(h, "observes_only", False))
        self.head_limits = head_limits
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # lifespan, websockets
            await self.app(scope, receive, send)
            return
        rid = os.urandom(8).hex()  # secrets.token_hex, without its extra call
        state = scope.get("state")
        if state is None:
            scope["state"] = state = {}
        state[REQUEST_ID] = rid
        if self.hooks:
            state[STARTED] = time.perf_counter()
        handler = form_handler(scope, self.form_endpoints)
        if handler is None:
            await self._serve_app(scope, receive, send, rid)
        else:
            await self._serve_form(scope, receive, send, rid, handler)

    async def _serve_form(
        self, scope: Scope, receive: Receive, send: Send, rid: str, handler: FormHandler
    ) -> None:
        try:
            refusal = await self._before(scope)
            if refusal is None:
                reply = await form_reply(scope, receive, handler, self.state)
            else:
                reply = error_reply(refusal)
        except DatabaseUnavailable as exc:
            reply = error_reply(database_unavailable(exc))
        except Exception:  # noqa: BLE001 (the one 500; _log_unexpected keeps the traceback)
            _log_unexpected(scope, rid)
            reply = server_error_reply(rid)
        await send_reply(send, reply, (REQUEST_ID_HEADER, rid.encode()))
        if reply.error is not None:
            _log_error(scope, rid, reply.status, reply.error)
        if self.hooks:
            state = scope["state"]
            state[ROUTE] = route_path(scope)
            if reply.client_id is not None:
                state[CLIENT_ID] = reply.client_id
            if reply.grant_type is not None:
                state[GRANT_TYPE] = reply.grant_type
            for hook in self.hooks:
                hook.after(scope, reply.status, reply.error)

    async def _serve_app(self, scope: Scope, receive: Receive, send: Send, rid: str) -> None:
        status = 0  # until the answer starts
        id_header = (REQUEST_ID_HEADER, rid.encode())

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", ()), id_header]}
            await send(message)

        try:
            refusal = await self._before(scope)
            if refusal is None:
                await self.app(scope, receive, send_with_id)
            else:
                response = await handle_appward_error(Request(scope), refusal)
                await response(scope, receive, send_with_id)
        except DatabaseUnavailable as exc:
            refusal = database_unavailable(exc)
            record_error(scope, refusal)
            if status == 0:
                await _unavailable(scope, refusal)(scope, receive, send_with_id)
        except Exception:  # noqa: BLE001 (the one 500; _log_unexpected keeps the traceback)
            _log_unexpected(scope, rid)
            if status == 0:
                await _server_error(scope, rid)(scope, receive, send_with_id)
            # else the answer is under way: the server ends the connection short.
        error = scope["state"].pop(RECORDED_ERROR, None)
        if error is not None:
            _log_error(scope, rid, status, error)
        for hook in self.hooks:
            hook.after(scope, status, error)

    async def _before(self, scope: Scope) -> AppwardError | None:
        limits = self.head_limits
        refusal = None if limits is None else oversized(scope, limits, self.max_body)
        if refusal is not None or not self.gates:
            return refusal
        for hook in self.gates:
            refusal = await hook.before(scope)
            if refusal is not None:
                return refusal
        return None


def _is_page(scope: Scope) -> bool:
    path = route_path(scope)
    return any(path == page or path.startswith(page + "/") for page in PAGE_PATHS)


def _server_error(scope: Scope, rid: str) -> Response:
    if _is_page(scope):
        return server_error_page(Request(scope), rid)
    reply = server_error_reply(rid)
    return JSONResponse(reply.body, status_code=reply.status, headers=reply.headers)


def _unavailable(scope: Scope, refusal: TemporarilyUnavailable) -> Response:
    """A 503 as the route renders its errors: a page, problem details or OAuth JSON."""
    if _is_page(scope):
        return unavailable_page(Request(scope), refusal)
    return problem(refusal) if route_path(scope).startswith("/admin/") else oauth_error(refusal)


def _log_error(scope: Scope, rid: str, status: int, error: AppwardError) -> None:
    # The path and detail can hold what a caller sent (a client_id): escaped to one line.
    detail = safe_description(error.detail) if error.detail else "no detail"
    log.log(
        logging.WARNING if status >= 500 else logging.INFO,
        "request %s: %s %s -> %d %s (%s)",
        rid,
        scope["method"],
        safe_description(redacted_path(scope["path"])),
        status,
        error.error,
        detail,
        extra={"fields": {"request_id": rid, "status": status, "error": error.error}},
    )


def _log_unexpected(scope: Scope, rid: str) -> None:
    log.error(
        "request %s: %s %s -> 500, unhandled error",
        rid,
        scope["method"],
        safe_description(redacted_path(scope["path"])),
        exc_info=True,
        extra={"fields": {"request_id": rid, "status": 500}},
    )
