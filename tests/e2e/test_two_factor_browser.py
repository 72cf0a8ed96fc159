"""A real browser enrols a second factor and signs in with it: an admin sets up TOTP on
/account (the seed read from the page, the code computed as an authenticator app
would), signs out, signs in with the password and then the code, and reaches the
console. axe-core checks the enrolment page and the code page."""

from __future__ import annotations

import re
import secrets
import time
from typing import Any
from urllib.parse import urlsplit

import pyotp
import pytest

from tests.e2e import test_browser as shared
from tests.oauth_helpers import PASSWORD

pytestmark = pytest.mark.e2e

# The browser module's fixtures: one Chromium, the served app, the callback server.
chromium_driver = shared.chromium_driver
browser = shared.browser
callbacks = shared.callbacks
site = shared.site
WAIT = shared.WAIT
check_page = shared.check_page
sign_in = shared.sign_in


def _wait_for(browser: Any, element_id: str) -> Any:
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(browser, WAIT).until(
            expected_conditions.presence_of_element_located((By.ID, element_id))
        )
    except TimeoutException:
        pytest.fail(f"no #{element_id} at {browser.current_url}:\n{browser.page_source[:3000]}")


def _next_time_step() -> None:
    """Waits for the next 30-second step: the code that confirmed the set-up is spent."""
    time.sleep(30 - time.time() % 30 + 1)


def test_an_admin_enrols_totp_and_signs_in_with_a_code(browser: Any, site: shared.Site) -> None:
    from selenium.webdriver.common.by import By

    username = f"admin-{secrets.token_hex(4)}"
    created = site.admin(
        "/admin/v1/users", {"username": username, "password": PASSWORD, "role": "admin"}
    )
    console_page = f"/console/accounts/{created['id']}/password"

    browser.get(f"{site.base_url}/login?next=/account")
    sign_in(browser, username)
    _wait_for(browser, "start-two-factor").click()
    seed_text = _wait_for(browser, "totp-seed").text
    assert browser.find_element(By.CSS_SELECTOR, "#qr-code svg").is_displayed()
    check_page(browser, "two-factor-enrolment")
    seed = re.sub(r"\s", "", seed_text)
    browser.find_element(By.ID, "code").send_keys(pyotp.TOTP(seed).now())
    browser.find_element(By.ID, "confirm-two-factor").click()
    codes = _wait_for(browser, "recovery-codes").find_elements(By.TAG_NAME, "li")
    assert len(codes) == 10
    browser.find_element(By.ID, "continue").click()
    _wait_for(browser, "sign-out").click()

    browser.get(f"{site.base_url}/login?next={console_page}")
    sign_in(browser, username)
    _wait_for(browser, "code")
    assert "Enter your code" in browser.title
    assert urlsplit(browser.current_url).path == "/login"
    check_page(browser, "two-factor-code")
    _next_time_step()
    browser.find_element(By.ID, "code").send_keys(pyotp.TOTP(seed).now())
    browser.find_element(By.ID, "verify-code").click()
    _wait_for(browser, "create-reset-link")
    assert urlsplit(browser.current_url).path == console_page
    assert username in browser.find_element(By.TAG_NAME, "h1").text
