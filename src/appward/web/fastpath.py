"""The form endpoints' short way in: POST /oauth2/token (and introspection, revocation)
are read and answered here in plain ASGI, before the routing table, the middleware and
the request/response objects that the JSON API and the pages need. The token endpoint is
the hot path, and on it those layers cost more than the work itself. An unexpected
failure still becomes the same bare 500 as anywhere else."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import orjson
from starlette.types import Receive, Scope, Send

from appward.errors import InvalidRequest
from appward.web.responses import Reply, error_reply

if TYPE_CHECKING:
    from appward.web.state import AppState

log = logging.getLogger("appward.web")
MAX_BODY = 16 * 1024


@dataclass(frozen=True, slots=True)
class FormRequest:
    headers: Mapping[str, str]  # names in lower case
    body: bytes


FormHandler = Callable[[FormRequest, "AppState"], Awaitable["Reply"]]


async def serve_form_endpoint(
    scope: Scope,
    receive: Receive,
    send: Send,
    endpoints: Mapping[str, FormHandler],
    state: AppState,
) -> bool:
    """Serves the request if it is a POST to one of ``endpoints``; returns whether it did."""
    if scope["type"] != "http" or scope["method"] != "POST":
        return False
    handler = endpoints.get(_route_path(scope))
    if handler is None:
        return False
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
    try:
        body = await _read_body(receive, headers)
        reply = await handler(FormRequest(headers, body), state)
    except InvalidRequest as exc:
        reply = error_reply(exc)
    except Exception:
        request_id = secrets.token_hex(8)
        log.exception("unhandled error on POST %s [request %s]", scope["path"], request_id)
        reply = Reply(
            500,
            {
                "error": "server_error",
                "error_description": "internal error",
                "request_id": request_id,
            },
            {"Cache-Control": "no-store"},
        )
    await _send_reply(send, reply)
    return True


def _route_path(scope: Scope) -> str:
    """The path below the app's mount point (a deployment under /auth sees /auth/...)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


async def _read_body(receive: Receive, headers: Mapping[str, str]) -> bytes:
    declared = headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > MAX_BODY:
        raise InvalidRequest("the request body is too large")
    body = b""
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise InvalidRequest("the client went away")
        body += message.get("body", b"")
        if len(body) > MAX_BODY:
            raise InvalidRequest("the request body is too large")
        more = message.get("more_body", False)
    return body


async def _send_reply(send: Send, reply: Reply) -> None:
    payload = b"" if reply.body is None else orjson.dumps(reply.body)
    raw: list[tuple[bytes, bytes]] = [(b"content-length", str(len(payload)).encode())]
    if reply.body is not None:
        raw.append((b"content-type", b"application/json"))
    raw.extend((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in reply.headers.items())
    await send({"type": "http.response.start", "status": reply.status, "headers": raw})
    await send({"type": "http.response.body", "body": payload})
