"""web/console/client_form.py: the posted form as metadata, typed values passed on as
typed for the validator to name."""

from __future__ import annotations

from appward.clients.metadata import TLS_FIELDS
from appward.web import keys_tab
from appward.web.console import client_form
from appward.web.console.client_form import (
    CREATE_FIELDS,
    SETTINGS_FIELDS,
    metadata_from,
    new_client_values,
    posted_values,
)


def test_a_create_form_leaves_empty_inputs_out() -> None:
    values = posted_values(
        {
            "client_name": "App",
            "redirect_uris": " https://a.example/cb \r\n\r\nhttps://a.example/two",
            "grant_type.authorization_code": "on",
            "grant_type.refresh_token": "on",
            "access_token_ttl": " 300 ",
            "issue_refresh_tokens": "false",
            "require_pkce": "on",
        },
        CREATE_FIELDS,
    )
    assert metadata_from(values, patch=False) == {
        "client_name": "App",
        "redirect_uris": ["https://a.example/cb", "https://a.example/two"],
        "grant_types": ["authorization_code", "refresh_token"],
        "access_token_ttl": 300,
        "issue_refresh_tokens": False,
        "require_pkce": True,
        "rotate_refresh_tokens": False,
        "skip_consent": False,
        "tls_client_certificate_bound_access_tokens": False,
    }


def test_a_settings_patch_resets_emptied_inputs() -> None:
    data = metadata_from(posted_values({"client_name": "App"}, SETTINGS_FIELDS), patch=True)
    assert data["client_name"] == "App"
    assert data["owner"] is None
    assert data["logo_uri"] is None
    assert data["jwks"] is None
    assert "grant_types" not in data  # the Policy tab's


def test_values_that_are_not_what_they_should_be_go_on_as_typed() -> None:
    values = posted_values(
        {
            "access_token_ttl": "ten",
            "refresh_token_ttl": "9" * 5000,
            "issue_refresh_tokens": "maybe",
            "jwks": "[" * 5000,
        },
        CREATE_FIELDS,
    )
    data = metadata_from(values, patch=False)
    assert data["access_token_ttl"] == "ten"
    assert data["refresh_token_ttl"] == "9" * 5000
    assert data["issue_refresh_tokens"] == "maybe"
    assert data["jwks"] == "[" * 5000


def test_the_create_form_starts_from_the_validators_defaults() -> None:
    values = new_client_values()
    assert values["grant_types"] == ["authorization_code"]
    assert values["token_endpoint_auth_method"] == "client_secret_basic"
    assert values["require_pkce"] is True
    assert values["skip_consent"] is False


def test_the_tls_subject_is_one_field_of_five() -> None:
    form = {"tls_subject_field": "tls_client_auth_san_dns", "tls_subject_value": " a.example "}
    data = metadata_from(posted_values(form, SETTINGS_FIELDS), patch=True)
    assert data["tls_client_auth_san_dns"] == "a.example"
    for other in ("subject_dn", "san_uri", "san_ip", "san_email"):
        assert data[f"tls_client_auth_{other}"] is None
    assert "tls_subject_field" not in data
    assert "tls_subject_value" not in data
    created = metadata_from(posted_values({"tls_subject_value": ""}, CREATE_FIELDS), patch=False)
    assert not any(name.startswith("tls_client_auth_") for name in created)


def test_the_tls_subject_options_are_the_keys_tabs_one_list_in_the_validators_order():
    """One definition: the create and Settings forms offer the Keys tab's options (which
    console/clients_form.html reads as form.TLS_FIELD_OPTIONS)."""
    assert client_form.TLS_FIELD_OPTIONS is keys_tab.TLS_FIELD_OPTIONS
    assert [name for name, _ in keys_tab.TLS_FIELD_OPTIONS] == list(TLS_FIELDS)
    assert all(label for _, label in keys_tab.TLS_FIELD_OPTIONS)
