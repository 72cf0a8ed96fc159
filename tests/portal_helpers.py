"""Driving the developer portal in tests: developers signed in on their own cookie jars,
apps registered through the portal's forms, and the CSRF token a page's forms carry."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from tests.functional.conftest import Api
from tests.oauth_helpers import PASSWORD, Browser, hidden_fields

WEB_APP_FORM = {
    "client_name": "Weather Widget",
    "app_type": "web",
    "redirect_uris": "https://weather.example/cb",
}


@asynccontextmanager
async def browser_on(api: Api) -> AsyncIterator[httpx.AsyncClient]:
    """A new browser (its own cookie jar) on the same app."""
    transport = httpx.ASGITransport(app=api.app, client=("127.0.0.10", 4712))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


async def create_account(
    api: Api, username: str, role: str | None = "developer", *, verified: bool = True
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "username": username,
        "password": PASSWORD,
        "email": f"{username}@example.com",
    }
    if role:
        body["role"] = role
    created = await api.post("/admin/v1/users", body)
    assert created.status_code == 201, created.text
    if verified:
        patched = await api.patch(
            f"/admin/v1/users/{created.json()['id']}", {"email_verified": True}
        )
        assert patched.status_code == 200, patched.text
        return dict(patched.json())
    return dict(created.json())


async def sign_in(http: httpx.AsyncClient, username: str) -> None:
    response = await Browser(http).login(await http.get("/login"), username, PASSWORD)
    assert response.status_code == 303, response.text


async def csrf(http: httpx.AsyncClient, page: str = "/portal/apps") -> str:
    """Returns the CSRF token of the session's forms, read from ``page``."""
    response = await http.get(page)
    token = hidden_fields(response.text).get("csrf")
    if token is None:  # a page without a form: the login page always has one
        token = hidden_fields((await http.get("/login")).text)["csrf"]
    return token


async def post_form(
    http: httpx.AsyncClient,
    url: str,
    data: dict[str, str] | None = None,
    *,
    page: str | None = None,
) -> httpx.Response:
    token = await csrf(http, page or "/portal/apps")
    return await http.post(url, data={"csrf": token, **(data or {})})


async def register_app(http: httpx.AsyncClient, **form: str) -> tuple[str, str | None]:
    """Registers an app through the portal's form; returns its client_id and the secret
    shown once (None for a public app)."""
    response = await post_form(http, "/portal/apps", {**WEB_APP_FORM, **form})
    if response.status_code == 201:
        client_id = _copyable(response.text, "client-id-value")
        return client_id, _copyable(response.text, "client-secret")
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    return location.split("/")[3].split("?")[0], None


def _copyable(html: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}" type="text" value="([^"]+)"', html)
    assert found, html
    return found.group(1)
