"""The admin REST API (/admin/v1): one module per resource, assembled here behind the
admin token."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Security

from appward.web.admin import (
    audit_events,
    clients,
    initial_access_tokens,
    invitations,
    owners,
    scopes,
    secrets,
    users,
)
from appward.web.deps import current_admin
from appward.web.openapi import ADMIN_TOKEN, problem_responses

PREFIX = "/admin/v1"
# In this order, the OpenAPI document lists the paths as it always has.
RESOURCES = (
    clients,
    secrets,
    owners,
    scopes,
    users,
    invitations,
    audit_events,
    initial_access_tokens,
)

# ADMIN_TOKEN only documents the bearer scheme; current_admin checks the token, here for
# every route, so a new resource is guarded without asking for it.
router = APIRouter(
    prefix=PREFIX,
    tags=["admin"],
    dependencies=[Security(ADMIN_TOKEN), Depends(current_admin)],
    responses=problem_responses(401, 403),
)

for resource in RESOURCES:
    router.include_router(resource.router)

__all__ = ["PREFIX", "RESOURCES", "router"]
