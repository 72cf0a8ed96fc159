"""The form endpoints' short way in: POST /oauth2/token (and introspection, revocation)
are read and answered here in plain ASGI, before the routing table, the middleware and
the request/response objects that the JSON API and the pages need. The token endpoint is
the hot path, and on it those layers cost more than the work itself.

web/pipeline.py, the outer layer, chooses this way in, gives the request its id, sends
the Reply, logs its error and turns an unexpected failure into the one 500.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import orjson
from starlette.types import Receive, Scope, Send

from appward.errors import InvalidRequest
from appward.web.forms import read_body
from appward.web.responses import Reply, error_reply

if TYPE_CHECKING:
    from appward.web.state import AppState


# Header fields a request may carry once (RFC 6749 §2.3: one authentication method; RFC
# 9110 §11.6.2, §8.3): a repeated one is refused rather than one copy chosen.
SINGLE_HEADERS = frozenset({"authorization", "content-type"})


@dataclass(frozen=True, slots=True)
class FormRequest:
    headers: Mapping[str, str]  # names in lower case
    body: bytes
    path: str = ""  # below the app's mount point: /oauth2/token
    peer: str | None = None  # the address the connection came from (the proxy's, if any)


FormHandler = Callable[[FormRequest, "AppState"], Awaitable["Reply"]]


def form_handler(scope: Scope, endpoints: Mapping[str, FormHandler]) -> FormHandler | None:
    """Returns the handler of ``endpoints`` that serves this request, if it is a POST to
    one of them."""
    if scope["method"] != "POST":
        return None
    return endpoints.get(route_path(scope))


async def form_reply(
    scope: Scope, receive: Receive, handler: FormHandler, state: AppState
) -> Reply:
    """Returns ``handler``'s answer to the request. A repeated Authorization or
    Content-Type header, a body too large or cut short, or an InvalidRequest the handler
    lets out (the store refusing a NUL at commit), is answered invalid_request here."""
    headers: dict[str, str] = {}
    repeated = None
    for raw_name, raw_value in scope["headers"]:
        name = raw_name.decode("latin-1").lower()
        if name in SINGLE_HEADERS and name in headers:
            repeated = name
        headers[name] = raw_value.decode("latin-1")
    try:
        if repeated is not None:
            # Which copy would count? A proxy may read the first, a dict keeps the last:
            # the two must never disagree on who the client is or what the body is.
            raise InvalidRequest(f"the {repeated} header is repeated")
        limit = state.settings.max_form_bytes
        body = await read_body(receive, headers.get("content-length", ""), limit)
        client = scope.get("client")
        peer = client[0] if client else None
        return await handler(FormRequest(headers, body, route_path(scope), peer), state)
    except InvalidRequest as exc:
        return error_reply(exc)


def route_path(scope: Scope) -> str:
    """The path below the app's mount point (a deployment under /auth sees /auth/...)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


async def send_reply(send: Send, reply: Reply, extra: tuple[bytes, bytes]) -> None:
    """Sends ``reply`` with one more header (``extra``: the request id)."""
    payload = b"" if reply.body is None else orjson.dumps(reply.body)
    raw: list[tuple[bytes, bytes]] = [(b"content-length", str(len(payload)).encode()), extra]
    if reply.body is not None:
        raw.append((b"content-type", b"application/json"))
    raw.extend((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in reply.headers.items())
    await send({"type": "http.response.start", "status": reply.status, "headers": raw})
    await send({"type": "http.response.body", "body": payload})
