"""Login sessions age by the app's clock (AppState.clock), like every other expiry."""

from __future__ import annotations

import pytest

from tests.oauth_helpers import PASSWORD, Browser

pytestmark = pytest.mark.anyio


async def _signed_in(api, username: str) -> Browser:
    await api.post("/admin/v1/users", {"username": username, "password": PASSWORD})
    b = Browser(api.http)
    assert (await b.login(await api.http.get("/login"), username, PASSWORD)).status_code == 303
    assert (await api.http.get("/account")).status_code == 200
    return b


async def test_login_ends_once_the_clock_passes_session_ttl(api, settings, clock):
    await _signed_in(api, "frank")
    clock.advance(settings.session_ttl + 1)
    expired = await api.http.get("/account")
    assert expired.status_code == 303
    assert expired.headers["location"].startswith("/login")


async def test_login_lasts_while_the_clock_is_within_session_ttl(api, settings, clock):
    await _signed_in(api, "grace")
    clock.advance(settings.session_ttl - 1)
    assert (await api.http.get("/account")).status_code == 200
