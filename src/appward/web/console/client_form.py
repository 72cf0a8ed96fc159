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

from appward.clients.auth_methods import AUTH_METHODS
from appward.clients.metadata import ClientMetadata
from appward.clients.models import Client
from appward.clients.service import GRANT_TYPES, metadata_of
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
# The tls_client_auth_* fields are left out: they only go with tls_client_auth, which
# this server does not offer (clients/auth_methods.py), so no value could be saved.
CREDENTIALS = ("token_endpoint_auth_method", "jwks_uri", "jwks")
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
CHECKBOXES = frozenset({"rotate_refresh_tokens", "require_pkce", "skip_consent"})
# Yes, no, or "" for the default the validator derives (refresh tokens follow the
# refresh_token grant type).
YES_NO_DEFAULT = frozenset({"issue_refresh_tokens"})
JSON_FIELDS = frozenset({"jwks"})
# RFC 7591 §2.2's client_name#<tag> members, one "tag: name" per line.
LOCALIZED = frozenset({"client_name_localized"})
GRANT_TYPE_FIELD = "grant_type."
WHOLE_NUMBER = re.compile(r"-?[0-9]{1,15}")

AUTH_METHOD_OPTIONS = [
    ("client_secret_basic", "client_secret_basic: a secret, sent in the Authorization header"),
    ("client_secret_post", "client_secret_post: a secret, sent in the request body"),
    ("none", "none: a public client (a native or single-page app) with no secret"),
    ("private_key_jwt", "private_key_jwt: a JWT signed with one of the client's keys"),
]
assert [value for value, _ in AUTH_METHOD_OPTIONS] == list(AUTH_METHODS), "one per method"
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
        else:
            values[name] = form.get(name, "")
    return values


def metadata_from(values: FormValues, *, patch: bool) -> dict[str, Any]:
    """Returns the metadata (plus ``owner``) the values stand for. An empty input is an
    omitted field when creating, and a reset to its default (null) in a ``patch``."""
    data: dict[str, Any] = {}
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
