"""F5: with metrics off (the default), a server that used any Redis fallback in its life
(one Redis blip: a rate limit counted in process, the jti check in the database, the
change listener deaf) fails its shutdown: the lifespan's finally calls metrics.fold(),
whose _fold_fallbacks reads self._fallbacks, a family a disabled Metrics never made
(AttributeError). Everything after it in the finally is skipped: the listener tasks are
not cancelled, the engine is not disposed, Redis and the JWKS client are not closed, so a
graceful SIGTERM or rolling restart ends in "Application shutdown failed".

Fails while the bug exists."""

from __future__ import annotations

import pytest

from tests.factories import SERVICE
from tests.functional.conftest import open_api

pytestmark = pytest.mark.anyio

UNREACHABLE_REDIS = "redis://127.0.0.1:1/12"  # nothing listens on port 1


async def test_a_server_that_lost_redis_shuts_down_cleanly(settings, clock):
    configured = settings.model_copy(
        update={"redis_url": UNREACHABLE_REDIS, "metrics_enabled": False}
    )
    async with open_api(configured, clock) as api:
        created = await api.post("/admin/v1/clients", SERVICE)
        assert created.status_code == 201, created.text
        wrong = await api.client_credentials(created.json()["client_id"], "not-the-secret")
        assert wrong.status_code == 401  # counted by the throttle: in process, Redis is away
    # Leaving the block ran the lifespan's shutdown: reaching here means it did not raise.
