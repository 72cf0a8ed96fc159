"""A real browser (Debian's Chromium, driven through chromedriver) signs in, reads the
consent page and allows access, against a real server process."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from tests.e2e.conftest import free_port
from tests.oauth_helpers import PASSWORD, pkce_pair

pytestmark = pytest.mark.e2e

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


@pytest.fixture
def browser() -> Iterator[Any]:
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        if os.environ.get("APPWARD_REQUIRE_BROWSER") == "1":
            pytest.fail("Chromium is required (APPWARD_REQUIRE_BROWSER=1) but not installed")
        pytest.skip(
            "Chromium and chromedriver are not installed (apt-get install chromium chromium-driver)"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="appward-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(20)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def test_user_signs_in_and_allows_access_in_chromium(
    server: tuple[str, dict[str, Any]], browser: Any, tmp_path: Path
) -> None:
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    base_url, admin = server
    callback = f"http://127.0.0.1:{free_port()}/callback"  # nothing listens: we read the URL
    with httpx.Client(base_url=base_url, timeout=10.0) as http:
        token = http.post(
            "/oauth2/token",
            data={"grant_type": "client_credentials"},
            auth=(admin["client_id"], admin["client_secret"]),
        ).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        http.post(
            "/admin/v1/users", json={"username": "alice", "password": PASSWORD}, headers=auth
        ).raise_for_status()
        http.post(
            "/admin/v1/scopes",
            json={"name": "photos", "description": "See your photos"},
            headers=auth,
        ).raise_for_status()
        client = http.post(
            "/admin/v1/clients",
            json={
                "client_name": "Photo Printer",
                "redirect_uris": [callback],
                "grant_types": ["authorization_code", "refresh_token"],
                "scope": "photos",
                "client_uri": "https://printer.example",
            },
            headers=auth,
        ).json()

    verifier, challenge = pkce_pair()
    query = urlencode(
        {
            "response_type": "code",
            "client_id": client["client_id"],
            "redirect_uri": callback,
            "scope": "photos",
            "state": "browser-state",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    browser.get(f"{base_url}/oauth2/authorize?{query}")
    WebDriverWait(browser, 15).until(
        expected_conditions.presence_of_element_located((By.ID, "username"))
    )
    assert "Sign in" in browser.title
    browser.find_element(By.ID, "username").send_keys("alice")
    browser.find_element(By.ID, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()

    # A click starts a navigation; wait for the next page rather than race it.
    wait = WebDriverWait(browser, 15)
    try:
        wait.until(expected_conditions.presence_of_element_located((By.ID, "client-name")))
    except TimeoutException:
        pytest.fail(f"no consent page at {browser.current_url}:\n{browser.page_source[:3000]}")
    assert browser.find_element(By.ID, "client-name").text == "Photo Printer"
    assert "See your photos" in browser.find_element(By.ID, "scopes").text
    browser.save_screenshot(str(tmp_path / "consent.png"))
    browser.find_element(By.ID, "allow").click()

    wait.until(lambda driver: driver.current_url.startswith(callback))
    landed = urlsplit(browser.current_url)
    assert f"{landed.scheme}://{landed.netloc}{landed.path}" == callback
    result = {k: v[0] for k, v in parse_qs(landed.query).items()}
    assert result["state"] == "browser-state"
    assert result["iss"] == "http://127.0.0.1:8000"
    with httpx.Client(base_url=base_url, timeout=10.0) as http:
        tokens = http.post(
            "/oauth2/token",
            data={
                "grant_type": "authorization_code",
                "code": result["code"],
                "code_verifier": verifier,
                "redirect_uri": callback,
            },
            auth=(client["client_id"], client["client_secret"]),
        )
    assert tokens.status_code == 200, tokens.text
    assert tokens.json()["scope"] == "photos"
    assert "refresh_token" in tokens.json()


def test_error_page_is_shown_not_redirected_in_chromium(
    server: tuple[str, dict[str, Any]], browser: Any
) -> None:
    from selenium.webdriver.common.by import By

    base_url, _ = server
    browser.get(f"{base_url}/oauth2/authorize?response_type=code&client_id=unknown")
    assert urlsplit(browser.current_url).netloc == urlsplit(base_url).netloc
    assert "invalid_client" in browser.find_element(By.ID, "error").text
