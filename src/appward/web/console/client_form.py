"""The console's client metadata form: which fields it has, grouped as a person thinks
of them (identity, redirect URIs, credentials, policy), and the translation between a
posted form and the metadata dict ClientService validates. No rule lives here: every
value goes to the domain as typed (a lifetime that is not a number stays text, for the
validator to name), and the domain's field errors come back beside each input.

A form field is one input: text inputs, textareas of one value per line (redirect URIs,
contacts), checkboxes (a boolean each; the grant types one checkbox per grant type, named
``grant_type.<name>`` so no parameter repeats: web/forms.read_form refuses that), and
selects. ``FormValues`` is what the inputs show: text as typed, booleans, a list of grant
types, so a refused form is shown again exactly as it was sent.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from appward.clients.auth_methods import AUTH_METHODS, signing_algs_supported
from appward.clients.metadata import TLS_FIELDS, ClientMetadata
from appward.clients.models import Client
from appward.clients.service import GRANT_TYPES, metadata_of
from appward.web import keys_tab
from appward.web.forms import parse_json

FormValues = dict[str, Any]

IDENTITY = (
    "client_name",
    "client_name_localized",
    "logo_uri",
    "client_uri",
    "policy_uri",
    "tos_uri",
    "contacts",
    "owner",
    "software_id",
    "software_version",
)
REDIRECTS = ("application_type", "redirect_uris")
# The TLS subject is one select (which tls_client_auth_* field) and one value, so exactly
# one of the five is set (RFC 8705 §2.1.2); metadata_from spreads it over the five. The
# inputs are the Keys tab's (web/keys_tab.py).
TLS_FIELD = keys_tab.TLS_FIELD
TLS_VALUE = keys_tab.TLS_VALUE
CREDENTIALS = (
    "token_endpoint_auth_method",
    "jwks_uri",
    "jwks",
    "token_endpoint_auth_signing_alg",
    TLS_FIELD,
    TLS_VALUE,
    "tls_client_certificate_bound_access_tokens",
)
POLICY = (
    "grant_types",
    "scope",
    "access_token_ttl",
    "refresh_token_ttl",
    "refresh_token_absolute_ttl",
    "issue_refresh_tokens",
    "rotate_refresh_tokens",
    "require_pkce",
    "skip_consent",
)
# The Settings tab edits the client's metadata; its token policy is the Policy tab's.
SETTINGS_FIELDS = (*IDENTITY, *REDIRECTS, *CREDENTIALS)
CREATE_FIELDS = (*SETTINGS_FIELDS, *POLICY)

LINES = frozenset({"redirect_uris", "contacts"})
INTEGERS = frozenset({"access_token_ttl", "refresh_token_ttl", "refresh_token_absolute_ttl"})
CHECKBOXES = frozenset(
    {
        "rotate_refresh_tokens",
        "require_pkce",
        "skip_consent",
        "tls_client_certificate_bound_access_tokens",
    }
)
# Yes, no, or "" for the default the validator derives (refresh tokens follow the
# refresh_token grant type).
YES_NO_DEFAULT = frozenset({"issue_refresh_tokens"})
JSON_FIELDS = frozenset({"jwks"})
# RFC 7591 §2.2's client_name#<tag> members, one "tag: name" per line.
LOCALIZED = frozenset({"client_name_localized"})
GRANT_TYPE_FIELD = "grant_type."
WHOLE_NUMBER = re.compile(r"-?[0-9]{1,15}")

AUTH_METHOD_TEXTS = {
    "client_secret_basic": "a secret, sent in the Authorization header",
    "client_secret_post": "a secret, sent in the request body",
    "client_secret_jwt": "a JWT signed with the secret (HMAC); the secret is kept encrypted",
    "private_key_jwt": "a JWT signed with one of the client's keys (JWK Set or its URL)",
    "tls_client_auth": "a TLS client certificate from a trusted CA, naming the subject below",
    "self_signed_tls_client_auth": "a self-signed TLS client certificate of the JWK Set",
    "none": "a public client (a native or single-page app) with no secret",
}
# Exactly the registered methods: one the server cannot check is never offered.
AUTH_METHOD_OPTIONS = [
    (name, f"{name}: {AUTH_METHOD_TEXTS[name]}" if name in AUTH_METHOD_TEXTS else name)
    for name in AUTH_METHODS
]
SIGNING_ALG_OPTIONS = [
    ("", "Any the method allows"),
    *((alg, alg) for alg in signing_algs_supported()),
]
# console/clients_form.html reads the options as an attribute of this module
# (form.TLS_FIELD_OPTIONS), so the name must stay here: an assignment, not an import that
# nothing in Python uses (which ruff's F401 fix removes, and the page breaks).
TLS_FIELD_OPTIONS = keys_tab.TLS_FIELD_OPTIONS
APPLICATION_TYPE_OPTIONS = [
    ("web", "Web: a server-side application"),
    ("native", "Native: a desktop or mobile application"),
]
YES_NO_DEFAULT_OPTIONS = [
    ("", "Default: when the refresh_token grant type is chosen"),
    ("true", "Yes"),
    ("false", "No"),
]
GRANT_TYPE_OPTIONS = [
    ("authorization_code", "Authorization code (a user signs in and consents)"),
    ("refresh_token", "Refresh token (with the authorization code grant)"),
    ("client_credentials", "Client credentials (the client acts on its own behalf)"),
]
assert {value for value, _ in GRANT_TYPE_OPTIONS} == set(GRANT_TYPES), "one per grant type"


def _defaults() -> FormValues:
    """The create form's values before anything is typed: the validator's own defaults."""
    fields = ClientMetadata.model_fields
    return {
        **dict.fromkeys(CREATE_FIELDS, ""),
        "contacts": "",
        "redirect_uris": "",
        "application_type": fields["application_type"].default,
        "token_endpoint_auth_method": fields["token_endpoint_auth_method"].default,
        "grant_types": list(fields["grant_types"].get_default(call_default_factory=True)),
        "rotate_refresh_tokens": fields["rotate_refresh_tokens"].default,
        "require_pkce": fields["require_pkce"].default,
        "skip_consent": fields["skip_consent"].default,
        "tls_client_certificate_bound_access_tokens": False,
        TLS_FIELD: TLS_FIELDS[0],
    }


def new_client_values() -> FormValues:
    return _defaults()


def client_values(client: Client) -> FormValues:
    """Returns what the Settings inputs show for ``client`` as stored."""
    current = metadata_of(client)
    values: FormValues = {}
    for name in SETTINGS_FIELDS:
        value = client.owner if name == "owner" else current.get(name)
        values[name] = _shown(name, value)
    subject = next(((f, current[f]) for f in TLS_FIELDS if current.get(f) is not None), None)
    values[TLS_FIELD] = subject[0] if subject else TLS_FIELDS[0]
    values[TLS_VALUE] = str(subject[1]) if subject else ""
    return values


def _shown(name: str, value: Any) -> Any:
    if name in CHECKBOXES:
        return bool(value)
    if name == "grant_types":
        return list(value or [])
    if value is None:
        return ""
    if name in LINES:
        return "\n".join(value)
    if name in LOCALIZED:
        return "\n".join(f"{tag}: {text}" for tag, text in value.items())
    if name in JSON_FIELDS:
        return json.dumps(value, indent=2)
    if name in YES_NO_DEFAULT:
        return "true" if value else "false"
    return str(value)


def posted_values(form: Mapping[str, str], fields: tuple[str, ...]) -> FormValues:
    """Returns the inputs as the form sent them (an unchecked checkbox is not sent)."""
    values: FormValues = {}
    for name in fields:
        if name in CHECKBOXES:
            values[name] = name in form
        elif name == "grant_types":
            values[name] = [g for g in GRANT_TYPES if f"{GRANT_TYPE_FIELD}{g}" in form]
        elif name == TLS_FIELD:
            values[name] = form.get(name, TLS_FIELDS[0])
        else:
            values[name] = form.get(name, "")
    return values


def metadata_from(values: FormValues, *, patch: bool) -> dict[str, Any]:
    """Returns the metadata (plus ``owner``) the values stand for. An empty input is an
    omitted field when creating, and a reset to its default (null) in a ``patch``."""
    data: dict[str, Any] = {}
    values = dict(values)
    if TLS_FIELD in values:
        chosen, text = str(values.pop(TLS_FIELD)), str(values.pop(TLS_VALUE, "")).strip()
        if patch:
            data.update(dict.fromkeys(TLS_FIELDS))
        if text:
            # An unknown field name goes on as itself, for the validator to refuse.
            data[chosen if chosen in TLS_FIELDS else TLS_FIELD] = text
    for name, value in values.items():
        converted = _converted(name, value)
        if converted is not None:
            data[name] = converted
        elif patch:
            data[name] = None
    return data


def _converted(name: str, value: Any) -> Any:
    if name in CHECKBOXES:
        return bool(value)
    if name == "grant_types":
        return list(value)
    if not isinstance(value, str) or value == "":
        return None
    if name in LINES:
        return [line.strip() for line in value.splitlines() if line.strip()]
    if name in LOCALIZED:
        names: dict[str, str] = {}
        for line in value.splitlines():
            tag, colon, text = line.partition(":")
            if line.strip():
                # A line without "tag:" has the empty tag, which the validator refuses.
                names[tag.strip() if colon else ""] = (text if colon else line).strip()
        return names
    if name in INTEGERS:
        text = value.strip()
        # Anything else is passed on as typed, for the validator to refuse by name.
        return int(text) if WHOLE_NUMBER.fullmatch(text) else value
    if name in YES_NO_DEFAULT:
        return {"true": True, "false": False}.get(value, value)
    if name in JSON_FIELDS:
        try:
            return parse_json(value.encode())
        except ValueError:
            return value  # not JSON: the validator says it must be an object
    return value
