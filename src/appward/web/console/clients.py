"""The clients list (search, filters, sort, cursor pages, bulk enable and disable) and the
create-client form.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from appward.clients.approval import APPROVAL_STATES
from appward.clients.service import REGISTRATION_SOURCES, SORTS, STATUSES, ClientFilter
from appward.errors import InvalidClientMetadata, InvalidInput, NotFound
from appward.web.console import client_form
from appward.web.console.client_form import FormValues
from appward.web.page_access import ConsoleAdmin, PageCaller, posted_form, redirect_to
from appward.web.responses import NO_STORE
from appward.web.templates import field_errors, render

router = APIRouter()

PAGE_SIZE = 50
# The list's own query parameters, kept across pages and carried through a bulk action.
FILTERS = ("q", "status", "source", "approval", "grant_type", "owner", "sort", "limit")
SELECTED = "select."  # a bulk form's checkbox per client: select.<client_id>
BULK_ACTIONS = {"disable": "disabled", "enable": "active"}
SORT_OPTIONS = [
    ("created", "Oldest first"),
    ("-created", "Newest first"),
    ("name", "Name, A to Z"),
    ("-name", "Name, Z to A"),
]
assert [value for value, _ in SORT_OPTIONS] == list(SORTS)


def _notice(done: str | None, count: str | None) -> str | None:
    amount = int(count) if count and count.isascii() and count.isdigit() else 0
    clients = f"{amount} client{'' if amount == 1 else 's'}"
    return {
        "disabled": f"Disabled {clients}.",
        "enabled": f"Enabled {clients}.",
        "deleted": "The client was deleted. Its client_id will never be used again.",
    }.get(done or "")


def _options(values: tuple[str, ...], anything: str) -> list[tuple[str, str]]:
    return [("", anything), *((value, value) for value in values)]


async def _list_page(
    request: Request,
    caller: PageCaller,
    filters: dict[str, str],
    *,
    cursor: str | None = None,
    notice: str | None = None,
    errors: dict[str, str] | None = None,
    selected: frozenset[str] = frozenset(),
    status_code: int = 200,
) -> Response:
    errors = dict(errors or {})
    items: list[Any] = []
    next_cursor = None
    try:
        page = await caller.services.clients.search(
            ClientFilter(
                query=filters.get("q"),
                status=filters.get("status"),
                registration_source=filters.get("source"),
                approval=filters.get("approval"),
                grant_type=filters.get("grant_type"),
                owner=filters.get("owner"),
                sort=filters.get("sort") or "created",
            ),
            cursor=cursor,
            limit=_limit(filters.get("limit")),
        )
        items, next_cursor = page.items, page.next_cursor
    except InvalidInput as exc:
        # The domain names the filter it refused ("source" is the form's name too).
        errors.update(field_errors(exc))
        status_code = exc.status_code
    kept = urlencode(filters)
    return render(
        request,
        "console/clients.html",
        {
            "caller": caller,
            "section": "clients",
            "filters": filters,
            "clients": items,
            "next_url": (
                f"/console/clients?{urlencode({**filters, 'cursor': next_cursor})}"
                if next_cursor
                else None
            ),
            "first_url": f"/console/clients?{kept}" if cursor else None,
            "back": kept,
            "notice": notice,
            "errors": errors,
            "selected": selected,
            "status_options": _options(STATUSES, "Any status"),
            "source_options": _options(REGISTRATION_SOURCES, "Any source"),
            "approval_options": _options(APPROVAL_STATES, "Any approval state"),
            "grant_type_options": [("", "Any grant type"), *client_form.GRANT_TYPE_OPTIONS],
            "sort_options": SORT_OPTIONS,
        },
        status_code=status_code,
    )


def _limit(text: str | None) -> int:
    """Returns the page size asked for; one out of range is the domain's to refuse."""
    if text is None:
        return PAGE_SIZE
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 6 else 0


def _filters(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """Returns the list's filters among ``pairs``: known names with a value only."""
    return {name: value for name, value in pairs if name in FILTERS and value}


@router.get("/clients")
async def list_clients(request: Request, caller: ConsoleAdmin) -> Response:
    params = request.query_params
    filters = _filters(list(params.items()))
    return await _list_page(
        request,
        caller,
        filters,
        cursor=params.get("cursor") or None,
        notice=_notice(params.get("done"), params.get("count")),
    )


@router.post("/clients/bulk")
async def bulk_status(request: Request, caller: ConsoleAdmin) -> Response:
    """Disables or enables every selected client: all of them, or none when one is
    refused (the domain checks them all first)."""
    form = await posted_form(request)
    # The list's filters, to come back to: re-read from the hidden field, never echoed.
    filters = _filters(parse_qsl(form.get("back", ""), keep_blank_values=False))
    selected = [name.removeprefix(SELECTED) for name in form if name.startswith(SELECTED)]
    status = BULK_ACTIONS.get(form.get("action", ""))
    if status is None:
        errors = {"action": "Choose Disable selected or Enable selected."}
        return await _list_page(request, caller, filters, errors=errors, status_code=400)
    try:
        changed = await caller.services.clients.set_status_of(selected, status)
    except InvalidInput as exc:
        return await _list_page(
            request, caller, filters, errors=field_errors(exc), status_code=exc.status_code
        )
    except NotFound:
        errors = {"selected": "A selected client no longer exists; nothing was changed."}
        return await _list_page(
            request, caller, filters, errors=errors, selected=frozenset(selected), status_code=404
        )
    done = "disabled" if status == "disabled" else "enabled"
    query = urlencode({**filters, "done": done, "count": len(changed)})
    return redirect_to(f"/console/clients?{query}")


# --- creating a client ---


def _create_page(
    request: Request,
    caller: PageCaller,
    values: FormValues,
    errors: dict[str, str],
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "console/clients_new.html",
        {
            "caller": caller,
            "section": "clients",
            "values": values,
            "errors": errors,
            "bounds": request.app.state.appward.settings.lifetime_bounds,
            "form": client_form,
        },
        status_code=status_code,
    )


@router.get("/clients/new")
async def new_client_form(request: Request, caller: ConsoleAdmin) -> Response:
    return _create_page(request, caller, client_form.new_client_values(), {})


@router.post("/clients/new")
async def create_client(request: Request, caller: ConsoleAdmin) -> Response:
    """Creates the client; the page that answers shows its first secret, this once: it is
    rendered here (never redirected to, so the secret is in no URL) and never cached."""
    form = await posted_form(request)
    values = client_form.posted_values(form, client_form.CREATE_FIELDS)
    try:
        change = await caller.services.clients.create(
            client_form.metadata_from(values, patch=False), registration_source="admin"
        )
    except (InvalidClientMetadata, InvalidInput) as exc:
        return _create_page(request, caller, values, field_errors(exc), exc.status_code)
    return render(
        request,
        "console/clients_created.html",
        {
            "caller": caller,
            "section": "clients",
            "client": change.client,
            "secret": change.secret.plaintext if change.secret is not None else None,
        },
        status_code=201,
        headers=dict(NO_STORE),
    )
