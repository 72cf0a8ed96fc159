"""The admin console (/console): pages over the same domain services as the admin API
and the CLI. Every route takes its caller from page_access.ConsoleAdmin; no rule lives
here or in a template.

One module per part of the console, each with its own router, gathered here."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import RedirectResponse

from appward.web.console import (
    access_tokens,
    accounts,
    approvals,
    audit,
    client_credentials,
    client_keys,
    client_page,
    client_policy,
    clients,
    invitations,
    passwords,
    scopes,
)
from appward.web.page_access import ConsoleAdmin

router = APIRouter(prefix="/console", include_in_schema=False)


@router.get("")
async def console_home(caller: ConsoleAdmin) -> RedirectResponse:
    return RedirectResponse("/console/clients", status_code=303)


for part in (
    clients,
    client_page,
    client_credentials,
    client_keys,
    client_policy,
    approvals,
    scopes,
    accounts,
    passwords,
    invitations,
    access_tokens,
    audit,
):
    router.include_router(part.router)
