"""The metrics of every request (``APPWARD_METRICS_ENABLED``), a hook of web/pipeline.py:
the request by route template and status with its latency, a token issued by grant and
client, a client authentication refused by its reason (metrics.py has the families)."""

from __future__ import annotations

import time

from starlette.types import Scope

from appward.errors import AppwardError, AuthFailure, InvalidClient
from appward.metrics import Metrics
from appward.web.responses import GRANT_TYPE, STARTED, recorded_client, route_template


class RequestMetrics:
    observes_only = True  # never refuses: the pipeline skips ``before``

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    async def before(self, scope: Scope) -> AppwardError | None:
        return None

    def after(self, scope: Scope, status: int, error: AppwardError | None) -> None:
        state = scope["state"]
        self.metrics.request(
            route_template(scope),
            scope["method"],
            status,
            time.perf_counter() - state[STARTED],
        )
        if isinstance(error, InvalidClient):
            self.metrics.authentication_failed(error.reason or AuthFailure.OTHER)
        grant_type = state.get(GRANT_TYPE)
        if grant_type is not None:
            client_id = recorded_client(scope)
            if client_id is not None:
                self.metrics.token_issued(grant_type, client_id)
