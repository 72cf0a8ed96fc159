"""A real browser enrols a second factor and signs in with it: an admin sets up TOTP on
/account (the seed read from the page, the code computed as an authenticator app
would), signs out, signs in with the password and then the code, and reaches the
console. axe-core checks the enrolment page and the code page."""

from __future__ import annotations

import re
import secrets
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
wait_for = shared.wait_for
next_time_step = shared.next_time_step


def test_an_admin_enrols_totp_and_signs_in_with_a_code(browser: Any, site: shared.Site) -> None:
    from selenium.webdriver.common.by import By

    username = f"admin-{secrets.token_hex(4)}"
    created = site.admin(
        "/admin/v1/users", {"username": username, "password": PASSWORD, "role": "admin"}
    )
    console_page = f"/console/accounts/{created['id']}/password"

    browser.get(f"{site.base_url}/login?next=/account")
    sign_in(browser, username)
    wait_for(browser, "start-two-factor").click()
    seed_text = wait_for(browser, "totp-seed").text
    assert browser.find_element(By.CSS_SELECTOR, "#qr-code svg").is_displayed()
    check_page(browser, "two-factor-enrolment")
    seed = re.sub(r"\s", "", seed_text)
    browser.find_element(By.ID, "code").send_keys(pyotp.TOTP(seed).now())
    browser.find_element(By.ID, "password").send_keys(PASSWORD)
    browser.find_element(By.ID, "confirm-two-factor").click()
    codes = wait_for(browser, "recovery-codes").find_elements(By.TAG_NAME, "li")
    assert len(codes) == 10
    browser.find_element(By.ID, "continue").click()
    shared.sign_out(browser)

    browser.get(f"{site.base_url}/login?next={console_page}")
    sign_in(browser, username)
    wait_for(browser, "code")
    assert "Enter your code" in browser.title
    assert urlsplit(browser.current_url).path == "/login"
    check_page(browser, "two-factor-code")
    next_time_step()
    browser.find_element(By.ID, "code").send_keys(pyotp.TOTP(seed).now())
    browser.find_element(By.ID, "verify-code").click()
    wait_for(browser, "create-reset-link")
    assert urlsplit(browser.current_url).path == console_page
    assert username in browser.find_element(By.TAG_NAME, "h1").text
