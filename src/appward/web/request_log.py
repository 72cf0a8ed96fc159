"""One log line per request (``APPWARD_REQUEST_LOG``), a hook of web/pipeline.py.

It holds the request id, method, route template, status, duration, the client when the
request is known to come from one (authenticated at the form endpoints, the admin API's
bearer), and the error code of a refusal. Never the path as sent (ids, one-time-link
tokens), the query, a header or the body: nothing a caller sent as a credential can reach
it. At INFO, on the ``appward.request`` logger; its detail stays on the pipeline's line.
"""

from __future__ import annotations

import logging
import time

from starlette.types import Scope

from appward.errors import AppwardError
from appward.logs import direct_handler
from appward.web.responses import REQUEST_ID, STARTED, recorded_client, route_template

log = logging.getLogger("appward.request")


class RequestLog:
    """The request line (see the module's docstring)."""

    async def before(self, scope: Scope) -> AppwardError | None:
        return None

    def after(self, scope: Scope, status: int, error: AppwardError | None) -> None:
        if not log.isEnabledFor(logging.INFO):
            return
        state = scope["state"]
        duration_ms = round((time.perf_counter() - state[STARTED]) * 1000, 3)
        route = route_template(scope)
        method = scope["method"]
        fields: dict[str, object] = {
            "request_id": state.get(REQUEST_ID),
            "method": method,
            "route": route,
            "status": status,
            "duration_ms": duration_ms,
        }
        client_id = recorded_client(scope)
        if client_id is not None:
            fields["client_id"] = client_id
        if error is not None:
            fields["error"] = error.error
        message = (
            f"request {fields['request_id']}: {method} {route} -> {status} in "
            f"{duration_ms:.1f} ms" + ("" if client_id is None else f", client {client_id}")
        )
        handler = direct_handler(log)
        if handler is not None:
            handler.write_info(log.name, message, fields)
        else:
            log.info("%s", message, extra={"fields": fields})
