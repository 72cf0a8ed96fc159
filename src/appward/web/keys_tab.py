"""A client's Keys tab, as the console and the portal both show it: the registered keys
(kid, type, alg/use, last use to authenticate), the jwks_uri, the TLS subject a
certificate must name and whether tokens are bound to it, and the form that edits them.

What the tab offers follows the method's descriptor (clients/auth_methods.py), never a
method name: a signing alg select for a method with ``signing_algs``, the TLS subject for
one that ``uses_certificate``. The form is a merge patch for ClientService.update (the
metadata validator holds every rule); the TLS subject is one select (which field) plus
one value, spread over the five tls_client_auth_* fields so exactly one is set.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import jwt

from appward.auth.client_keys import key_label
from appward.clients import auth_methods
from appward.clients.metadata import TLS_FIELDS
from appward.clients.models import Client
from appward.errors import AppwardError, FieldError, InvalidInput
from appward.web.forms import parse_json
from appward.web.templates import field_errors

JWKS = "jwks"
JWKS_URI = "jwks_uri"
SIGNING_ALG = "token_endpoint_auth_signing_alg"
BOUND_TOKENS = "tls_client_certificate_bound_access_tokens"
TLS_FIELD = "tls_subject_field"
TLS_VALUE = "tls_subject_value"
INPUTS = (JWKS, JWKS_URI, SIGNING_ALG, TLS_FIELD, TLS_VALUE, BOUND_TOKENS)
# What each RFC 8705 §2.1.2 subject field names, for the select of the Keys tab and of
# the console's client form (web/console/client_form.py takes these options from here).
TLS_FIELD_LABELS = {
    "tls_client_auth_subject_dn": "Subject distinguished name (RFC 4514)",
    "tls_client_auth_san_dns": "Subject alternative name: DNS name",
    "tls_client_auth_san_uri": "Subject alternative name: URI",
    "tls_client_auth_san_ip": "Subject alternative name: IP address",
    "tls_client_auth_san_email": "Subject alternative name: email address",
}
# The validator's fields, in its order: a field without a label fails at import.
TLS_FIELD_OPTIONS = [(name, TLS_FIELD_LABELS[name]) for name in TLS_FIELDS]
STALE = (
    "Someone else changed this client after you opened the page, so nothing was saved. "
    "Your edits are kept below; save again to apply them over the other change."
)


@dataclass(frozen=True, slots=True)
class KeyRow:
    """One registered public key as the tab lists it (never more than public members)."""

    label: str
    key_type: str  # "RSA 2048", "EC P-256", "OKP Ed25519"
    alg: str | None
    use: str | None
    last_used_at: datetime | None


def key_type(jwk: Mapping[str, Any]) -> str:
    """Returns a key's type as a reader names it: kty with its curve or RSA size."""
    kty = str(jwk.get("kty", "?"))
    if kty == "RSA":
        try:
            size = jwt.PyJWK.from_dict(dict(jwk)).key.key_size
        except (jwt.exceptions.PyJWKError, jwt.exceptions.InvalidKeyError, ValueError):
            return kty
        return f"RSA {size}"
    crv = jwk.get("crv")
    return f"{kty} {crv}" if isinstance(crv, str) else kty


def key_rows(client: Client, uses: Mapping[str, datetime]) -> list[KeyRow]:
    """Returns the client's registered keys (its jwks; a jwks_uri's keys are fetched at
    use, not by a page) with when each last authenticated it."""
    if client.jwks is None:
        return []
    rows = []
    for jwk in client.jwks.get("keys", []):
        label = key_label(jwk)
        alg, use = jwk.get("alg"), jwk.get("use")
        rows.append(
            KeyRow(
                label,
                key_type(jwk),
                alg if isinstance(alg, str) else None,
                use if isinstance(use, str) else None,
                uses.get(label),
            )
        )
    return rows


def tls_subject(client: Client) -> tuple[str, str] | None:
    """Returns the registered TLS subject field and its value, if one is set."""
    for name in TLS_FIELDS:
        value = getattr(client, name)
        if value is not None:
            return name, str(value)
    return None


def method_of(client: Client) -> auth_methods.ClientAuthMethod | None:
    return auth_methods.AUTH_METHODS.get(client.token_endpoint_auth_method)


def stored_values(client: Client) -> dict[str, Any]:
    """Returns what the Keys form's inputs show for the client as stored."""
    subject = tls_subject(client)
    return {
        JWKS: json.dumps(client.jwks, indent=2) if client.jwks is not None else "",
        JWKS_URI: client.jwks_uri or "",
        SIGNING_ALG: client.token_endpoint_auth_signing_alg or "",
        TLS_FIELD: subject[0] if subject else TLS_FIELDS[0],
        TLS_VALUE: subject[1] if subject else "",
        BOUND_TOKENS: bool(client.tls_client_certificate_bound_access_tokens),
        "revision": str(client.revision),
    }


def posted_values(form: Mapping[str, str]) -> dict[str, Any]:
    """Returns the inputs as posted, to show them again if refused."""
    return {
        **{name: form.get(name, "") for name in (JWKS, JWKS_URI, SIGNING_ALG, TLS_VALUE)},
        TLS_FIELD: form.get(TLS_FIELD, TLS_FIELDS[0]),
        BOUND_TOKENS: BOUND_TOKENS in form,
        "revision": form.get("revision", ""),
    }


def patch_of(values: Mapping[str, Any], client: Client) -> dict[str, Any]:
    """Returns the merge patch the form asks for: an empty input resets its field. The
    signing alg and TLS subject are only in the patch when the client's method has them
    (the form offers them only then), so a hidden input never resets a field.

    Raises InvalidInput when the JWK Set is not JSON."""
    jwks_text = str(values[JWKS]).strip()
    jwks: Any = None
    if jwks_text:
        try:
            jwks = parse_json(jwks_text.encode())
        except ValueError:
            raise InvalidInput(
                "the JWK Set is not valid JSON",
                fields=[FieldError(JWKS, 'is not valid JSON: a JWK Set is {"keys": [...]}')],
            ) from None
    patch: dict[str, Any] = {
        JWKS: jwks,
        JWKS_URI: str(values[JWKS_URI]).strip() or None,
        BOUND_TOKENS: bool(values[BOUND_TOKENS]),
    }
    method = method_of(client)
    if method is not None and method.signing_algs:
        patch[SIGNING_ALG] = str(values[SIGNING_ALG]) or None
    if method is not None and method.names_subject:
        chosen = str(values[TLS_FIELD])
        text = str(values[TLS_VALUE]).strip()
        # An unknown field name is passed on as itself, for the validator to refuse.
        patch.update(dict.fromkeys(TLS_FIELDS))
        patch[chosen if chosen in TLS_FIELDS else TLS_FIELD] = text or None
    return patch


def errors_by_input(exc: AppwardError) -> dict[str, str]:
    """Returns the domain's messages keyed by the form's inputs: a TLS field's beside the
    subject value; one about a field the form has no input for, at the top, named."""
    errors: dict[str, str] = {}
    for field, message in field_errors(exc).items():
        name = TLS_VALUE if field in TLS_FIELDS else field
        if name and name not in INPUTS:
            name, message = "", f"{field}: {message}"
        errors[name] = f"{errors[name]}; {message}" if name in errors else message
    return errors


def tab_context(
    client: Client,
    uses: Mapping[str, datetime],
    values: Mapping[str, Any],
    errors: Mapping[str, str],
) -> dict[str, Any]:
    """Returns what keys_tab.html needs: the keys, the method's needs, the form."""
    method = method_of(client)
    algs = method.signing_algs if method is not None else ()
    subject = tls_subject(client)
    return {
        "keys": key_rows(client, uses),
        "method": method,
        "method_name": client.token_endpoint_auth_method,
        "uses_keys": method is not None and method.uses_keys,
        "uses_certificate": method is not None and method.uses_certificate,
        "names_subject": method is not None and method.names_subject,
        "alg_options": [("", "Any the method allows"), *((alg, alg) for alg in algs)],
        "tls_options": TLS_FIELD_OPTIONS,
        "tls_subject": (TLS_FIELD_LABELS[subject[0]], subject[1]) if subject else None,
        "values": values,
        "errors": errors,
    }
