"""One log line per request (``APPWARD_REQUEST_LOG``), a hook of web/pipeline.py.

It holds the request id, method, route template, status, duration, the client when the
request is known to come from one (authenticated at the form endpoints, the admin API's
bearer), and the error code of a refusal. Never the path as sent (ids, one-time-link
tokens), the query, a header or the body: nothing a caller sent as a credential can reach
it. At INFO, on the ``appward.request`` logger; its detail stays on the pipeline's line.
"""

from __future__ import annotations

import functools
import logging
import time
from typing import Any

import orjson
from starlette.types import Scope

from appward.errors import AppwardError
from appward.logs import JsonFormatter, direct_handler
from appward.web.responses import REQUEST_ID, STARTED, recorded_client, route_template

log = logging.getLogger("appward.request")
LOGGER = log.name


class RequestLog:
    """The request line (see the module's docstring)."""

    observes_only = True  # never refuses: the pipeline skips ``before``

    async def before(self, scope: Scope) -> AppwardError | None:
        return None

    def after(self, scope: Scope, status: int, error: AppwardError | None) -> None:
        if not log.isEnabledFor(logging.INFO):
            return
        state = scope["state"]
        values = (
            time.time(),
            state.get(REQUEST_ID),
            scope["method"],
            route_template(scope),
            status,
            (time.perf_counter() - state[STARTED]) * 1000,
            recorded_client(scope),
            None if error is None else error.error,
        )
        handler = direct_handler(log)
        if handler is not None:
            # Formatted with the rest of its batch, off the request's path.
            handler.write_later(render_line, values)
            return
        _, request_id, method, route, _, duration_ms, client_id, code = values
        fields: dict[str, object] = {
            "request_id": request_id,
            "method": method,
            "route": route,
            "status": status,
            "duration_ms": round(duration_ms, 3),
        }
        if client_id is not None:
            fields["client_id"] = client_id
        if code is not None:
            fields["error"] = code
        log.info("%s", _message(values), extra={"fields": fields})


def _message(values: tuple[Any, ...], text: Any = str) -> str:
    """The line's message; ``text`` turns each value a caller may shape into the text
    written (as it is, or escaped for the inside of a JSON string)."""
    _, request_id, method, route, status, duration_ms, client_id, _ = values
    message = f"request {request_id}: {text(method)} {text(route)} -> {status} in "
    message += f"{duration_ms:.1f} ms"
    return message if client_id is None else f"{message}, client {text(client_id)}"


@functools.lru_cache(maxsize=4096)
def _json_text(value: str) -> str:
    """Returns ``value`` escaped as the inside of a JSON string. Cached: the values are
    route templates, methods, error codes and client_ids, a few of each."""
    return orjson.dumps(value).decode()[1:-1]


def render_line(formatter: logging.Formatter | None, values: tuple[Any, ...]) -> str:
    """Returns the request line ``values`` (as RequestLog.after gathers them) make, as
    ``formatter`` would write it: the same JSON object (or text) a LogRecord with these
    fields would give, built without a dict or a record."""
    created, request_id, method, route, status, duration_ms, client_id, code = values
    if not isinstance(formatter, JsonFormatter):
        return f"INFO:     {LOGGER}: {_message(values)}"
    message = _message(values, _json_text)
    method, route = _json_text(method), _json_text(route)
    client = "" if client_id is None else _json_text(client_id)
    return (
        f'{{"time":"{formatter.time_text(created)}","level":"INFO","logger":"{LOGGER}",'
        f'"message":"{message}","request_id":"{request_id}","method":"{method}",'
        f'"route":"{route}","status":{status},"duration_ms":{round(duration_ms, 3)!r}'
        + (f',"client_id":"{client}"' if client_id is not None else "")
        + (f',"error":"{_json_text(code)}"' if code is not None else "")
        + "}"
    )
