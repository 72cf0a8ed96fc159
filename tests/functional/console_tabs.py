"""Helpers for the tests of a console client's tabs (Credentials, Policy, Token preview):
signing in with a role, and who must be refused each route."""

from __future__ import annotations

import re
from html import unescape

import httpx

from appward.config import Settings
from tests.functional.conftest import Api
from tests.oauth_helpers import PASSWORD, Browser, hidden_fields

# The tests move the clock by days (expiries, grace periods): the admin stays signed in.
A_YEAR = 366 * 86400


def long_sessions(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "console_idle_timeout": A_YEAR,
            "session_idle_timeout": A_YEAR,
            "session_ttl": A_YEAR,
        }
    )


async def signed_in(api: Api, username: str = "ada", role: str | None = "admin") -> Browser:
    """Creates an account with ``role`` and signs it in on api.http's cookie jar."""
    body = {"username": username, "password": PASSWORD}
    if role:
        body["role"] = role
    created = await api.post("/admin/v1/users", body)
    assert created.status_code == 201, created.text
    browser = Browser(api.http)
    response = await browser.login(await api.http.get("/login"), username, PASSWORD)
    assert response.status_code == 303
    return browser


async def csrf(api: Api) -> str:
    """The signed-in browser's CSRF token, read from a page's form."""
    return hidden_fields((await api.http.get("/account")).text)["csrf"]


def element(html: str, element_id: str) -> str:
    """Returns the text inside the element with ``element_id`` (tags dropped, entities
    decoded, whitespace collapsed); fails when there is none."""
    match = re.search(rf'<(\w+)[^>]*\bid="{re.escape(element_id)}"[^>]*>(.*?)</\1>', html, re.S)
    assert match, f"no element #{element_id}"
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", match.group(2))).split())


def field_error(html: str, field: str) -> str:
    """The error message shown next to ``field`` (forms.html: #<field>-error)."""
    return element(html, f"{field}-error").removeprefix("Error:").strip()


async def request(http: httpx.AsyncClient, method: str, url: str, token: str) -> httpx.Response:
    if method == "GET":
        return await http.get(url)
    return await http.post(url, data={"csrf": token})
