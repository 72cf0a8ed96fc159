"""The scopes registry: the list, create, edit and delete (refused while a client may use
the scope: ScopeService says so)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from appward.clients.scopes import Scope
from appward.errors import AppwardError, Conflict
from appward.web.page_access import ConsoleAdmin, PageCaller, found, posted_form, redirect_to
from appward.web.templates import field_errors, render

router = APIRouter()

NOTICES = {
    "created": "The scope was created.",
    "updated": "The scope was saved.",
    "deleted": "The scope was deleted.",
}


def _values(form: dict[str, str] | None = None, scope: Scope | None = None) -> dict[str, Any]:
    if form is not None:
        return {
            "name": form.get("name", ""),
            "description": form.get("description", ""),
            "admin_only": form.get("admin_only") == "on",
            "sensitive": form.get("sensitive") == "on",
        }
    if scope is not None:
        return {
            "name": scope.name,
            "description": scope.description,
            "admin_only": scope.admin_only,
            "sensitive": scope.sensitive,
        }
    return {"name": "", "description": "", "admin_only": False, "sensitive": False}


async def _list_page(
    request: Request,
    caller: PageCaller,
    *,
    notice: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "console/scopes.html",
        {
            "caller": caller,
            "section": "scopes",
            "scopes": await caller.services.scopes.all(),
            "notice": notice,
            "error": error,
        },
        status_code=status_code,
    )


@router.get("/scopes")
async def scopes(request: Request, caller: ConsoleAdmin, done: str | None = None) -> Response:
    return await _list_page(request, caller, notice=NOTICES.get(done or ""))


def _form_page(
    request: Request,
    caller: PageCaller,
    *,
    scope: Scope | None,
    values: dict[str, Any],
    refused: AppwardError | None = None,
) -> Response:
    """The create form (``scope`` None) or the edit form; ``refused`` is the domain's
    refusal of the posted form, shown beside its fields with its status, so create and
    edit answer a refusal alike."""
    return render(
        request,
        "console/scopes_form.html",
        {
            "caller": caller,
            "section": "scopes",
            "scope": scope,
            "values": values,
            "errors": field_errors(refused) if refused is not None else {},
        },
        status_code=refused.status_code if refused is not None else 200,
    )


@router.get("/scopes/new")
async def new_scope(request: Request, caller: ConsoleAdmin) -> Response:
    return _form_page(request, caller, scope=None, values=_values())


@router.post("/scopes")
async def create_scope(request: Request, caller: ConsoleAdmin) -> Response:
    form = await posted_form(request)
    values = _values(form)
    try:
        await caller.services.scopes.create(
            values["name"],
            values["description"],
            admin_only=values["admin_only"],
            sensitive=values["sensitive"],
        )
    except AppwardError as exc:
        return _form_page(request, caller, scope=None, values=values, refused=exc)
    return redirect_to("/console/scopes?done=created")


@router.get("/scopes/edit/{name:path}")
async def edit_scope(name: str, request: Request, caller: ConsoleAdmin) -> Response:
    scope = await found(caller.services.scopes.get(name))
    return _form_page(request, caller, scope=scope, values=_values(scope=scope))


@router.post("/scopes/edit/{name:path}")
async def update_scope(name: str, request: Request, caller: ConsoleAdmin) -> Response:
    scopes = caller.services.scopes
    scope = await found(scopes.get(name))
    form = await posted_form(request)
    values = {**_values(form), "name": scope.name}
    try:
        await scopes.update(
            name,
            description=values["description"],
            admin_only=values["admin_only"],
            sensitive=values["sensitive"],
        )
    except AppwardError as exc:
        return _form_page(request, caller, scope=scope, values=values, refused=exc)
    return redirect_to("/console/scopes?done=updated")


@router.post("/scopes/delete/{name:path}")
async def delete_scope(name: str, request: Request, caller: ConsoleAdmin) -> Response:
    scopes = caller.services.scopes
    await found(scopes.get(name))
    await posted_form(request)
    try:
        await scopes.delete(name)
    except Conflict as exc:
        return await _list_page(
            request, caller, error=f"Not deleted: {exc.description}.", status_code=409
        )
    return redirect_to("/console/scopes?done=deleted")
