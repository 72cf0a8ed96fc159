"""A real browser (Debian's Chromium, driven through chromedriver) signs in, answers the
consent page or skips it, against a real server process, and lands at the client.

Chromium enforces CSP form-action on every redirect answering a form, so each way of
signing in is walked to its end here: a flow that passes over HTTP can still be blocked
in the browser. One server (per database) and one Chromium serve the whole module; each
test keeps apart by its own user and client, and starts with no cookies.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from tests.e2e.accessibility import assert_accessible, screenshot
from tests.e2e.conftest import HOST, chromium
from tests.oauth_helpers import PASSWORD, pkce_pair

pytestmark = pytest.mark.e2e

# Generous: a page that passes never waits this long; on a loaded machine (CI next to
# other jobs) a sign-in with its argon2 check can take seconds.
WAIT = 30
ISSUER = "http://127.0.0.1:8000"  # the settings' default issuer


@pytest.fixture(scope="module")
def chromium_driver() -> Iterator[Any]:
    with chromium() as driver:
        yield driver


@pytest.fixture
def browser(chromium_driver: Any) -> Any:
    """The module's Chromium with no cookies (no session) and an empty console log."""
    chromium_driver.execute_cdp_cmd("Network.clearBrowserCookies", {})
    chromium_driver.set_window_size(1024, 900)
    chromium_driver.get("about:blank")
    chromium_driver.get_log("browser")
    return chromium_driver


def check_page(browser: Any, name: str) -> None:
    """The page the browser shows passes axe-core (no serious or critical violation),
    the browser reported no error loading it (a CSP refusal, a missing asset), and its
    screenshot is saved as ``name``."""
    assert_accessible(browser)
    # The page's own status (a 400 error page, a 401 after a wrong password) is logged as
    # a failed load too: meant, so not counted.
    document = browser.current_url.split("#")[0]
    errors = [
        entry
        for entry in browser.get_log("browser")
        if entry["level"] == "SEVERE"
        and not (entry["source"] == "network" and entry["message"].startswith(f"{document} - "))
    ]
    assert not errors, f"the browser reported errors on {browser.current_url}: {errors}"
    screenshot(browser, name)


@dataclass
class Callbacks:
    """A loopback HTTP server standing in for the clients: records each request's query
    by path, so a test sees the browser really arrived there."""

    base_url: str
    seen: dict[str, list[dict[str, str]]] = field(default_factory=dict)


@pytest.fixture(scope="module")
def callbacks() -> Iterator[Callbacks]:
    recorder: Callbacks

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            recorder.seen.setdefault(parts.path, []).append(query)
            body = b"<!doctype html><title>Client</title><p id=client>back at the client"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the query holds codes: not for the test log

    httpd = ThreadingHTTPServer((HOST, 0), Handler)
    recorder = Callbacks(f"http://{HOST}:{httpd.server_address[1]}")
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield recorder
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


@dataclass
class Site:
    """The served app with an admin token, making a user and a client per test."""

    base_url: str
    admin_auth: dict[str, str]
    callbacks: Callbacks

    def admin(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        with httpx.Client(base_url=self.base_url, timeout=10.0) as http:
            response = http.post(path, json=body, headers=self.admin_auth)
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result

    def user(self) -> str:
        username = f"user-{secrets.token_hex(4)}"
        self.admin("/admin/v1/users", {"username": username, "password": PASSWORD})
        return username

    def client(self, **metadata: Any) -> App:
        path = f"/cb/{secrets.token_hex(4)}"
        callback = f"{self.callbacks.base_url}{path}"
        created = self.admin(
            "/admin/v1/clients",
            {
                "client_name": "Photo Printer",
                "redirect_uris": [callback],
                "grant_types": ["authorization_code", "refresh_token"],
                "scope": "photos",
                "client_uri": "https://printer.example",
                **metadata,
            },
        )
        return App(self, created["client_id"], created["client_secret"], callback, path)


@dataclass
class App:
    """One registered client: starts authorization requests, exchanges their codes."""

    site: Site
    client_id: str
    client_secret: str
    callback: str
    path: str
    verifier: str = ""

    def authorize_url(self, **extra: str) -> str:
        self.verifier, challenge = pkce_pair()
        query = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.callback,
            "scope": "photos",
            "state": "browser-state",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            **extra,
        }
        return f"{self.site.base_url}/oauth2/authorize?{urlencode(query)}"

    def arrived(self, browser: Any) -> dict[str, str]:
        """Waits for the browser to reach the callback; returns the query the client got,
        after checking it is an authorization response for our request."""
        from selenium.common.exceptions import TimeoutException
        from selenium.webdriver.support.ui import WebDriverWait

        try:
            WebDriverWait(browser, WAIT).until(lambda d: d.current_url.startswith(self.callback))
        except TimeoutException:
            pytest.fail(
                f"never reached the client; stuck at {browser.current_url}\n"
                f"console: {browser.get_log('browser')}\n{browser.page_source[:2000]}"
            )
        received = self.site.callbacks.seen.get(self.path, [])
        assert len(received) == 1, received
        result = received.pop()
        assert result["state"] == "browser-state"
        assert result["iss"] == ISSUER
        assert "code" in result, result
        return result

    def exchange(self, code: str) -> dict[str, Any]:
        with httpx.Client(base_url=self.site.base_url, timeout=10.0) as http:
            tokens = http.post(
                "/oauth2/token",
                data={
                    "grant_type": "authorization_code",
                    "code": code,
                    "code_verifier": self.verifier,
                    "redirect_uri": self.callback,
                },
                auth=(self.client_id, self.client_secret),
            )
        assert tokens.status_code == 200, tokens.text
        body: dict[str, Any] = tokens.json()
        return body


@pytest.fixture(scope="module")
def site(module_server: tuple[str, dict[str, Any]], callbacks: Callbacks) -> Site:
    base_url, admin = module_server
    with httpx.Client(base_url=base_url, timeout=10.0) as http:
        token = http.post(
            "/oauth2/token",
            data={"grant_type": "client_credentials"},
            auth=(admin["client_id"], admin["client_secret"]),
        ).json()["access_token"]
    result = Site(base_url, {"Authorization": f"Bearer {token}"}, callbacks)
    result.admin("/admin/v1/scopes", {"name": "photos", "description": "See your photos"})
    return result


def wait_for(browser: Any, element_id: str) -> Any:
    """Returns the element ``element_id`` once the page shows it; fails with the page's
    address and source when it does not come."""
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


def sign_out(browser: Any) -> None:
    """Clicks the page's "Sign out" and waits for the sign-in page it leads to: a
    navigation started before that one ends could be overtaken by it."""
    from selenium.webdriver.support.ui import WebDriverWait

    wait_for(browser, "sign-out").click()
    WebDriverWait(browser, WAIT).until(
        lambda driver: (
            urlsplit(driver.current_url).path == "/login"
            and driver.execute_script("return document.readyState") == "complete"
        )
    )


def next_time_step() -> None:
    """Waits for the next 30-second TOTP step: a code already used in this one is spent."""
    time.sleep(30 - time.time() % 30 + 1)


def sign_in(browser: Any, username: str, password: str = PASSWORD) -> None:
    """Fills in and sends the sign-in form the browser is on (or about to be on)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, WAIT).until(
        expected_conditions.presence_of_element_located((By.ID, "username"))
    )
    assert "Sign in" in browser.title
    assert urlsplit(browser.current_url).path == "/login"
    browser.find_element(By.ID, "username").clear()
    browser.find_element(By.ID, "username").send_keys(username)
    browser.find_element(By.ID, "password").send_keys(password)
    # A click starts a navigation; callers wait for the next page rather than race it.
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()


def consent_page(browser: Any) -> Any:
    """Waits for the consent page; returns its client name element."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(browser, WAIT).until(
            expected_conditions.presence_of_element_located((By.ID, "client-name"))
        )
    except TimeoutException:
        pytest.fail(f"no consent page at {browser.current_url}:\n{browser.page_source[:3000]}")


def allow(browser: Any) -> None:
    from selenium.webdriver.common.by import By

    consent_page(browser)
    browser.find_element(By.ID, "allow").click()


def consent_given(browser: Any, site: Site, app: App) -> str:
    """A user who signed in and allowed ``app`` once; the browser then forgets them."""
    username = site.user()
    browser.get(app.authorize_url())
    sign_in(browser, username)
    allow(browser)
    app.arrived(browser)
    browser.execute_cdp_cmd("Network.clearBrowserCookies", {})
    return username


def test_user_signs_in_and_allows_access_in_chromium(site: Site, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    username = site.user()
    app = site.client()
    browser.get(app.authorize_url())
    sign_in(browser, username)
    assert consent_page(browser).text == "Photo Printer"
    assert "See your photos" in browser.find_element(By.ID, "scopes").text
    check_page(browser, "consent")
    browser.find_element(By.ID, "allow").click()

    tokens = app.exchange(app.arrived(browser)["code"])
    assert tokens["scope"] == "photos"
    assert "refresh_token" in tokens


def test_return_visit_signs_in_straight_to_the_client_in_chromium(site: Site, browser: Any) -> None:
    """Consent remembered: the login form's answer redirects through /oauth2/authorize
    to the client, and Chromium lets it (form-action names the client's origin)."""
    app = site.client()
    username = consent_given(browser, site, app)
    browser.get(app.authorize_url())
    sign_in(browser, username)
    assert app.exchange(app.arrived(browser)["code"])["scope"] == "photos"


def test_first_party_client_signs_in_straight_to_the_client_in_chromium(
    site: Site, browser: Any
) -> None:
    """skip_consent: no consent page ever. A wrong password first: the page re-rendered
    with the message lets its form reach the client too."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    username = site.user()
    app = site.client(skip_consent=True)
    browser.get(app.authorize_url())
    sign_in(browser, username, "wrong password!!")
    message = WebDriverWait(browser, WAIT).until(
        expected_conditions.presence_of_element_located((By.ID, "username-error"))
    )
    assert message.text.split() == ["Error:", *["Wrong", "username", "or", "password."]]
    sign_in(browser, username)
    assert app.exchange(app.arrived(browser)["code"])["scope"] == "photos"


def test_prompt_none_with_a_session_answers_with_a_code_in_chromium(
    site: Site, browser: Any
) -> None:
    app = site.client()
    username = site.user()
    browser.get(app.authorize_url())
    sign_in(browser, username)
    allow(browser)
    app.arrived(browser)
    # Signed in, consent given: straight back, no page of ours shown on the way.
    browser.get(app.authorize_url(prompt="none"))
    assert app.exchange(app.arrived(browser)["code"])["scope"] == "photos"


def test_prompt_login_signs_in_again_then_reaches_the_client_in_chromium(
    site: Site, browser: Any
) -> None:
    app = site.client()
    username = site.user()
    browser.get(app.authorize_url())
    sign_in(browser, username)
    allow(browser)
    app.arrived(browser)
    browser.get(app.authorize_url(prompt="login"))
    sign_in(browser, username)  # the sign-in page again, though signed in
    assert app.exchange(app.arrived(browser)["code"])["scope"] == "photos"


def test_prompt_consent_asks_after_signing_in_in_chromium(site: Site, browser: Any) -> None:
    """prompt=consent from a user not signed in, who consented before: asked again after
    signing in, not skipped."""
    app = site.client()
    username = consent_given(browser, site, app)
    browser.get(app.authorize_url(prompt="consent"))
    sign_in(browser, username)
    allow(browser)
    assert app.exchange(app.arrived(browser)["code"])["scope"] == "photos"


def test_error_page_is_shown_not_redirected_in_chromium(site: Site, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    browser.get(f"{site.base_url}/oauth2/authorize?response_type=code&client_id=unknown")
    assert urlsplit(browser.current_url).netloc == urlsplit(site.base_url).netloc
    assert "invalid_client" in browser.find_element(By.ID, "error").text


# --- every page, in the browser: accessible, no errors, a screenshot each ---


def test_landing_page_in_chromium(site: Site, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    browser.get(f"{site.base_url}/")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Appward"
    links = {
        a.get_attribute("id"): a.get_attribute("href")
        for a in browser.find_elements(By.CSS_SELECTOR, "#links a")
    }
    assert links["sign-in"] == f"{site.base_url}/login"
    assert links["portal"] == f"{site.base_url}/portal"
    assert links["console"] == f"{site.base_url}/console"
    # The stylesheet applied (from /static, not inline): the header is dark.
    header = browser.find_element(By.CSS_SELECTOR, ".header")
    assert header.value_of_css_property("background-color") == "rgba(29, 35, 48, 1)"
    check_page(browser, "landing")


def test_skip_link_is_the_first_stop_and_moves_to_the_main_region_in_chromium(
    site: Site, browser: Any
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    browser.get(f"{site.base_url}/")
    browser.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)
    active = browser.switch_to.active_element
    assert active.text == "Skip to main content"
    active.send_keys(Keys.ENTER)
    assert browser.switch_to.active_element.get_attribute("id") == "main"


def test_login_page_names_the_application_in_chromium(site: Site, browser: Any) -> None:
    app = site.client(client_name="Weather Widget")
    browser.get(app.authorize_url())
    assert wait_for(browser, "continue-to-name").text == "Weather Widget"
    check_page(browser, "login")


def test_login_error_is_summarised_and_focused_in_chromium(site: Site, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    browser.get(f"{site.base_url}/login")
    check_page(browser, "login-plain")
    sign_in(browser, "nobody", "wrong password!!")
    wait_for(browser, "error-summary")
    assert browser.title.startswith("Error: ")
    # The script moves the focus to the summary, so a screen reader reads it first.
    assert browser.switch_to.active_element.get_attribute("id") == "error-summary"
    browser.find_element(By.CSS_SELECTOR, "#error-summary a").click()
    assert browser.switch_to.active_element.get_attribute("id") == "username"
    check_page(browser, "login-error")


def test_not_you_signs_out_and_comes_back_to_the_request_in_chromium(
    site: Site, browser: Any
) -> None:
    from selenium.webdriver.common.by import By

    app = site.client(client_name="Weather Widget")
    first, second = site.user(), site.user()
    browser.get(app.authorize_url())
    sign_in(browser, first)
    consent_page(browser)
    assert browser.find_element(By.ID, "signed-in-as").text == first
    browser.find_element(By.ID, "not-you").click()
    assert wait_for(browser, "continue-to-name").text == "Weather Widget"
    sign_in(browser, second)
    consent_page(browser)
    assert browser.find_element(By.ID, "signed-in-as").text == second
    browser.find_element(By.ID, "allow").click()
    assert app.exchange(app.arrived(browser)["code"])["scope"] == "photos"


def test_account_page_asks_before_revoking_in_chromium(site: Site, browser: Any) -> None:
    """The revoke form's data-confirm: dismissed, nothing is revoked; accepted, it is."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    app = site.client(client_name="Weather Widget")
    username = consent_given(browser, site, app)
    browser.get(f"{site.base_url}/login")
    sign_in(browser, username)
    grants = wait_for(browser, "grants")
    assert "Weather Widget" in grants.text
    check_page(browser, "account")

    browser.find_element(By.CSS_SELECTOR, "#grants button[type=submit]").click()
    alert = WebDriverWait(browser, WAIT).until(expected_conditions.alert_is_present())
    assert alert.text == "Stop Weather Widget from accessing your account?"
    alert.dismiss()
    assert "Weather Widget" in browser.find_element(By.ID, "grants").text

    browser.find_element(By.CSS_SELECTOR, "#grants button[type=submit]").click()
    WebDriverWait(browser, WAIT).until(expected_conditions.alert_is_present()).accept()
    assert wait_for(browser, "no-grants").text == "No application has access to your account."


def test_error_page_in_chromium(site: Site, browser: Any) -> None:
    browser.get(f"{site.base_url}/oauth2/authorize?response_type=code&client_id=unknown")
    assert "invalid_client" in wait_for(browser, "error").text
    check_page(browser, "error")


def test_client_named_like_a_script_runs_nothing_in_chromium(site: Site, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    name = "<script>alert(1)</script><img src=x onerror=alert(2)>"
    app = site.client(client_name=name)
    username = site.user()
    browser.get(app.authorize_url())
    assert wait_for(browser, "continue-to-name").text == name
    sign_in(browser, username)
    assert consent_page(browser).text == name
    assert browser.find_elements(By.CSS_SELECTOR, "main script, main img") == []


def test_axe_fails_a_page_with_a_serious_violation_in_chromium(
    callbacks: Callbacks, browser: Any
) -> None:
    """The harness itself: the stand-in client's bare page has no lang attribute (axe's
    html-has-lang, serious), and assert_accessible says so."""
    browser.get(f"{callbacks.base_url}/bare")
    with pytest.raises(AssertionError, match="html-has-lang"):
        assert_accessible(browser)
