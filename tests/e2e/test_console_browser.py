"""Scenario 1 of the console, in a real Chromium: an admin signs in with TOTP, creates a
confidential client, copies its secret, gets a token with it over HTTP, rotates the
secret with a grace period, sees "last used" move, and revokes the old secret through
the safe-revoke confirmation. axe-core checks every page on the way; each step's
screenshot is saved."""

from __future__ import annotations

import re
import secrets
from typing import Any

import httpx
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


def _wait_for_text(browser: Any, element_id: str, pattern: str) -> str:
    from selenium.webdriver.support.ui import WebDriverWait

    def shows(driver: Any) -> str | None:
        text: str = wait_for(driver, element_id).text
        return text if re.search(pattern, text) else None

    result: str = WebDriverWait(browser, WAIT).until(shows)
    return result


def _token(site: shared.Site, client_id: str, secret: str) -> httpx.Response:
    return httpx.post(
        f"{site.base_url}/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=(client_id, secret),
        timeout=10.0,
    )


def _admin_signed_in_with_totp(browser: Any, site: shared.Site) -> None:
    """A new admin enrols TOTP on /account, signs out, and signs in again with the
    password and then a code, landing on the console."""
    from selenium.webdriver.common.by import By

    username = f"console-{secrets.token_hex(4)}"
    site.admin("/admin/v1/users", {"username": username, "password": PASSWORD, "role": "admin"})
    browser.get(f"{site.base_url}/login?next=/account")
    sign_in(browser, username)
    wait_for(browser, "start-two-factor").click()
    seed = re.sub(r"\s", "", wait_for(browser, "totp-seed").text)
    browser.find_element(By.ID, "code").send_keys(pyotp.TOTP(seed).now())
    browser.find_element(By.ID, "password").send_keys(PASSWORD)
    browser.find_element(By.ID, "confirm-two-factor").click()
    wait_for(browser, "recovery-codes")
    browser.find_element(By.ID, "continue").click()
    shared.sign_out(browser)

    browser.get(f"{site.base_url}/login?next=/console/clients/new")
    sign_in(browser, username)
    wait_for(browser, "code")
    next_time_step()
    browser.find_element(By.ID, "code").send_keys(pyotp.TOTP(seed).now())
    browser.find_element(By.ID, "verify-code").click()
    wait_for(browser, "client_name")
    assert browser.current_url.endswith("/console/clients/new")


def test_an_admin_creates_a_client_rotates_and_safely_revokes_its_secret(
    browser: Any, site: shared.Site
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    _admin_signed_in_with_totp(browser, site)
    check_page(browser, "console-create-client")

    # Create a confidential service client.
    browser.find_element(By.ID, "client_name").send_keys("Billing service")
    for grant_type in browser.find_elements(By.CSS_SELECTOR, "input[id^=grant_type-]"):
        wanted = grant_type.get_attribute("id") == "grant_type-client_credentials"
        if grant_type.is_selected() != wanted:
            grant_type.click()
    browser.find_element(By.ID, "create-client").click()
    secret_field = wait_for(browser, "new-client-secret")
    client_id = browser.find_element(By.ID, "new-client-id").get_attribute("value")
    first_secret = secret_field.get_attribute("value")
    assert first_secret.startswith("apwcs_")
    browser.find_element(By.CSS_SELECTOR, "button[data-copy='#new-client-secret']").click()
    status = browser.find_element(By.CSS_SELECTOR, "[data-copy-status='#new-client-secret']")
    WebDriverWait(browser, WAIT).until(lambda _: status.text)
    assert status.text in (
        "Copied to the clipboard",
        "Could not copy: select the text and copy it yourself",
    )
    check_page(browser, "console-client-created")

    # The secret buys a token over HTTP; the Credentials tab shows its use.
    credentials_url = f"{site.base_url}/console/clients/{client_id}/credentials"
    browser.get(credentials_url)
    first_row = browser.find_element(By.CSS_SELECTOR, "#secrets tbody tr")
    first_id = first_row.get_attribute("id").removeprefix("secret-")
    assert browser.find_element(By.ID, f"last-used-{first_id}").text == "never used"
    assert _token(site, client_id, first_secret).status_code == 200
    browser.get(credentials_url)
    assert browser.find_element(By.ID, f"last-used-{first_id}").text != "never used"
    check_page(browser, "console-credentials")

    # Rotate: a new secret that never expires, the old one kept for a 7-day grace period.
    browser.find_element(By.CSS_SELECTOR, "input[name=expiry][value=never]").click()
    browser.find_element(By.CSS_SELECTOR, "input[name=others][value=grace]").click()
    browser.find_element(By.ID, "grace_days").send_keys("7")
    browser.find_element(By.ID, "add-secret").click()
    second_secret = wait_for(browser, "new-secret").get_attribute("value")
    assert second_secret.startswith("apwcs_")
    assert second_secret != first_secret
    check_page(browser, "console-secret-added")
    assert browser.find_element(By.ID, f"expires-soon-{first_id}").is_displayed()
    # Both work during the grace period; the new one's "last used" moves when it is used.
    assert _token(site, client_id, first_secret).status_code == 200
    assert _token(site, client_id, second_secret).status_code == 200
    browser.get(credentials_url)
    rows = browser.find_elements(By.CSS_SELECTOR, "#secrets tbody tr")
    second_id = next(
        row.get_attribute("id").removeprefix("secret-")
        for row in rows
        if row.get_attribute("id") != f"secret-{first_id}"
    )
    assert browser.find_element(By.ID, f"last-used-{second_id}").text != "never used"

    # Revoke the old one: used minutes ago, so the page asks first, naming that use.
    # (No confirm dialog for a secret in use: the confirmation page is the question.)
    browser.find_element(By.ID, f"revoke-{first_id}").click()
    last_used = wait_for(browser, "confirm-last-used").text
    assert "UTC" in last_used
    check_page(browser, "console-safe-revoke")
    browser.find_element(By.ID, "confirm-revoke-button").click()
    _wait_for_text(browser, f"status-{first_id}", "Revoked")
    check_page(browser, "console-secret-revoked")
    assert _token(site, client_id, first_secret).status_code == 401
    assert _token(site, client_id, second_secret).status_code == 200

    # The list shows the client, found by its name.
    browser.get(f"{site.base_url}/console/clients?q=Billing")
    assert client_id in browser.find_element(By.TAG_NAME, "main").text
    check_page(browser, "console-clients")


def _public_jwk(kid: str | None) -> dict[str, Any]:
    import json

    import jwt
    from cryptography.hazmat.primitives.asymmetric import ec

    public = ec.generate_private_key(ec.SECP256R1()).public_key()
    jwk: dict[str, Any] = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(public))
    return {**jwk, "kid": kid} if kid else jwk


def test_every_console_page_passes_axe(browser: Any, site: shared.Site) -> None:
    """axe-core on each GET page of the console, with content in it (a client with a
    secret and its activity, an account, a scope, an initial access token, audit events),
    and on the account pages an admin reaches from it."""
    from selenium.webdriver.common.by import By

    username = f"axe-{secrets.token_hex(4)}"
    account = site.admin(
        "/admin/v1/users", {"username": username, "password": PASSWORD, "role": "admin"}
    )
    client = site.admin(
        "/admin/v1/clients",
        {
            "client_name": "Axe <b>Widget</b>",
            "redirect_uris": ["https://axe.example/cb"],
            "grant_types": ["authorization_code", "refresh_token"],
            "scope": "photos",
        },
    )
    site.admin("/admin/v1/initial-access-tokens", {"label": "axe partner"})
    # A client with keys, for the Keys tab's table (one key with a kid, one without).
    keyed = site.admin(
        "/admin/v1/clients",
        {
            "client_name": "Axe Keyed",
            "grant_types": ["client_credentials"],
            "jwks": {"keys": [_public_jwk("axe-1"), _public_jwk(None)]},
        },
    )
    client_page = f"/console/clients/{client['client_id']}"
    pages = {
        "console-client-new": "/console/clients/new",
        "console-client-settings": client_page,
        "console-client-policy": f"{client_page}/policy",
        "console-client-keys": f"/console/clients/{keyed['client_id']}/keys",
        "console-client-keys-empty": f"{client_page}/keys",
        "console-client-preview": f"{client_page}/preview",
        "console-client-activity": f"{client_page}/activity",
        "console-client-delete": f"{client_page}/delete",
        "console-accounts": "/console/accounts",
        "console-account": f"/console/accounts/{account['id']}",
        "console-account-new": "/console/accounts/new",
        "console-account-password": f"/console/accounts/{account['id']}/password",
        "console-scopes": "/console/scopes",
        "console-scope-new": "/console/scopes/new",
        "console-scope-edit": "/console/scopes/edit/photos",
        "console-access-tokens": "/console/access-tokens",
        "console-access-token-new": "/console/access-tokens/new",
        "console-audit": "/console/audit",
        "console-audit-filtered": f"/console/audit?client={client['client_id']}",
        "console-approvals-empty": "/console/approvals",
        "account-two-factor": "/account/two-factor",
        "account-password": "/account/password",
    }
    browser.get(f"{site.base_url}/login?next=/console")
    sign_in(browser, username)
    wait_for(browser, "main")
    for name, path in pages.items():
        browser.get(f"{site.base_url}{path}")
        heading = wait_for(browser, "main").find_element(By.TAG_NAME, "h1").text
        assert heading, f"{path} has no heading"
        assert "<b>Widget</b>" not in browser.page_source, f"{path} does not escape"
        check_page(browser, name)
    # The Keys tab's refusal: the message beside the JWK Set, and the summary.
    browser.get(f"{site.base_url}/console/clients/{keyed['client_id']}/keys")
    jwks = wait_for(browser, "jwks")
    jwks.clear()
    jwks.send_keys('{"keys": [ not json')
    wait_for(browser, "save-keys").click()
    wait_for(browser, "error-summary")
    assert "not valid JSON" in wait_for(browser, "jwks-error").text
    check_page(browser, "console-client-keys-error")
