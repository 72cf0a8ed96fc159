"""Signing in to the console and posting its forms, for the console pages' tests."""

from __future__ import annotations

import html
import re

import httpx

from tests.oauth_helpers import PASSWORD, Browser, hidden_fields

SCRIPT = "<script>alert(1)</script>"
ESCAPED_SCRIPT = "&lt;script&gt;alert(1)&lt;/script&gt;"


async def create_account(
    api, username: str, role: str | None = None, email: str | None = None
) -> dict:
    """Returns the new account, made through the admin API."""
    body: dict[str, str] = {"username": username, "password": PASSWORD}
    if role:
        body["role"] = role
    if email:
        body["email"] = email
    created = await api.post("/admin/v1/users", body)
    assert created.status_code == 201, created.text
    return created.json()


async def sign_in(api, username: str, role: str | None = "admin") -> dict:
    """Creates the account and signs the api's http client in as it; returns the account."""
    account = await create_account(api, username, role)
    response = await Browser(api.http).login(await api.http.get("/login"), username, PASSWORD)
    assert response.status_code == 303, response.text
    return account


async def csrf(http: httpx.AsyncClient) -> str:
    """Returns the CSRF token of the signed-in session's forms."""
    page = await http.get("/account")
    assert page.status_code == 200, page.text
    return hidden_fields(page.text)["csrf"]


async def post(http: httpx.AsyncClient, url: str, **data: str) -> httpx.Response:
    """Posts a console form with the session's CSRF token."""
    return await http.post(url, data={"csrf": await csrf(http), **data})


def notice(page: str) -> str | None:
    """Returns the text of the page's notice, if it shows one."""
    found = re.search(r'<div class="notice notice--\w+" role="status" id="notice">([^<]*)<', page)
    return html.unescape(found.group(1)) if found else None


def field_error(page: str, field: str) -> str | None:
    """Returns the message shown next to ``field``, if any."""
    found = re.search(
        rf'<p class="error-message" id="{re.escape(field)}-error">'
        r'<span class="visually-hidden">Error:</span> ([^<]*)</p>',
        page,
    )
    return html.unescape(found.group(1)) if found else None
