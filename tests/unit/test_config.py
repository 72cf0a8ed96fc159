"""Settings: validation at start, environment variables, and the narrow values passed down."""

from __future__ import annotations

import os

import pytest
from cryptography.fernet import Fernet
from pydantic import ValidationError

from appward.config import (
    Argon2Params,
    InvalidConfiguration,
    LifetimeBounds,
    SecretPolicy,
    Settings,
    load_settings,
)

HTTPS_ISSUER = "https://auth.example.com"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings read APPWARD_* variables: start each test from none."""
    for name in list(os.environ):
        if name.startswith("APPWARD_"):
            monkeypatch.delenv(name)


def production(**overrides: object) -> dict[str, object]:
    return {
        "environment": "production",
        "issuer": HTTPS_ISSUER,
        "key_encryption_key": Fernet.generate_key().decode(),
        "session_secret": "s" * 32,
        **overrides,
    }


def exit_message(**overrides: object) -> str:
    with pytest.raises(SystemExit) as info:
        load_settings(**overrides)
    return str(info.value.code)


# --- defaults ---


def test_defaults_are_a_working_development_setup():
    settings = Settings()
    assert settings.environment == "development"
    assert settings.issuer == "http://127.0.0.1:8000"
    assert settings.key_encryption_key is None
    assert settings.trust_forwarded_for is False


def test_settings_are_frozen():
    settings = Settings()
    with pytest.raises(ValidationError):
        settings.issuer = HTTPS_ISSUER  # type: ignore[misc]


def test_every_setting_is_documented():
    undocumented = [n for n, f in Settings.model_fields.items() if not f.description]
    assert undocumented == []


# --- issuer (RFC 8414 §2) ---


@pytest.mark.parametrize(
    ("issuer", "stored"),
    [
        ("https://auth.example.com/", "https://auth.example.com"),
        ("https://auth.example.com//", "https://auth.example.com"),
        ("https://auth.example.com/tenant/", "https://auth.example.com/tenant"),
        ("https://auth.example.com", "https://auth.example.com"),
        ("http://127.0.0.1:8000/", "http://127.0.0.1:8000"),
    ],
)
def test_issuer_trailing_slash_is_stripped(issuer, stored):
    assert Settings(issuer=issuer).issuer == stored


@pytest.mark.parametrize(
    "issuer",
    [
        "auth.example.com",
        "ftp://auth.example.com",
        "//auth.example.com",
        "https://auth.example.com?tenant=1",
        "https://auth.example.com#top",
        "",
    ],
)
def test_bad_issuer_is_refused(issuer):
    """RFC 8414 §2: the issuer is an https URL with no query or fragment components."""
    with pytest.raises(ValidationError, match="issuer"):
        Settings(issuer=issuer)


@pytest.mark.parametrize("issuer", ["https://", "http://", "https:///"])
def test_issuer_without_a_host_is_refused(issuer):
    """RFC 8414 §2: the issuer identifier is a URL."""
    with pytest.raises(ValidationError):
        Settings(issuer=issuer)


# --- environment and production ---


@pytest.mark.parametrize("environment", ["staging", "Production", "prod", ""])
def test_unknown_environment_is_refused(environment):
    with pytest.raises(ValidationError, match="environment"):
        Settings(environment=environment)


def test_production_with_a_key_and_an_https_issuer_is_accepted():
    settings = Settings(**production())
    assert settings.environment == "production"
    assert settings.issuer == HTTPS_ISSUER


def test_production_requires_a_key_encryption_key():
    with pytest.raises(
        ValidationError, match="APPWARD_KEY_ENCRYPTION_KEY is required in production"
    ):
        Settings(**production(key_encryption_key=None))


@pytest.mark.parametrize("issuer", ["http://auth.example.com", "http://127.0.0.1:8000"])
def test_production_requires_an_https_issuer(issuer):
    with pytest.raises(ValidationError, match="APPWARD_ISSUER must be https in production"):
        Settings(**production(issuer=issuer))


def test_development_runs_without_a_key_encryption_key_on_http():
    assert Settings(issuer="http://127.0.0.1:9000").key_encryption_key is None


# --- lifetime bounds ---


@pytest.mark.parametrize(
    "overrides",
    [
        {"access_token_ttl_min": 600, "access_token_ttl_default": 300},
        {"access_token_ttl_default": 7200, "access_token_ttl_max": 3600},
        {"access_token_ttl_min": 600, "access_token_ttl_max": 300},
        {"refresh_token_ttl_default": 3601, "refresh_token_ttl_max": 3600},
        {"refresh_token_absolute_ttl_default": 86401, "refresh_token_absolute_ttl_max": 86400},
        {"access_token_ttl_min": 0},
        {"refresh_token_ttl_max": -1},
    ],
    ids=[
        "access-default-below-min",
        "access-default-above-max",
        "access-min-above-max",
        "refresh-default-above-max",
        "absolute-default-above-max",
        "access-min-zero",
        "refresh-max-negative",
    ],
)
def test_inconsistent_ttl_bounds_are_refused(overrides):
    with pytest.raises(ValidationError):
        Settings(**overrides)


def test_equal_ttl_bounds_are_accepted():
    settings = Settings(
        access_token_ttl_min=300, access_token_ttl_default=300, access_token_ttl_max=300
    )
    assert settings.lifetime_bounds.access_token_default == 300


def test_lifetime_bounds_mirror_the_settings():
    settings = Settings(
        access_token_ttl_min=30,
        access_token_ttl_max=900,
        access_token_ttl_default=600,
        refresh_token_ttl_max=7200,
        refresh_token_ttl_default=3600,
        refresh_token_absolute_ttl_max=86400,
        refresh_token_absolute_ttl_default=43200,
    )
    assert settings.lifetime_bounds == LifetimeBounds(
        access_token_min=30,
        access_token_max=900,
        access_token_default=600,
        refresh_token_max=7200,
        refresh_token_default=3600,
        refresh_token_absolute_max=86400,
        refresh_token_absolute_default=43200,
    )


def test_default_lifetime_bounds():
    assert Settings().lifetime_bounds == LifetimeBounds(
        access_token_min=60,
        access_token_max=86400,
        access_token_default=3600,
        refresh_token_max=30 * 86400,
        refresh_token_default=14 * 86400,
        refresh_token_absolute_max=365 * 86400,
        refresh_token_absolute_default=90 * 86400,
    )


# --- argon2 and secrets ---


def test_default_argon2_settings_are_the_default_params():
    assert Settings().argon2 == Argon2Params()


def test_argon2_params_mirror_the_settings():
    settings = Settings(argon2_time_cost=1, argon2_memory_cost_kib=64, argon2_parallelism=1)
    assert settings.argon2 == Argon2Params(1, 64, 1)


@pytest.mark.parametrize(
    "overrides",
    [
        {"argon2_time_cost": 0},
        {"argon2_time_cost": 21},
        {"argon2_memory_cost_kib": 7},
        {"argon2_parallelism": 0},
        {"argon2_parallelism": 17},
        {"max_concurrent_secret_verifications": 0},
        {"client_secret_lifetime": 59},
    ],
)
def test_out_of_range_costs_are_refused(overrides):
    with pytest.raises(ValidationError):
        Settings(**overrides)


def test_secret_policy_mirrors_the_settings():
    settings = Settings(max_concurrent_secret_verifications=8, client_secret_lifetime=86400)
    assert settings.secret_policy == SecretPolicy(
        max_concurrent_verifications=8, default_lifetime=86400
    )
    assert Settings().secret_policy.default_lifetime is None


@pytest.mark.parametrize("schema", ["Appward", "1schema", "app-ward", "a" * 64, "app;drop"])
def test_database_schema_must_be_a_plain_identifier(schema):
    with pytest.raises(ValidationError, match="database_schema"):
        Settings(database_schema=schema)


# --- environment variables ---


def test_settings_are_read_from_appward_variables(monkeypatch):
    monkeypatch.setenv("APPWARD_ISSUER", "https://auth.example.com/")
    monkeypatch.setenv("APPWARD_ACCESS_TOKEN_TTL_MAX", "7200")
    monkeypatch.setenv("APPWARD_TRUST_FORWARDED_FOR", "true")
    settings = Settings()
    assert settings.issuer == HTTPS_ISSUER
    assert settings.lifetime_bounds.access_token_max == 7200
    assert settings.trust_forwarded_for is True


def test_variables_without_the_prefix_are_ignored(monkeypatch):
    monkeypatch.setenv("ISSUER", "https://other.example.com")
    assert Settings().issuer == "http://127.0.0.1:8000"


def test_load_settings_overrides_win_over_variables(monkeypatch):
    monkeypatch.setenv("APPWARD_ISSUER", "https://from-env.example.com")
    assert load_settings(issuer=HTTPS_ISSUER).issuer == HTTPS_ISSUER


def test_load_settings_reads_production_from_variables(monkeypatch):
    for name, value in production().items():
        monkeypatch.setenv(f"APPWARD_{name.upper()}", str(value))
    assert load_settings().environment == "production"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("APPWARD_ISSUER", "ftp://auth.example.com"),
        ("APPWARD_ENVIRONMENT", "staging"),
        ("APPWARD_ARGON2_TIME_COST", "0"),
        ("APPWARD_ARGON2_TIME_COST", "three"),
        ("APPWARD_DATABASE_SCHEMA", "Bad-Schema"),
        ("APPWARD_TRUST_FORWARDED_FOR", "maybe"),
    ],
)
def test_load_settings_exits_naming_the_bad_variable(monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    message = exit_message()
    assert message.startswith(f"invalid configuration: {variable}: ")
    assert "\n" not in message


def test_load_settings_exits_naming_a_bad_override():
    assert exit_message(issuer="auth.example.com").startswith(
        "invalid configuration: APPWARD_ISSUER: "
    )


def test_load_settings_reports_one_line_per_bad_value(monkeypatch):
    monkeypatch.setenv("APPWARD_ISSUER", "ftp://auth.example.com")
    monkeypatch.setenv("APPWARD_ARGON2_PARALLELISM", "0")
    lines = exit_message().splitlines()
    assert len(lines) == 2
    assert {line.split(": ")[1] for line in lines} == {
        "APPWARD_ISSUER",
        "APPWARD_ARGON2_PARALLELISM",
    }


def test_load_settings_exit_for_a_cross_field_problem_states_the_problem():
    message = exit_message(**production(key_encryption_key=None))
    assert message.startswith("invalid configuration: ")
    assert "APPWARD_KEY_ENCRYPTION_KEY is required in production" in message


def test_load_settings_names_the_missing_production_key_variable():
    assert "APPWARD_KEY_ENCRYPTION_KEY" in exit_message(**production(key_encryption_key=None))


def test_production_requires_a_session_secret():
    with pytest.raises(ValidationError, match="APPWARD_SESSION_SECRET is required in production"):
        Settings(**production(session_secret=None))


# --- list settings: parsed once, here ---


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("none", ("none",)),
        ("none,client_secret_post", ("none", "client_secret_post")),
        (" none , client_secret_basic ,none,", ("none", "client_secret_basic")),
        (["client_secret_post", "none"], ("client_secret_post", "none")),
    ],
)
def test_comma_separated_settings_become_tuples(value, parsed):
    assert Settings(dcr_auth_methods=value).dcr_auth_methods == parsed


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("api:read", ("api:read",)),
        ("api:read  api:write\tapi:read", ("api:read", "api:write")),
        ("", ()),
    ],
)
def test_space_separated_settings_become_tuples(value, parsed):
    assert Settings(dcr_scopes=value).dcr_scopes == parsed


def test_list_settings_are_read_from_variables_as_plain_names(monkeypatch):
    monkeypatch.setenv("APPWARD_DCR_MODES", "open,initial_access_token")
    monkeypatch.setenv("APPWARD_DCR_GRANT_TYPES", "authorization_code")
    monkeypatch.setenv("APPWARD_DCR_AUTH_METHODS", "none, client_secret_post")
    monkeypatch.setenv("APPWARD_DCR_SCOPES", "api:read api:write")
    settings = Settings()
    assert settings.dcr_modes == ("open", "initial_access_token")
    assert settings.dcr_grant_types == ("authorization_code",)
    assert settings.dcr_auth_methods == ("none", "client_secret_post")
    assert settings.dcr_scopes == ("api:read", "api:write")


def test_unset_list_settings_keep_their_defaults():
    settings = Settings()
    assert settings.dcr_modes == ("closed",)
    assert settings.dcr_grant_types == ("authorization_code", "refresh_token")
    assert settings.dcr_auth_methods is None  # every method the token endpoint supports
    assert settings.dcr_scopes is None  # any scope that is not admin-only


def test_list_settings_survive_a_round_trip():
    settings = Settings(dcr_modes="open", dcr_scopes="a b", dcr_auth_methods="none")
    assert Settings(**settings.model_dump()) == settings


@pytest.mark.parametrize("modes", ["", "closed,open", "open,sometimes"])
def test_bad_dcr_modes_exit_naming_the_variable(monkeypatch, modes):
    monkeypatch.setenv("APPWARD_DCR_MODES", modes)
    assert exit_message().startswith("invalid configuration: APPWARD_DCR_MODES: ")


def test_invalid_configuration_is_one_line_per_problem_and_a_system_exit():
    refused = InvalidConfiguration.of("APPWARD_X", "is wrong")
    assert isinstance(refused, SystemExit)
    assert refused.code == "invalid configuration: APPWARD_X: is wrong"
    assert InvalidConfiguration(["a", "b"]).code == (
        "invalid configuration: a\ninvalid configuration: b"
    )


# --- the pages' display name and logo ---


def test_display_name_and_logo_default_to_the_name_alone():
    settings = Settings()
    assert settings.display_name == "Appward"
    assert settings.logo_uri is None


@pytest.mark.parametrize("logo", ["https://cdn.example.com/logo.svg", "/static/favicon.svg"])
def test_logo_may_be_an_https_url_or_a_path_here(logo):
    assert Settings(logo_uri=logo).logo_uri == logo


@pytest.mark.parametrize(
    "logo",
    [
        "http://cdn.example.com/logo.svg",
        "javascript:alert(1)",
        "data:image/svg+xml,<svg/>",
        "//cdn.example.com/logo.svg",
        "https://cdn.example.com/a logo.svg",
        'https://cdn.example.com/"onerror=alert(1)',
        "logo.svg",
    ],
)
def test_logo_of_another_kind_is_refused(logo):
    assert "APPWARD_LOGO_URI" in exit_message(logo_uri=logo)


@pytest.mark.parametrize("name", ["", "x" * 81])
def test_display_name_must_be_1_to_80_characters(name):
    assert "APPWARD_DISPLAY_NAME" in exit_message(display_name=name)


# --- mail ---


def test_no_smtp_host_means_no_smtp_settings():
    assert Settings().smtp is None


def test_smtp_settings_mirror_the_variables():
    smtp = Settings(
        smtp_host="mail.example.com",
        smtp_from="Appward <no-reply@example.com>",
        smtp_username="appward",
        smtp_password="smtp-secret",
    ).smtp
    assert smtp is not None
    assert (smtp.host, smtp.port, smtp.security) == ("mail.example.com", 587, "starttls")
    assert (smtp.username, smtp.password, smtp.timeout) == ("appward", "smtp-secret", 10.0)
    assert "smtp-secret" not in repr(smtp)


@pytest.mark.parametrize(("security", "port"), [("starttls", 587), ("tls", 465), ("none", 25)])
def test_smtp_port_defaults_to_the_security_modes(security, port):
    settings = Settings(smtp_host="127.0.0.1", smtp_from="a@example.com", smtp_security=security)
    assert settings.smtp is not None
    assert settings.smtp.port == port


def test_smtp_password_is_not_in_the_settings_repr():
    settings = Settings(
        smtp_host="mail.example.com",
        smtp_from="a@example.com",
        smtp_username="u",
        smtp_password="pw!",
    )
    assert "pw!" not in repr(settings)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"smtp_host": "mail.example.com"}, "APPWARD_SMTP_HOST needs APPWARD_SMTP_FROM"),
        (
            {"smtp_host": "mail.example.com", "smtp_from": "a@example.com", "smtp_username": "u"},
            "go together",
        ),
        (
            {
                "smtp_host": "mail.example.com",
                "smtp_from": "a@example.com",
                "smtp_security": "none",
                "smtp_username": "u",
                "smtp_password": "p",
            },
            "in the clear",
        ),
        ({"smtp_security": "ssl"}, "APPWARD_SMTP_SECURITY"),
        ({"smtp_from": "a@example.com, b@example.com"}, "APPWARD_SMTP_FROM"),
        ({"smtp_from": "no address"}, "APPWARD_SMTP_FROM"),
        ({"smtp_from": "a@example.com\r\nBcc: b@example.com"}, "APPWARD_SMTP_FROM"),
        ({"smtp_port": 0}, "APPWARD_SMTP_PORT"),
    ],
)
def test_bad_smtp_settings_are_refused_naming_the_variable(overrides, expected):
    assert expected in exit_message(**overrides)


def test_plain_smtp_with_a_password_is_allowed_to_a_relay_on_this_host():
    settings = Settings(
        smtp_host="127.0.0.1",
        smtp_from="a@example.com",
        smtp_security="none",
        smtp_username="u",
        smtp_password="p",
    )
    assert settings.smtp is not None


# --- mutual TLS: the proxy is named, never assumed ---


def test_mtls_is_off_and_believes_no_proxy_by_default():
    settings = Settings()
    assert settings.mtls_certificate_header is None
    assert settings.mtls_trusted_proxies == ()


def test_a_certificate_header_without_a_trusted_proxy_is_refused_naming_both():
    """Security review F5: loopback is no default, so a header cannot be believed from
    whatever else runs on the host until the proxy's address is named."""
    message = exit_message(mtls_certificate_header="X-SSL-Client-Cert")
    assert message.startswith("invalid configuration: ")
    assert "APPWARD_MTLS_CERTIFICATE_HEADER" in message
    assert "APPWARD_MTLS_TRUSTED_PROXIES" in message
    assert "\n" not in message


def test_a_certificate_header_with_a_named_proxy_is_accepted(monkeypatch):
    monkeypatch.setenv("APPWARD_MTLS_CERTIFICATE_HEADER", "X-SSL-Client-Cert")
    monkeypatch.setenv("APPWARD_MTLS_TRUSTED_PROXIES", "127.0.0.2/32, ::1")
    settings = load_settings()
    assert settings.mtls_trusted_proxies == ("127.0.0.2/32", "::1")


@pytest.mark.parametrize("proxies", ["127.0.0.300/32", "proxy.example.com", "10.0.0.0/33"])
def test_a_trusted_proxy_that_is_no_address_is_refused_naming_the_variable(monkeypatch, proxies):
    monkeypatch.setenv("APPWARD_MTLS_CERTIFICATE_HEADER", "X-SSL-Client-Cert")
    monkeypatch.setenv("APPWARD_MTLS_TRUSTED_PROXIES", proxies)
    message = exit_message()
    assert message.startswith("invalid configuration: APPWARD_MTLS_TRUSTED_PROXIES: ")
    assert "\n" not in message
