"""Test data with sensible defaults, so a test states only what matters to it."""

from __future__ import annotations

import base64
from typing import Any

from appward.audit import Actor

# Who a test's own setup acts as, in the audit log.
SETUP_ACTOR = Actor("test:setup")

WEB_APP: dict[str, Any] = {
    "client_name": "Web App",
    "redirect_uris": ["https://app.example.com/callback"],
    "grant_types": ["authorization_code", "refresh_token"],
    "token_endpoint_auth_method": "client_secret_basic",
}

SERVICE: dict[str, Any] = {
    "client_name": "Billing Service",
    "grant_types": ["client_credentials"],
    "token_endpoint_auth_method": "client_secret_basic",
}

NATIVE_APP: dict[str, Any] = {
    "client_name": "Phone App",
    "application_type": "native",
    "redirect_uris": ["com.example.app:/oauth2redirect", "http://127.0.0.1/callback"],
    "grant_types": ["authorization_code", "refresh_token"],
    "token_endpoint_auth_method": "none",
}


def metadata(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """Returns ``base`` with ``changes`` applied; a change to None removes the field."""
    data = {**base, **changes}
    return {k: v for k, v in data.items() if v is not None}


def basic(client_id: str, secret: str) -> dict[str, str]:
    raw = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}
