"""GET /healthz and GET /readyz, for load balancers and orchestrators (docs/deployment.md).

/healthz answers as long as the process serves HTTP, touching nothing else: a failing
database must not make every instance look dead and be restarted. /readyz asks the
database and Redis (readiness.py): while it answers 503 a load balancer should send
this instance no traffic. Neither is an OAuth endpoint (not in discovery, nor in the
API document) and neither needs a credential, so neither says more than which check
failed."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from appward.web.deps import State
from appward.web.responses import NO_STORE

router = APIRouter(include_in_schema=False)


@router.get("/healthz")
async def healthz() -> JSONResponse:
    return JSONResponse({"status": "ok"}, headers=NO_STORE)


@router.get("/readyz")
async def readyz(state: State) -> JSONResponse:
    if state.engine is None:  # not started (or stopped): nothing to check yet
        return JSONResponse({"status": "not ready", "checks": {}}, 503, headers=NO_STORE)
    outcome = await state.readiness.check(
        state.engine, state.redis, wait=state.settings.readiness_timeout
    )
    return JSONResponse(
        {"status": "ready" if outcome.ready else "not ready", "checks": outcome.checks},
        status_code=200 if outcome.ready else 503,
        headers=NO_STORE,
    )
