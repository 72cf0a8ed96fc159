"""What every tab of a client's page gives its layout (console/client_layout.html), and
the page an unknown client_id gets, shared by the Credentials, Policy and Token preview
tabs."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from appward.clients.models import Client
from appward.web.page_access import PageCaller, error_page


def client_tab(client: Client, tab: str, caller: PageCaller) -> dict[str, Any]:
    """Returns the context console/client_layout.html needs: the client, which tab is
    open, and the caller (the console's navigation)."""
    return {"client": client, "tab": tab, "caller": caller}


def not_found_page(request: Request) -> HTMLResponse:
    """The 404 page of a client_id that names no client (or a deleted one)."""
    return error_page(
        request,
        "No such client",
        "There is no client with this client_id. It may have been deleted.",
        status_code=404,
    )
