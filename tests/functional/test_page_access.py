"""Who may open the console and the portal (web/page_access.py), before any of their
pages: the refusals every console and portal route shares."""

from __future__ import annotations

import pyotp
import pytest

from appward.services import unit_of_work
from tests.factories import SETUP_ACTOR
from tests.functional.conftest import open_api
from tests.oauth_helpers import PASSWORD, Browser, hidden_fields

pytestmark = pytest.mark.anyio


async def _signed_in(api, username: str, role: str | None) -> Browser:
    body = {"username": username, "password": PASSWORD}
    if role:
        body["role"] = role
    created = await api.post("/admin/v1/users", body)
    assert created.status_code == 201, created.text
    browser = Browser(api.http)
    response = await browser.login(await api.http.get("/login"), username, PASSWORD)
    assert response.status_code == 303
    return browser


@pytest.mark.parametrize("path", ["/console", "/account"])
async def test_a_page_asks_to_sign_in_and_comes_back(api, path):
    response = await api.http.get(path)
    assert response.status_code == 303
    assert response.headers["location"] == f"/login?next={path.replace('/', '%2F')}"
    login_page = await api.http.get(response.headers["location"])
    assert hidden_fields(login_page.text)["next"] == path


@pytest.mark.parametrize("role", [None, "developer"])
async def test_the_console_refuses_an_account_that_is_no_admin(api, role):
    await _signed_in(api, "nadia", role)
    response = await api.http.get("/console")
    assert response.status_code == 403
    assert "administrator" in response.text
    assert response.headers["x-frame-options"] == "DENY"


async def test_an_admin_reaches_the_console(api):
    await _signed_in(api, "ada", "admin")
    response = await api.http.get("/console")
    assert response.status_code == 303
    assert response.headers["location"] == "/console/clients"


@pytest.fixture
async def strict_api(settings, clock):
    """The app with the console's second-factor requirement on."""
    async with open_api(settings.model_copy(update={"console_require_2fa": True}), clock) as api:
        yield api


async def test_the_console_sends_an_admin_without_a_second_factor_to_enrol(strict_api):
    await _signed_in(strict_api, "grace", "admin")
    response = await strict_api.http.get("/console")
    assert response.status_code == 303
    assert response.headers["location"] == "/account/two-factor?next=%2Fconsole"


async def test_an_enrolled_admin_passes_the_second_factor_requirement(strict_api, clock):
    await _signed_in(strict_api, "hedy", "admin")
    async with unit_of_work(strict_api.app.state.appward, SETUP_ACTOR) as services:
        user = await services.users.by_username("hedy")
        enrolment = await services.totp.start_enrolment(user)
        await services.totp.confirm_enrolment(user, pyotp.TOTP(enrolment.seed).at(clock.now()))
    response = await strict_api.http.get("/console")
    assert response.headers["location"] == "/console/clients"


async def test_the_console_idle_timeout_is_shorter_than_the_sessions(api, clock):
    await _signed_in(api, "ivan", "admin")
    clock.advance(api.app.state.appward.settings.console_idle_timeout + 1)
    response = await api.http.get("/console")
    assert response.headers["location"].startswith("/login?next=")
    # The account pages keep the longer idle timeout... but the console's lookup of the
    # same request already ended nothing: the session is still there for /account.
    assert (await api.http.get("/account")).status_code == 200


async def test_production_requires_a_second_factor_by_default(settings):
    assert settings.console_requires_second_factor is False
    production = settings.model_copy(update={"environment": "production"})
    assert production.console_requires_second_factor is True
    assert (
        production.model_copy(update={"console_require_2fa": False}).console_requires_second_factor
        is False
    )
