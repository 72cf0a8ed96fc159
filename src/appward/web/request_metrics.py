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
        grant_type = state.get(GRANT_TYPE)
        self.metrics.request(
            route_template(scope),
            scope["method"],
            status,
            time.perf_counter() - state[STARTED],
            grant_type,
            None if grant_type is None else recorded_client(scope),
        )
        if isinstance(error, InvalidClient):
            self.metrics.authentication_failed(error.reason or AuthFailure.OTHER)
