"""/docs in a real browser (Debian's Chromium) that can reach nothing but the server:
Swagger UI renders the operations, and Authorize lets the admin API be tried out."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import chromium

pytestmark = pytest.mark.e2e


@pytest.fixture
def offline_browser() -> Iterator[Any]:
    """Chromium that resolves no host name but the loopback address: a page that needs a
    CDN stays blank here even on a machine with internet access."""
    with chromium("--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1") as driver:
        yield driver


def assert_nothing_fetched_from_elsewhere(browser: Any, base_url: str) -> None:
    """Every resource the page fetched came from the server; any other the page named was
    refused by its CSP before a request was made."""
    entries: list[list[Any]] = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => [e.name, e.responseStatus])"
    )
    fetched = [name for name, status in entries if status]
    assert fetched, entries
    assert all(name.startswith(f"{base_url}/") for name in fetched), entries
    refused = " ".join(
        entry["message"]
        for entry in browser.get_log("browser")
        if "violates the following Content Security Policy" in entry["message"]
    )
    for name, status in entries:
        if not status:
            assert name in refused, entries


# The page does not depend on the database: one is enough.
@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_swagger_ui_renders_and_tries_the_admin_api_offline(
    server: tuple[str, dict[str, Any]], offline_browser: Any
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    base_url, admin = server
    token = httpx.post(
        f"{base_url}/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=(admin["client_id"], admin["client_secret"]),
        timeout=10.0,
    ).json()["access_token"]
    browser = offline_browser
    wait = WebDriverWait(browser, 20)

    browser.get(f"{base_url}/docs")
    wait.until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, ".opblock")))
    summaries = {
        e.text for e in browser.find_elements(By.CSS_SELECTOR, ".opblock-summary-description")
    }
    assert {"Register a client", "Update a client", "Issue tokens (RFC 6749 §3.2)"} <= summaries

    # Authorize with the admin token, as a person would, then try "List clients".
    browser.find_element(By.CSS_SELECTOR, ".auth-wrapper .authorize").click()
    dialog = wait.until(
        expected_conditions.visibility_of_element_located((By.CSS_SELECTOR, ".modal-ux"))
    )
    section = next(
        s
        for s in dialog.find_elements(By.CSS_SELECTOR, ".auth-container")
        if "adminToken" in s.text
    )
    section.find_element(By.CSS_SELECTOR, "input").send_keys(token)
    section.find_element(By.CSS_SELECTOR, "button.authorize").click()
    dialog.find_element(By.CSS_SELECTOR, "button.btn-done").click()

    operation = browser.find_element(By.ID, "operations-admin-list_clients_admin_v1_clients_get")
    operation.find_element(By.CSS_SELECTOR, ".opblock-summary-control").click()
    wait.until(lambda _: operation.find_element(By.CSS_SELECTOR, ".try-out__btn")).click()
    operation.find_element(By.CSS_SELECTOR, ".execute").click()
    status = wait.until(
        lambda _: operation.find_element(
            By.CSS_SELECTOR, ".live-responses-table .response .response-col_status"
        )
    )
    assert status.text.strip().startswith("200"), status.text
    live = operation.find_element(By.CSS_SELECTOR, ".live-responses-table")
    assert admin["client_id"] in live.text

    assert_nothing_fetched_from_elsewhere(browser, base_url)


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_redoc_renders_the_operations_offline(
    server: tuple[str, dict[str, Any]], offline_browser: Any
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    base_url, _ = server
    browser = offline_browser
    browser.get(f"{base_url}/redoc")
    WebDriverWait(browser, 20).until(
        expected_conditions.presence_of_element_located(
            (By.CSS_SELECTOR, "[data-section-id^='operation/']")
        )
    )
    assert "Register a client (RFC 7591)" in browser.find_element(By.TAG_NAME, "body").text
    assert_nothing_fetched_from_elsewhere(browser, base_url)
