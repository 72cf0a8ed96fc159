"""The form endpoints' short way in: POST /oauth2/token (and introspection, revocation)
go straight to their handlers, before the routing table and the middleware that the JSON
API and the pages need. An unexpected failure still becomes the same bare 500."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

Handler = Callable[[Request], Awaitable[Response]]
ErrorHandler = Callable[[Request, Exception], Awaitable[Response]]


async def serve_form_endpoint(
    scope: Scope,
    receive: Receive,
    send: Send,
    endpoints: Mapping[str, Handler],
    on_error: ErrorHandler,
) -> bool:
    """Serves the request if it is a POST to one of ``endpoints``; returns whether it did."""
    if scope["type"] != "http" or scope["method"] != "POST":
        return False
    handler = endpoints.get(scope["path"])
    if handler is None:
        return False
    request = Request(scope, receive)
    try:
        response = await handler(request)
    except Exception as exc:  # noqa: BLE001 (the outermost handler: never a traceback out)
        response = await on_error(request, exc)
    await response(scope, receive, send)
    return True
