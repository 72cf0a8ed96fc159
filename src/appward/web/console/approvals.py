"""The queue of portal clients waiting for review, with approve and reject (a reason the
developer sees: clients/approval.py checks it)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from appward.clients.approval import MAX_REASON, PENDING
from appward.clients.names import client_name_warning
from appward.clients.service import ClientFilter
from appward.errors import AppwardError
from appward.web.page_access import ConsoleAdmin, PageCaller, found, posted_form, redirect_to
from appward.web.templates import field_errors, render

router = APIRouter()

NOTICES = {
    "approved": "The client was approved: it may get tokens now.",
    "rejected": "The client was rejected: its developer sees the reason.",
}
PAGE_SIZE = 50


async def _queue(
    request: Request,
    caller: PageCaller,
    *,
    cursor: str | None = None,
    notice: str | None = None,
    errors: dict[str, str] | None = None,
    reasons: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    services = caller.services
    try:
        page = await services.clients.search(
            ClientFilter(approval=PENDING), cursor=cursor, limit=PAGE_SIZE
        )
    except AppwardError as exc:
        # A cursor that is not one of ours: the first page, saying so.
        page = await services.clients.search(ClientFilter(approval=PENDING), limit=PAGE_SIZE)
        errors = {"": field_errors(exc).get("cursor", exc.description)}
        status_code = exc.status_code
    sensitive = {scope.name for scope in await services.scopes.all() if scope.sensitive}
    return render(
        request,
        "console/approvals.html",
        {
            "caller": caller,
            "section": "approvals",
            "clients": page.items,
            "next_cursor": page.next_cursor,
            "warnings": {
                c.client_id: client_name_warning(c.client_name, c.client_name_localized)
                for c in page.items
            },
            "sensitive": sensitive,
            "notice": notice,
            "errors": errors or {},
            "reasons": reasons or {},
            "max_reason": MAX_REASON,
        },
        status_code=status_code,
    )


@router.get("/approvals")
async def approvals(
    request: Request, caller: ConsoleAdmin, done: str | None = None, cursor: str | None = None
) -> Response:
    return await _queue(request, caller, cursor=cursor, notice=NOTICES.get(done or ""))


@router.post("/approvals/{client_id}/approve")
async def approve(client_id: str, request: Request, caller: ConsoleAdmin) -> Response:
    clients = caller.services.clients
    await found(clients.get(client_id))
    await posted_form(request)
    await clients.approve(client_id)
    return redirect_to("/console/approvals?done=approved")


@router.post("/approvals/{client_id}/reject")
async def reject(client_id: str, request: Request, caller: ConsoleAdmin) -> Response:
    clients = caller.services.clients
    await found(clients.get(client_id))
    form = await posted_form(request)
    reason = form.get("reason", "")
    try:
        await clients.reject(client_id, reason)
    except AppwardError as exc:
        message = field_errors(exc).get("reason", exc.description)
        return await _queue(
            request,
            caller,
            errors={f"reason-{client_id}": message},
            reasons={client_id: reason},
            status_code=exc.status_code,
        )
    return redirect_to("/console/approvals?done=rejected")
