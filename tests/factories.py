"""Test data with sensible defaults, so a test states only what matters to it."""

from __future__ import annotations

import base64
from typing import Any

from appward.clients.snapshot import ClientSnapshot

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


def client_snapshot(**changes: Any) -> ClientSnapshot:
    """A confidential client_credentials client as the policy module sees it."""
    fields: dict[str, Any] = {
        "pk": 1,
        "client_id": "c1",
        "status": "active",
        "token_endpoint_auth_method": "client_secret_basic",
        "grant_types": ("client_credentials",),
        "scopes": (),
        "redirect_uris": (),
        "access_token_ttl": 600,
        "refresh_token_ttl": 600,
        "refresh_token_absolute_ttl": 3600,
        "issue_refresh_tokens": False,
        "rotate_refresh_tokens": True,
        "require_pkce": True,
    }
    fields.update(changes)
    for name in ("grant_types", "scopes", "redirect_uris"):
        fields[name] = tuple(fields[name])
    return ClientSnapshot(**fields)
