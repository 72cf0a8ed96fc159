"""What every portal route shares: its errors as pages, the verified-developer caller, and
the one way a route reaches an app (ownership.client_for: someone else's app is a 404,
the same as an unknown one).

Every portal router is an ``APIRouter(route_class=PortalRoute)``: a NotFound raised by a
handler or a dependency is the portal's 404 page, an AccessDenied its 403 page, any other
domain error a page with its status, so no handler has to remember them (a handler that
can re-render its form catches the error first).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import Response
from fastapi.routing import APIRoute

from appward.clients.models import Client
from appward.clients.ownership import OwnerRole
from appward.errors import (
    AccessDenied,
    AppwardError,
    NotFound,
    TemporarilyUnavailable,
    TooManyAttempts,
)
from appward.web import page_access
from appward.web.page_access import PageCaller, PortalDeveloper, as_sentence
from appward.web.responses import record_error, retry_after

NO_STORE = {"Cache-Control": "no-store"}


class UnverifiedDeveloper(Exception):
    """The developer has not verified their e-mail address yet: nothing can be created."""


class PortalRoute(APIRoute):
    """A route whose domain refusals are pages (see the module docstring)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except NotFound as exc:
                record_error(request.scope, exc)
                return error_page(request, "Page not found", "There is no such page.", 404)
            except AccessDenied as exc:
                record_error(request.scope, exc)
                return error_page(request, "Not allowed", _sentence(exc), 403)
            except (TemporarilyUnavailable, TooManyAttempts) as exc:
                record_error(request.scope, exc)
                headers = {**NO_STORE}
                if isinstance(exc, TooManyAttempts):
                    headers["Retry-After"] = str(retry_after(exc))
                return page_access.error_page(
                    request,
                    "Please try again later",
                    _sentence(exc),
                    status_code=exc.status_code,
                    headers=headers,
                )
            except AppwardError as exc:
                # Any other refusal a handler did not render itself (e.g. asking for a
                # verification link with nothing to verify): a page with its status.
                record_error(request.scope, exc)
                return error_page(request, "Nothing was changed", _sentence(exc), exc.status_code)
            except UnverifiedDeveloper:
                return error_page(
                    request,
                    "Verify your e-mail address first",
                    "Open the link we mailed you to verify your address; then you can "
                    "register apps. Your apps page can send the link again.",
                    403,
                )

        return route


def error_page(request: Request, heading: str, message: str, status: int) -> Response:
    """page_access.error_page, never cached: a portal page may name an app or a link."""
    return page_access.error_page(request, heading, message, status_code=status, headers=NO_STORE)


def _sentence(exc: AppwardError) -> str:
    return as_sentence(exc.description)


async def verified_developer(caller: PortalDeveloper) -> PageCaller:
    if caller.user.email_verified_at is None:
        raise UnverifiedDeveloper
    return caller


VerifiedDeveloper = Annotated[PageCaller, Depends(verified_developer)]


async def app_for(caller: PageCaller, client_id: str) -> tuple[Client, OwnerRole]:
    """Returns the app the caller owns or co-owns, with their role. Raises NotFound."""
    return await caller.services.ownership.client_for(caller.user, client_id)


async def owned_app(caller: PageCaller, client_id: str) -> Client:
    """Returns the app if the caller is one of its owners. Raises NotFound, AccessDenied
    (a viewer)."""
    return await caller.services.ownership.owned_client(caller.user, client_id)


def app_url(client: Client, rest: str = "") -> str:
    """Returns the portal's URL of the app's page (client_ids are letters and digits)."""
    return f"/portal/apps/{client.client_id}{rest}"
