"""The developer portal in a real browser (Chromium) against a real server process that
mails through a real SMTP server (aiosmtpd on loopback):

2. A developer signs up, verifies the address from the mail, registers a web app asking
   for a sensitive scope and sees it pending; an admin approves it (console); an end
   user goes from /oauth2/authorize through sign-in and consent (the app's name and logo,
   the unverified notice) to the redirect with a code, and the code buys a token.
3. A second developer can neither open, edit nor rotate the first one's app, by URL or
   by form post; a viewer co-owner sees no secret.

axe-core runs on every portal page and each is screenshotted (build/artefacts/screenshots).
"""

from __future__ import annotations

import datetime
import re
import secrets
import ssl
import struct
import threading
import time
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from appward.config import Settings
from tests.e2e.accessibility import axe_violations, describe
from tests.e2e.conftest import HOST, chromium, serving
from tests.e2e.test_browser import (
    Callbacks,
    callbacks,
    check_page,
    consent_page,
    sign_in,
    wait_for,
)
from tests.keys_helpers import ec_jwk, rsa_jwk
from tests.mailbox import Mailbox, mailbox
from tests.oauth_helpers import PASSWORD, pkce_pair

pytestmark = pytest.mark.e2e

__all__ = ["callbacks", "mailbox"]  # fixtures, used by name below

WAIT = 30


def _png_1x1() -> bytes:
    """A 1x1 PNG (one opaque pixel): the app's logo, served over https from loopback."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)  # 8-bit RGB
    pixels = zlib.compress(b"\x00\x2b\x6c\xb0")  # filter byte, then one pixel
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


LOGO = _png_1x1()


@pytest.fixture(scope="module")
def logo_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An https server on loopback (a self-signed certificate the browser is told to
    accept) serving the logo, as an app's own site would."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("logo")
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(LOGO)))
            self.end_headers()
            self.wfile.write(LOGO)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer((HOST, 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://{HOST}:{httpd.server_address[1]}/logo.png"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


@pytest.fixture(scope="module")
def chromium_driver() -> Iterator[Any]:
    # The logo's server has a self-signed certificate.
    with chromium("--ignore-certificate-errors") as driver:
        yield driver


@pytest.fixture
def browser(chromium_driver: Any) -> Any:
    chromium_driver.execute_cdp_cmd("Network.clearBrowserCookies", {})
    chromium_driver.set_window_size(1024, 900)
    chromium_driver.get("about:blank")
    chromium_driver.get_log("browser")
    return chromium_driver


class Portal:
    """The served app: its URL, an admin token, its log and the mailbox it mails to."""

    def __init__(self, base_url: str, admin: dict[str, Any], log: Path, mail: Mailbox) -> None:
        self.base_url = base_url
        self.log = log
        self.mailbox = mail
        with httpx.Client(base_url=base_url, timeout=10.0) as http:
            token = http.post(
                "/oauth2/token",
                data={"grant_type": "client_credentials"},
                auth=(admin["client_id"], admin["client_secret"]),
            ).json()["access_token"]
        self.auth = {"Authorization": f"Bearer {token}"}

    def admin(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        with httpx.Client(base_url=self.base_url, timeout=10.0) as http:
            response = http.request(
                method, path, json=body, headers={**self.auth, **(headers or {})}
            )
        assert response.status_code in (200, 201, 204), response.text
        return response.json() if response.content else None

    def account(self, username: str, role: str | None = "developer") -> dict[str, Any]:
        body: dict[str, Any] = {
            "username": username,
            "password": PASSWORD,
            "email": f"{username}@example.com",
        }
        if role:
            body["role"] = role
        created = self.admin("POST", "/admin/v1/users", body)
        if role == "developer":
            self.admin("PATCH", f"/admin/v1/users/{created['id']}", {"email_verified": True})
        return dict(created)

    def last_link(self, count: int) -> str:
        """The path of the one-time link in the ``count``-th mail, once it arrived."""
        deadline = time.monotonic() + WAIT
        while len(self.mailbox.messages) < count and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(self.mailbox.messages) >= count, "no mail arrived"
        body = self.mailbox.messages[count - 1].get_content()
        found = re.search(r"https?://[^\s/]+(/portal/verify/[A-Za-z0-9_-]+)", body)
        assert found, body
        return found.group(1)


@pytest.fixture
def portal(settings: Settings, workdir: Path, mailbox: Mailbox) -> Iterator[Portal]:
    extra = {f"APPWARD_{k.upper()}": str(v) for k, v in mailbox.settings().items()}
    extra["APPWARD_PORTAL_SIGNUP"] = "open"
    extra["APPWARD_REQUEST_LOG"] = "true"  # a line per request: the link must not be in it
    with serving(settings, workdir, extra) as (base_url, admin):
        yield Portal(base_url, admin, workdir / "server.log", mailbox)


def fill(browser: Any, **fields: str) -> None:
    from selenium.webdriver.common.by import By

    for element_id, value in fields.items():
        element = browser.find_element(By.ID, element_id)
        element.clear()
        element.send_keys(value)


def click(browser: Any, element_id: str) -> None:
    from selenium.webdriver.common.by import By

    browser.find_element(By.ID, element_id).click()


def portal_sign_in(browser: Any, portal: Portal, username: str, then: str = "/portal") -> None:
    browser.get(f"{portal.base_url}/login?{urlencode({'next': then})}")
    sign_in(browser, username)
    wait_for(browser, "main")
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, WAIT).until(lambda d: urlsplit(d.current_url).path != "/login")


def register_web_app(browser: Any, portal: Portal, name: str, **extra: str) -> tuple[str, str]:
    """Registers a web app through the portal's form; returns its client_id and secret."""
    browser.get(f"{portal.base_url}/portal/apps/new")
    wait_for(browser, "client_name")
    fill(browser, client_name=name, redirect_uris=extra.pop("redirect_uri"), **extra)
    click(browser, "app_type-1")  # a web application
    return_page = "portal-app-new"
    check_page(browser, return_page)
    click(browser, "save-app")
    secret = wait_for(browser, "client-secret").get_attribute("value")
    client_id = wait_for(browser, "client-id-value").get_attribute("value")
    return client_id, secret


def test_a_developer_signs_up_registers_an_app_and_a_user_signs_in_to_it(
    browser: Any, portal: Portal, callbacks: Callbacks, logo_url: str
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    portal.admin(
        "POST",
        "/admin/v1/scopes",
        {"name": "photos:read", "description": "See your photos", "sensitive": True},
    )
    username = f"dev-{secrets.token_hex(3)}"
    # Sign up from the portal's front page.
    browser.get(f"{portal.base_url}/portal")
    wait_for(browser, "portal-sign-up")
    check_page(browser, "portal-home")
    click(browser, "portal-sign-up")
    wait_for(browser, "email")
    check_page(browser, "portal-signup")
    fill(browser, email=f"{username}@example.com", username=username, password=PASSWORD)
    click(browser, "sign-up")
    wait_for(browser, "sent-to")
    assert not browser.find_elements(By.ID, "dev-link")  # SMTP: the link is in the mail only
    check_page(browser, "portal-signup-sent")

    # The link from the mail the SMTP server received.
    link = portal.last_link(1)
    browser.get(f"{portal.base_url}{link}")
    wait_for(browser, "verify")
    check_page(browser, "portal-verify")
    click(browser, "verify")
    sign_in(browser, username)  # the link verified; signing in comes back to the notice
    wait_for(browser, "notice")
    assert "verified" in browser.find_element(By.ID, "notice").text
    check_page(browser, "portal-apps-verified")

    path = f"/cb/{secrets.token_hex(4)}"
    callback = f"{callbacks.base_url}{path}"
    client_id, secret = register_web_app(
        browser,
        portal,
        "Photo Printer",
        redirect_uri=callback,
        scope="photos:read",
        logo_uri=logo_url,
    )
    assert secret
    check_page(browser, "portal-secret-issued")
    click(browser, "continue")
    wait_for(browser, "approval")
    assert "Waiting for review" in browser.find_element(By.ID, "approval").text
    check_page(browser, "portal-app-pending")

    # An admin approves it from the console's queue, in a browser session of their own.
    app_page = browser.current_url
    reviewer = f"admin-{secrets.token_hex(3)}"
    portal.account(reviewer, role="admin")
    browser.execute_cdp_cmd("Network.clearBrowserCookies", {})
    browser.get(f"{portal.base_url}/console/approvals")
    sign_in(browser, reviewer)
    wait_for(browser, f"client-{client_id}")
    check_page(browser, "console-approvals")
    click(browser, f"approve-{client_id}")
    WebDriverWait(browser, WAIT).until(expected_conditions.alert_is_present()).accept()
    assert "approved" in wait_for(browser, "notice").text.lower()
    # The developer sees the new state.
    browser.execute_cdp_cmd("Network.clearBrowserCookies", {})
    browser.get(app_page)
    sign_in(browser, username)
    assert "Approved" in wait_for(browser, "approval").text

    # An end user signs in to the app through the consent page.
    end_user = f"user-{secrets.token_hex(3)}"
    portal.account(end_user, role=None)
    browser.execute_cdp_cmd("Network.clearBrowserCookies", {})
    verifier, challenge = pkce_pair()
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": callback,
        "scope": "photos:read",
        "state": "portal-state",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    browser.get(f"{portal.base_url}/oauth2/authorize?{urlencode(query)}")
    sign_in(browser, end_user)
    name = consent_page(browser)
    assert name.text == "Photo Printer"
    assert browser.find_element(By.ID, "unverified").is_displayed()
    logo = browser.find_element(By.CSS_SELECTOR, "img.client__logo")
    assert logo.get_attribute("src") == logo_url
    assert browser.execute_script("return arguments[0].naturalWidth", logo) == 1
    check_page(browser, "portal-consent")
    click(browser, "allow")
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, WAIT).until(lambda d: d.current_url.startswith(callback))
    [received] = callbacks.seen.pop(path)
    assert received["state"] == "portal-state"
    with httpx.Client(base_url=portal.base_url, timeout=10.0) as http:
        tokens = http.post(
            "/oauth2/token",
            data={
                "grant_type": "authorization_code",
                "code": received["code"],
                "code_verifier": verifier,
                "redirect_uri": callback,
            },
            auth=(client_id, secret),
        )
    assert tokens.status_code == 200, tokens.text
    assert tokens.json()["token_type"].lower() == "bearer"

    # The verification link's token never reached the server's log (request log on: it
    # names the route's template, never the path as sent).
    token = link.rsplit("/", 1)[1]
    log = portal.log.read_text()
    assert "/portal/verify/" in log
    assert token not in log


def _post_as_form(browser: Any, action: str, fields: dict[str, str]) -> None:
    """Sends a form post from the page the browser shows, as a forged page would (the
    script runs through WebDriver: the page's CSP does not govern it)."""
    browser.execute_script(
        """
        const form = document.createElement("form");
        form.method = "post";
        form.action = arguments[0];
        for (const [name, value] of Object.entries(arguments[1])) {
          const input = document.createElement("input");
          input.type = "hidden"; input.name = name; input.value = value;
          form.appendChild(input);
        }
        document.body.appendChild(form);
        form.submit();
        """,
        action,
        fields,
    )


def _csrf(browser: Any) -> str:
    from selenium.webdriver.common.by import By

    value: str = browser.find_element(By.CSS_SELECTOR, "input[name=csrf]").get_attribute("value")
    return value


def test_another_developer_cannot_reach_an_app_and_a_viewer_sees_no_secret(
    browser: Any, portal: Portal, callbacks: Callbacks
) -> None:
    from selenium.webdriver.common.by import By

    owner, other, viewer = (f"{who}-{secrets.token_hex(3)}" for who in ("own", "oth", "vie"))
    for name in (owner, other, viewer):
        portal.account(name)
    portal_sign_in(browser, portal, owner)
    client_id, secret = register_web_app(
        browser, portal, "Owner's App", redirect_uri=f"{callbacks.base_url}/cb/owner"
    )
    app = f"{portal.base_url}/portal/apps/{client_id}"
    # Every page of the app, as its owner, through axe.
    for page, element, shot in (
        ("", "client-header", "portal-app"),
        ("/edit", "client_name", "portal-app-edit"),
        ("/secrets", "add-secret", "portal-app-secrets"),
        ("/owners", "add-owner", "portal-app-owners"),
        ("/delete", "confirm_name", "portal-app-delete"),
    ):
        browser.get(f"{app}{page}")
        wait_for(browser, element)
        check_page(browser, shot)
    browser.get(f"{app}/owners")
    fill(browser, email=f"{viewer}@example.com")
    click(browser, "role-2")  # viewer
    click(browser, "add-owner")
    wait_for(browser, "notice")
    assert viewer in browser.find_element(By.ID, "owners").text
    browser.get(f"{portal.base_url}/portal/apps")
    wait_for(browser, "apps")
    check_page(browser, "portal-apps")
    secret_ids = [
        s["id"] for s in portal.admin("GET", f"/admin/v1/clients/{client_id}/secrets")["items"]
    ]

    # Another developer: every URL of the app is the page of an unknown one.
    browser.execute_cdp_cmd("Network.clearBrowserCookies", {})
    portal_sign_in(browser, portal, other, then="/portal/apps")
    wait_for(browser, "no-apps")
    for page in ("", "/edit", "/secrets", "/owners", "/delete"):
        browser.get_log("browser")  # only this page's load is checked
        browser.get(f"{app}{page}")
        heading = wait_for(browser, "error")
        assert "no such page" in heading.text.lower()
        assert "Owner's App" not in browser.page_source
        check_page(browser, f"portal-not-found{page.replace('/', '-')}")
    # And by form post, with their own valid CSRF token: rotate, edit, delete.
    for action, fields in (
        (f"/portal/apps/{client_id}/secrets", {}),
        (f"/portal/apps/{client_id}/edit", {"client_name": "Taken over"}),
        (f"/portal/apps/{client_id}/delete", {"confirm_name": "Owner's App"}),
    ):
        browser.get(f"{portal.base_url}/portal/apps/new")  # a page of their own with a form
        token = _csrf(browser)
        _post_as_form(browser, action, {"csrf": token, **fields})
        wait_for(browser, "error")
        assert "no such page" in browser.find_element(By.ID, "error").text.lower()
    record = portal.admin("GET", f"/admin/v1/clients/{client_id}")
    assert record["metadata"]["client_name"] == "Owner's App"
    after = portal.admin("GET", f"/admin/v1/clients/{client_id}/secrets")["items"]
    assert [s["id"] for s in after] == secret_ids

    # The viewer sees the app, never a secret.
    browser.execute_cdp_cmd("Network.clearBrowserCookies", {})
    portal_sign_in(browser, portal, viewer, then=f"/portal/apps/{client_id}")
    wait_for(browser, "viewer-note")
    browser.get_log("browser")  # the forged posts' 404s, above
    browser.refresh()
    wait_for(browser, "viewer-note")
    check_page(browser, "portal-app-viewer")
    seen = browser.page_source
    browser.get(f"{app}/owners")
    wait_for(browser, "owners")
    seen += browser.page_source
    assert not browser.find_elements(By.ID, "add-owner")
    assert secret not in seen
    assert all(secret_id not in seen for secret_id in secret_ids)
    browser.get(f"{app}/secrets")
    wait_for(browser, "error")
    assert "viewers" in browser.find_element(By.ID, "error").text
    assert all(secret_id not in browser.page_source for secret_id in secret_ids)


def test_the_keys_page_passes_axe_in_each_of_its_states(
    browser: Any, portal: Portal, callbacks: Callbacks
) -> None:
    """The portal's Keys page (web/portal/app_keys.py) as the console's Keys tab is
    checked: without keys, with a key table and the TLS subject, with the signing alg
    select, and with a refused JWK Set beside its input and in the summary."""
    owner = f"keys-{secrets.token_hex(3)}"
    portal.account(owner)
    portal_sign_in(browser, portal, owner)
    client_id, _ = register_web_app(
        browser, portal, "Keyed App", redirect_uri=f"{callbacks.base_url}/cb/keys"
    )
    keys = f"{portal.base_url}/portal/apps/{client_id}/keys"
    any_revision = {"If-Match": "*"}
    jwks = {"keys": [ec_jwk("axe-ec", alg="ES256"), rsa_jwk("axe-rsa")]}
    states = [
        ({}, "no-keys", "portal-app-keys-empty"),
        (
            {
                "token_endpoint_auth_method": "tls_client_auth",
                "tls_client_auth_subject_dn": "CN=keyed,O=Example",
                "jwks": jwks,
            },
            "tls-subject",
            "portal-app-keys-tls",
        ),
        (
            {
                "token_endpoint_auth_method": "private_key_jwt",
                "tls_client_auth_subject_dn": None,
                "token_endpoint_auth_signing_alg": "ES256",
            },
            "token_endpoint_auth_signing_alg",
            "portal-app-keys",
        ),
    ]
    for patch, element, shot in states:
        if patch:
            portal.admin("PATCH", f"/admin/v1/clients/{client_id}", patch, any_revision)
        browser.get(keys)
        wait_for(browser, element)
        check_page(browser, shot)
        # Stricter than check_page: not even a moderate violation (heading-order was one).
        assert not (found := axe_violations(browser)), describe(found)
    assert "axe-ec" in wait_for(browser, "keys").text
    # The refusal: the message beside the JWK Set, and the summary.
    field = wait_for(browser, "jwks")
    field.clear()
    field.send_keys('{"keys": [ not json')
    click(browser, "save-keys")
    wait_for(browser, "error-summary")
    assert "not valid JSON" in wait_for(browser, "jwks-error").text
    check_page(browser, "portal-app-keys-error")
    assert not (found := axe_violations(browser)), describe(found)


def test_the_console_invitations_page_and_the_sign_up_pages_pass_axe(
    browser: Any, portal: Portal
) -> None:
    from selenium.webdriver.common.by import By

    admin = f"adm-{secrets.token_hex(3)}"
    portal.account(admin, role="admin")
    portal_sign_in(browser, portal, admin, then="/console/invitations")
    browser.get(f"{portal.base_url}/console/invitations")
    wait_for(browser, "email")
    check_page(browser, "console-invitations")
    fill(browser, email="not an address")
    click(browser, "send-invitation")
    wait_for(browser, "error-summary")
    check_page(browser, "console-invitations-error")
    fill(browser, email=f"inv-{secrets.token_hex(3)}@example.com")
    click(browser, "send-invitation")
    wait_for(browser, "notice")
    assert browser.find_elements(By.ID, "invitations")
    check_page(browser, "console-invitations-sent")
    # The sign-up form's errors.
    browser.execute_cdp_cmd("Network.clearBrowserCookies", {})
    browser.get(f"{portal.base_url}/portal/signup")
    wait_for(browser, "email")
    fill(browser, email="nope", username="bad name", password="short")
    click(browser, "sign-up")
    wait_for(browser, "error-summary")
    check_page(browser, "portal-signup-errors")
