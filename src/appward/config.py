"""Settings: one frozen object built at start from ``APPWARD_*`` variables and passed down."""

from __future__ import annotations

import base64
import ipaddress
from dataclasses import dataclass, field
from email.headerregistry import Address, HeaderRegistry
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import BeforeValidator, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


@dataclass(frozen=True, slots=True)
class Argon2Params:
    """Cost of one argon2id hash (argon2-cffi's RFC 9106 low-memory profile by default)."""

    time_cost: int = 3
    memory_cost_kib: int = 65536
    parallelism: int = 4


@dataclass(frozen=True, slots=True)
class LifetimeBounds:
    """Server-wide limits that every client's token policy must stay within (seconds)."""

    access_token_min: int
    access_token_max: int
    access_token_default: int
    refresh_token_max: int
    refresh_token_default: int
    refresh_token_absolute_max: int
    refresh_token_absolute_default: int
    # Not a lifetime, but a server-wide rule for metadata that travels the same way into
    # the validator: APPWARD_JWKS_URI_ALLOW_LOOPBACK (development only) lets a jwks_uri
    # be http and name a loopback address.
    jwks_uri_allow_loopback: bool = False


@dataclass(frozen=True, slots=True)
class SecretPolicy:
    """How client secrets are verified and how long new ones live."""

    max_concurrent_verifications: int
    default_lifetime: int | None  # seconds; None: secrets do not expire by themselves
    max_waiting_verifications: int = 64
    last_used_resolution: int = 60  # seconds between two writes of a secret's last_used_at


@dataclass(frozen=True, slots=True)
class HeadLimits:
    """How much of a request's head (request line and header fields) the server reads."""

    max_bytes: int
    max_fields: int


@dataclass(frozen=True, slots=True)
class BodyLimits:
    """The most bytes of a request body each kind of endpoint reads (more: 413)."""

    form: int  # the OAuth form endpoints and the pages' forms
    json: int  # the admin API
    registration: int  # dynamic client registration (unauthenticated when open)

    @property
    def largest(self) -> int:
        return max(self.form, self.json, self.registration)


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    """Where and how mail is sent (mail.SmtpMailer)."""

    host: str
    port: int
    sender: str  # the From header: "Name <address>" or an address
    security: str  # "starttls", "tls" (implicit, SMTPS) or "none"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 10.0


def single_address(value: str) -> Address | None:
    """Returns the one mail address ``value`` holds ("Name <user@host>" or "user@host"),
    or None when it holds none, several, a line break or anything malformed."""
    if "\r" in value or "\n" in value:
        return None
    try:
        header = HeaderRegistry()("to", value)
    except (ValueError, IndexError):  # email's parser raises both on some inputs
        return None
    addresses = header.addresses  # type: ignore[attr-defined]
    if header.defects or len(addresses) != 1 or not addresses[0].domain:
        return None
    address: Address = addresses[0]
    return address


DCR_MODES = ("open", "initial_access_token", "software_statement")
SMTP_SECURITY = ("starttls", "tls", "none")
LOG_FORMATS = ("text", "json")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")


class InvalidConfiguration(SystemExit):
    """A setting Appward cannot start with: one line per problem, naming the variable, so
    a misconfigured start is obvious (and no traceback hides it)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(f"invalid configuration: {p}" for p in problems))

    @classmethod
    def of(cls, variable: str, message: str) -> InvalidConfiguration:
        return cls([f"{variable}: {message}"])


def _names(value: object, separator: str | None) -> object:
    """Returns a list setting as a tuple of names, each once and in order: from a variable,
    split at ``separator`` (None: any whitespace); a list or tuple is taken as it is."""
    if isinstance(value, str):
        value = value.split(separator)
    if isinstance(value, list | tuple):
        stripped = (v.strip() if isinstance(v, str) else v for v in value)
        return tuple(dict.fromkeys(v for v in stripped if v != ""))
    return value


# List settings: parsed once, here; every user reads a tuple of names. NoDecode: a variable
# holds the plain separated names, not JSON.
CommaSeparated = Annotated[
    tuple[str, ...], NoDecode, BeforeValidator(lambda value: _names(value, ","))
]
SpaceSeparated = Annotated[
    tuple[str, ...], NoDecode, BeforeValidator(lambda value: _names(value, None))
]


class Settings(BaseSettings):
    """Every setting Appward reads; the descriptions are the documentation."""

    model_config = SettingsConfigDict(env_prefix="APPWARD_", frozen=True, extra="ignore")

    # --- deployment and storage ---
    environment: str = Field(
        "development",
        description="'development' or 'production'. Production refuses placeholder keys.",
        pattern="^(development|production)$",
    )
    issuer: str = Field(
        "http://127.0.0.1:8000",
        description="The issuer identifier (RFC 8414): the base URL clients reach the server at.",
    )
    database_url: str = Field(
        "sqlite+aiosqlite:///./var/appward.db",
        repr=False,  # may hold a password
        description="SQLAlchemy async URL: sqlite+aiosqlite:///path or postgresql+asyncpg://...",
    )
    database_schema: str | None = Field(
        None,
        description="PostgreSQL only: the schema Appward's tables live in (search_path).",
        pattern=r"^[a-z_][a-z0-9_]{0,62}$",
    )
    database_timeout: float = Field(
        5.0,
        gt=0,
        le=300,
        description="Seconds the server waits on the database: on PostgreSQL for a "
        "connection, for each statement and for a free pooled connection; on SQLite for "
        "the write lock another writer holds. Past that the request gets 503 "
        "(temporarily_unavailable). The CLI waits as long as the work takes (SQLite: 30 s).",
    )
    readiness_timeout: float = Field(
        2.0,
        gt=0,
        le=60,
        description="Seconds /readyz waits for the database and for Redis before it "
        "reports the check failed (503).",
    )
    data_dir: Path = Field(
        Path("./var"),
        description="Where the embedded default keeps its database and generated key file.",
    )
    key_encryption_key: str | None = Field(
        None,
        repr=False,
        description=(
            "Fernet key (32 url-safe base64 bytes) that encrypts signing keys at rest. "
            "Unset: a key file is generated in data_dir with mode 0600 (development only)."
        ),
    )
    previous_key_encryption_keys: str | None = Field(
        None,
        repr=False,
        description=(
            "Comma-separated Fernet keys that were APPWARD_KEY_ENCRYPTION_KEY before a "
            "rotation: encrypted client secrets (client_secret_jwt) made under them still "
            "decrypt until `appward keys reencrypt-secrets` rewrites them under the "
            "current key."
        ),
    )

    # --- hashing (argon2id) and client secrets ---
    argon2_time_cost: int = Field(3, ge=1, le=20, description="argon2id iterations.")
    argon2_memory_cost_kib: int = Field(
        65536, ge=8, le=4 * 1024 * 1024, description="argon2id memory in KiB."
    )
    argon2_parallelism: int = Field(4, ge=1, le=16, description="argon2id lanes.")
    max_concurrent_secret_verifications: int = Field(
        2,
        ge=1,
        le=64,
        description="Bound on argon2 verifications running at once per process.",
    )
    max_waiting_secret_verifications: int = Field(
        64,
        ge=1,
        le=10000,
        description="Verifications allowed to queue per process before new ones get 503.",
    )
    client_secret_lifetime: int | None = Field(
        None, ge=60, description="Seconds a new client secret lives; unset means no expiry."
    )

    # --- token lifetimes ---
    access_token_ttl_min: int = Field(60, ge=1, description="Shortest access token lifetime.")
    access_token_ttl_max: int = Field(86400, ge=1, description="Longest access token lifetime.")
    access_token_ttl_default: int = Field(3600, ge=1, description="Default access token lifetime.")
    refresh_token_ttl_max: int = Field(
        30 * 86400, ge=1, description="Longest sliding refresh token lifetime."
    )
    refresh_token_ttl_default: int = Field(
        14 * 86400, ge=1, description="Default sliding refresh token lifetime."
    )
    refresh_token_absolute_ttl_max: int = Field(
        365 * 86400, ge=1, description="Longest absolute refresh token lifetime."
    )
    refresh_token_absolute_ttl_default: int = Field(
        90 * 86400, ge=1, description="Default absolute refresh token lifetime."
    )
    authorization_code_ttl: int = Field(
        60, ge=10, le=600, description="Seconds an authorization code stays redeemable."
    )

    # --- login sessions ---
    session_secret: str | None = Field(
        None,
        repr=False,
        min_length=32,
        description=(
            "Key that derives the pages' CSRF tokens from the session cookie. Unset: a key "
            "file is generated in data_dir with mode 0600 (development only)."
        ),
    )
    session_ttl: int = Field(
        8 * 3600,
        ge=60,
        description="Seconds a login session lasts at most (its absolute lifetime), "
        "however active; then the user signs in again.",
    )
    session_idle_timeout: int = Field(
        2 * 3600,
        ge=60,
        description="Seconds a login session on the account and sign-in pages survives "
        "without a request; sessions are kept on the server (the database, or Redis when "
        "APPWARD_REDIS_URL is set).",
    )

    console_idle_timeout: int = Field(
        15 * 60,
        ge=60,
        description="Seconds a signed-in administrator may leave the admin console (/console) "
        "untouched before it asks them to sign in again; shorter than "
        "APPWARD_SESSION_IDLE_TIMEOUT because the console can change every client.",
    )
    console_require_2fa: bool | None = Field(
        None,
        description="Whether the admin console lets in only administrators who signed in "
        "with a second factor (TOTP); unset: on in production, off in development.",
    )

    # --- the pages: what the layout's header shows ---
    display_name: str = Field(
        "Appward",
        min_length=1,
        max_length=80,
        description="The server's name in every page's header and title, and in the "
        "From name of its mail when APPWARD_SMTP_FROM gives none.",
    )
    logo_uri: str | None = Field(
        None,
        description="An https URL (or a path on this server) of the logo shown beside the "
        "display name in every page's header; unset: the name alone. Its origin is the "
        "only one the pages' CSP lets images load from besides the clients' logos.",
        pattern=r"^(https://[^\s\"'<>]+|/[^/\s\"'<>][^\s\"'<>]*)$",
    )

    # --- mail (verification and reset links) ---
    smtp_host: str | None = Field(
        None,
        description="The SMTP server mail is sent through. Unset: in development mode each "
        "message (links included) is written to the server log instead, as a development "
        "convenience; in production nothing can be mailed.",
    )
    smtp_port: int | None = Field(
        None,
        ge=1,
        le=65535,
        description="Its port; unset: 587 for starttls, 465 for tls, 25 for none.",
    )
    smtp_security: str = Field(
        "starttls",
        description="'starttls' (upgrade the connection, refuse a server that cannot), "
        "'tls' (implicit TLS, SMTPS) or 'none' (plain: only for a relay on this host).",
    )
    smtp_username: str | None = Field(None, description="The SMTP user name, if it asks one.")
    smtp_password: str | None = Field(None, repr=False, description="The SMTP password.")
    smtp_from: str | None = Field(
        None,
        description="The From header of Appward's mail, e.g. 'Appward <no-reply@example.com>'; "
        "required with APPWARD_SMTP_HOST.",
    )
    smtp_timeout: float = Field(
        10.0, gt=0, le=300, description="Seconds to wait for the SMTP server at each step."
    )

    # --- several processes and hosts: Redis, key reloads, the credential cache ---
    redis_url: str | None = Field(
        None,
        repr=False,
        description=(
            "redis://host:port/db. Needed when several hosts serve one database: credential "
            "changes reach the other hosts' credential caches through it (the workers of one "
            "host hear of them through the epoch file in data_dir), and every rate limit "
            "(registration, sign-in and client-authentication failures, the per-client token "
            "limit) becomes one count for all workers and hosts instead of one per worker; "
            "while Redis is unreachable each process counts on its own (logged)."
        ),
    )
    redis_timeout: float = Field(
        1.0,
        gt=0,
        le=60,
        description="Seconds to wait for Redis (connecting, each command); past that the "
        "use falls back as docs/deployment.md describes (the jti check to the database, "
        "rate limits to this process's own counts, the credential cache to its short "
        "lifetime).",
    )
    key_reload_interval: int = Field(
        30,
        ge=1,
        le=3600,
        description="Seconds between reloads of the signing key ring: a key added by "
        "'appward keys rotate' signs in every server from its next reload.",
    )
    credential_cache_ttl: int = Field(
        60,
        ge=0,
        le=3600,
        description="Seconds a verified client secret is remembered in memory; 0 disables.",
    )
    credential_cache_fallback_ttl: int = Field(
        5,
        ge=0,
        le=3600,
        description="With APPWARD_REDIS_URL set: seconds a verified client secret is "
        "remembered while this process is not hearing Redis's change announcements (Redis "
        "down, or not yet subscribed); a change made on another host then reaches this "
        "one within that long. At most credential_cache_ttl.",
    )
    credential_cache_size: int = Field(
        10000, ge=1, description="Most verified client credentials remembered per process."
    )

    shutdown_timeout: int = Field(
        30,
        ge=0,
        le=3600,
        description="Seconds `appward serve` lets the requests in flight finish after "
        "SIGTERM (it stops accepting new connections at once); then they are cut off and "
        "it exits. Drain a server at the load balancer first (docs/deployment.md).",
    )

    # --- HTTP requests ---
    max_header_bytes: int = Field(
        16384,
        ge=1024,
        le=1024 * 1024,
        description="Most bytes of a request's head (request line and header fields) "
        "`appward serve` reads; a longer URL gets 414, more header bytes 431.",
    )
    max_headers: int = Field(
        100,
        ge=8,
        le=10000,
        description="Most header fields in one request `appward serve` accepts; more get 431.",
    )
    max_form_bytes: int = Field(
        16 * 1024,
        ge=1024,
        le=16 * 1024 * 1024,
        description="Most bytes of a form body: the token, introspection and revocation "
        "endpoints and every page's form. A larger body gets 413 before it is read whole.",
    )
    max_json_bytes: int = Field(
        256 * 1024,
        ge=1024,
        le=64 * 1024 * 1024,
        description="Most bytes of an admin API request body; a larger one gets 413.",
    )
    dcr_max_body_bytes: int = Field(
        16 * 1024,
        ge=1024,
        le=16 * 1024 * 1024,
        description="Most bytes of a dynamic client registration request (POST and PUT "
        "/oauth2/register); a larger one gets 413. Any other request with a declared "
        "body larger than all three limits gets 413 before it is routed.",
    )
    trust_forwarded_for: bool = Field(
        False,
        description="Take the caller's address from the rightmost X-Forwarded-For entry "
        "(behind a proxy that adds it): the audit log's source IP, sign-in throttling per "
        "address and the registration rate limit per source IP all use it.",
    )

    # --- client assertions (private_key_jwt, client_secret_jwt: RFC 7523) ---
    assertion_audience: str = Field(
        "compat",
        pattern="^(compat|strict)$",
        description="Which 'aud' a client assertion may carry. 'strict': only the issuer "
        "identifier, as a single string (draft-ietf-oauth-rfc7523bis, FAPI 2.0; immune to "
        "the audience-injection attack of CVE-2025-27370/27371). 'compat': also the token "
        "endpoint URL or the URL of the endpoint called, as many client libraries still "
        "send. A client's own assertion_audience overrides this for it.",
    )
    assertion_max_lifetime: int = Field(
        300,
        ge=10,
        le=3600,
        description="Most seconds a client assertion's exp may lie after its iat.",
    )
    assertion_clock_skew: int = Field(
        30,
        ge=0,
        le=300,
        description="Seconds of clock difference allowed when checking an assertion's "
        "exp, nbf and iat.",
    )

    # --- clients' jwks_uri (fetched for private_key_jwt and self-signed mTLS) ---
    jwks_uri_cache_ttl: int = Field(
        600,
        ge=0,
        le=86400,
        description="Seconds a client's fetched JWK Set is used before it is fetched again.",
    )
    jwks_uri_refetch_interval: int = Field(
        10,
        ge=1,
        le=3600,
        description="Least seconds between two fetches of one client's jwks_uri on an "
        "unknown kid, so random kids cannot make the server hammer a URL.",
    )
    jwks_uri_timeout: float = Field(
        5.0, gt=0, le=60, description="Seconds to connect to, and then to read, a jwks_uri."
    )
    jwks_uri_max_bytes: int = Field(
        65536,
        ge=1024,
        le=1024 * 1024,
        description="Most bytes of a jwks_uri response; a larger one is refused.",
    )
    jwks_uri_allow_loopback: bool = Field(
        False,
        description="Development and tests only: let a jwks_uri be http and on a loopback "
        "address. Refused in production.",
    )

    # --- mutual TLS (RFC 8705), behind a TLS-terminating proxy ---
    mtls_certificate_header: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9-]{1,64}$",
        description="The request header the proxy puts the verified client certificate "
        "in (e.g. X-SSL-Client-Cert for nginx's $ssl_client_escaped_cert, Client-Cert for "
        "RFC 9440). Unset: mutual TLS is off and no such header is read.",
    )
    mtls_certificate_format: str = Field(
        "nginx",
        pattern="^(nginx|rfc9440)$",
        description="How the header holds the certificate: 'nginx' (URL-encoded PEM) or "
        "'rfc9440' (base64 DER between colons).",
    )
    mtls_trusted_proxies: CommaSeparated = Field(
        (),
        description="Comma-separated addresses (CIDR) of the TLS-terminating proxy, the "
        "only peers whose certificate header is believed; from any other the header is "
        "ignored. No default: required with APPWARD_MTLS_CERTIFICATE_HEADER.",
    )
    mtls_ca_bundle: Path | None = Field(
        None,
        description="PEM file of the CAs a tls_client_auth certificate must chain to.",
    )
    mtls_endpoint_base: str | None = Field(
        None,
        description="Base URL of the mTLS listener (e.g. https://mtls.example.com), "
        "advertised as mtls_endpoint_aliases (RFC 8705 §5). Unset: the issuer's.",
    )

    # --- sign-in throttling ---
    login_failures_per_address: int = Field(
        10,
        ge=1,
        description="Failed sign-ins from one source IP (IPv6: one /64, and 16 times as many "
        "per /48) per window before sign-in from it is refused (429) until the window "
        "ends; shared through Redis when APPWARD_REDIS_URL is set.",
    )
    login_failures_per_username: int = Field(
        100,
        ge=1,
        description="Failed sign-ins for one username, from any address, per window before "
        "sign-in as that user is refused. Higher than the per-address limit, so one "
        "address cannot lock a user out for everyone else; a success clears the count.",
    )
    login_failure_window: int = Field(
        300,
        ge=1,
        le=86400,
        description="Seconds of the fixed window the sign-in failure limits count in.",
    )

    # --- client authentication throttling, the per-client token limit ---
    client_auth_failures_per_address: int = Field(
        50,
        ge=1,
        description="Failed client authentications (token, introspection, revocation) from "
        "one source IP (IPv6: one /64, and 16 times as many per /48) per window before "
        "every client authentication from it is refused (429) until the window ends, "
        "except a secret the server verified moments ago (its credential cache); shared "
        "through Redis when APPWARD_REDIS_URL is set.",
    )
    client_auth_failures_per_client: int = Field(
        20,
        ge=1,
        description="Failed authentications for one client_id per window before it is "
        "refused (429) to every address that has itself failed in the window; an address "
        "with no failures still has its proof checked, so others' failures do not lock the "
        "client out (docs/security.md).",
    )
    client_auth_failure_window: int = Field(
        300,
        ge=1,
        le=86400,
        description="Seconds of the fixed window the client authentication failure limits "
        "count in.",
    )
    token_requests_per_client: int | None = Field(
        None,
        ge=1,
        description="Token requests one client may make per minute (429 with Retry-After "
        "beyond), so one client's runaway loop cannot starve the others; unset: no limit. "
        "Shared through Redis when APPWARD_REDIS_URL is set (then one round trip per token "
        "request).",
    )

    # --- Dynamic Client Registration (RFC 7591, RFC 7592) ---
    dcr_modes: CommaSeparated = Field(
        ("closed",),
        description="Dynamic Client Registration (RFC 7591): 'closed', or a comma-separated "
        "choice of 'open', 'initial_access_token', 'software_statement'; a registration "
        "is accepted when it satisfies any of them.",
    )
    dcr_grant_types: CommaSeparated = Field(
        ("authorization_code", "refresh_token"),
        description="Comma-separated grant types a client registered without an initial "
        "access token may have (a token's template can allow others, client_credentials "
        "included); each must be one the token endpoint serves.",
    )
    dcr_scopes: Annotated[SpaceSeparated | None, NoDecode] = Field(
        None,
        description="Space-separated scopes a self-registered client may have; unset: any "
        "scope of the registry that is not admin-only.",
    )
    dcr_scope_policy: str = Field(
        "downscope",
        pattern="^(downscope|refuse)$",
        description="What a registration asking for scopes beyond policy gets: 'downscope' "
        "(the allowed ones, shown in the response) or 'refuse' (invalid_client_metadata).",
    )
    dcr_auth_methods: Annotated[CommaSeparated | None, NoDecode] = Field(
        None,
        description="Comma-separated token_endpoint_auth_method values a self-registered "
        "client may use, each one the token endpoint supports; unset: every one it supports.",
    )
    dcr_max_redirect_uris: int = Field(
        10, ge=1, le=100, description="Most redirect URIs of a self-registered client."
    )
    dcr_rate_limit: int = Field(
        20,
        ge=1,
        description="Registration requests per source IP per minute (POST /oauth2/register); "
        "shared through Redis when APPWARD_REDIS_URL is set.",
    )
    dcr_software_statement_publishers: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Trusted software statement publishers as JSON: issuer -> JWK Set of "
        'its public keys, e.g. {"https://publisher.example": {"keys": [...]}}.',
    )

    portal_signup: str = Field(
        "invite",
        pattern="^(open|invite|closed)$",
        description="Who may sign up as a developer on the portal (/portal): 'open' (anyone, "
        "after verifying their e-mail address), 'invite' (only with an administrator's "
        "single-use invitation link) or 'closed'.",
    )
    portal_grant_types: CommaSeparated = Field(
        ("authorization_code", "refresh_token"),
        description="Comma-separated grant types an app made on the developer portal may "
        "have; client_credentials is offered only when listed, and only to web apps.",
    )
    portal_scopes: Annotated[SpaceSeparated | None, NoDecode] = Field(
        None,
        description="Space-separated scopes a portal app may ask for; unset: any scope of "
        "the registry that is not admin-only.",
    )

    log_format: str = Field(
        "text",
        description="How Appward writes its log lines: 'text' (one readable line) or 'json' "
        "(one JSON object a line: time, level, logger, message and the request's fields).",
    )
    log_level: str = Field(
        "INFO", description="The least severe level Appward logs: DEBUG, INFO, WARNING, ERROR."
    )
    request_log: bool = Field(
        False,
        description="One log line per request (request id, method, route template, status, "
        "duration, client_id when known; never a path's values, a query, a body or a "
        "credential). `appward serve --access-log` turns it on.",
    )
    metrics_enabled: bool = Field(
        False,
        description="Prometheus metrics, served on their own listener "
        "(APPWARD_METRICS_HOST:APPWARD_METRICS_PORT), never on the app's port.",
    )
    metrics_host: str = Field(
        "127.0.0.1",
        description="Address of the metrics listener. Loopback by default: anyone who can "
        "reach it reads client ids and traffic; open it only to the scraper.",
    )
    metrics_port: int = Field(9464, ge=1, le=65535, description="Port of the metrics listener.")
    metrics_max_clients: int = Field(
        1000,
        ge=0,
        description="Distinct client_id values the tokens-issued counter keeps per process; "
        'tokens of clients beyond them count under client_id="other" (0: every token '
        "does, so no series per client).",
    )

    @field_validator("previous_key_encryption_keys")
    @classmethod
    def _fernet_keys(cls, value: str | None) -> str | None:
        for key in (value or "").split(","):
            try:
                ok = len(base64.urlsafe_b64decode(key.strip().encode())) == 32
            except ValueError:
                ok = False
            if key.strip() and not ok:
                # Never the value: it is key material.
                raise ValueError("each must be a Fernet key (32 url-safe base64-encoded bytes)")
        return value

    @field_validator("dcr_modes")
    @classmethod
    def _known_dcr_modes(cls, modes: tuple[str, ...]) -> tuple[str, ...]:
        unknown = set(modes) - {"closed", *DCR_MODES}
        if unknown or not modes:
            raise ValueError(
                "must be 'closed' or a comma-separated choice of " + ", ".join(DCR_MODES)
            )
        if "closed" in modes and len(modes) > 1:
            raise ValueError("'closed' cannot be combined with other modes")
        return modes

    @field_validator("log_format")
    @classmethod
    def _known_log_format(cls, value: str) -> str:
        if value not in LOG_FORMATS:
            raise ValueError("must be one of " + ", ".join(LOG_FORMATS))
        return value

    @field_validator("log_level")
    @classmethod
    def _known_log_level(cls, value: str) -> str:
        if value.upper() not in LOG_LEVELS:
            raise ValueError("must be one of " + ", ".join(LOG_LEVELS))
        return value.upper()

    @field_validator("smtp_security")
    @classmethod
    def _known_smtp_security(cls, value: str) -> str:
        if value not in SMTP_SECURITY:
            raise ValueError("must be one of " + ", ".join(SMTP_SECURITY))
        return value

    @field_validator("smtp_from")
    @classmethod
    def _one_sender(cls, value: str | None) -> str | None:
        if value is not None and single_address(value) is None:
            raise ValueError("must be one address, e.g. 'Appward <no-reply@example.com>'")
        return value

    @field_validator("dcr_software_statement_publishers")
    @classmethod
    def _usable_publisher_keys(cls, value: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        import jwt

        for issuer, jwks in value.items():
            try:
                keys = jwt.PyJWKSet.from_dict(jwks).keys
            except jwt.PyJWTError as exc:
                raise ValueError(f"{issuer}: not a usable JWK Set ({exc})") from None
            if any(k.key_type == "oct" for k in keys):
                raise ValueError(f"{issuer}: only public keys, never a shared secret")
        return value

    @field_validator("mtls_trusted_proxies")
    @classmethod
    def _proxy_networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for cidr in value:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise ValueError(f"{cidr!r} is not an address or CIDR network") from None
        return value

    @field_validator("issuer")
    @classmethod
    def _issuer_is_a_base_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError("must be an http(s) URL with a host")
        if parts.query or parts.fragment or "?" in value or "#" in value:
            raise ValueError("must not have a query or fragment (RFC 8414 §2)")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _check_consistency(self) -> Settings:
        if (
            not self.access_token_ttl_min
            <= self.access_token_ttl_default
            <= (self.access_token_ttl_max)
        ):
            raise ValueError(
                "APPWARD_ACCESS_TOKEN_TTL_MIN <= APPWARD_ACCESS_TOKEN_TTL_DEFAULT <= "
                "APPWARD_ACCESS_TOKEN_TTL_MAX must hold"
            )
        if self.refresh_token_ttl_default > self.refresh_token_ttl_max:
            raise ValueError(
                "APPWARD_REFRESH_TOKEN_TTL_DEFAULT must not exceed APPWARD_REFRESH_TOKEN_TTL_MAX"
            )
        if self.refresh_token_absolute_ttl_default > self.refresh_token_absolute_ttl_max:
            raise ValueError(
                "APPWARD_REFRESH_TOKEN_ABSOLUTE_TTL_DEFAULT must not exceed "
                "APPWARD_REFRESH_TOKEN_ABSOLUTE_TTL_MAX"
            )
        if "software_statement" in self.dcr_modes and not self.dcr_software_statement_publishers:
            raise ValueError(
                "APPWARD_DCR_MODES software_statement needs "
                "APPWARD_DCR_SOFTWARE_STATEMENT_PUBLISHERS"
            )
        if self.mtls_certificate_header is not None and not self.mtls_trusted_proxies:
            # No default proxy: with loopback believed, any local process (or another
            # proxy on this host that passes headers through) could present a certificate.
            raise ValueError(
                "APPWARD_MTLS_CERTIFICATE_HEADER needs APPWARD_MTLS_TRUSTED_PROXIES: the "
                "address the TLS-terminating proxy connects from (e.g. 127.0.0.2/32)"
            )
        if self.smtp_host is not None:
            if self.smtp_from is None:
                raise ValueError("APPWARD_SMTP_HOST needs APPWARD_SMTP_FROM")
            if (self.smtp_username is None) != (self.smtp_password is None):
                raise ValueError("APPWARD_SMTP_USERNAME and APPWARD_SMTP_PASSWORD go together")
            if (
                self.smtp_security == "none"
                and self.smtp_username is not None
                and self.smtp_host not in LOOPBACK_HOSTS
            ):
                raise ValueError(
                    "APPWARD_SMTP_SECURITY none would send the SMTP password in the clear; "
                    "use starttls or tls (none only for a relay on this host)"
                )
        if self.environment == "production":
            if self.key_encryption_key is None:
                raise ValueError("APPWARD_KEY_ENCRYPTION_KEY is required in production")
            if self.session_secret is None:
                raise ValueError("APPWARD_SESSION_SECRET is required in production")
            if not self.issuer.startswith("https://"):
                raise ValueError("APPWARD_ISSUER must be https in production")
            if self.jwks_uri_allow_loopback:
                raise ValueError("APPWARD_JWKS_URI_ALLOW_LOOPBACK is for development only")
        return self

    @property
    def console_requires_second_factor(self) -> bool:
        if self.console_require_2fa is not None:
            return self.console_require_2fa
        return self.environment == "production"

    @property
    def argon2(self) -> Argon2Params:
        return Argon2Params(
            self.argon2_time_cost, self.argon2_memory_cost_kib, self.argon2_parallelism
        )

    @property
    def lifetime_bounds(self) -> LifetimeBounds:
        return LifetimeBounds(
            access_token_min=self.access_token_ttl_min,
            access_token_max=self.access_token_ttl_max,
            access_token_default=self.access_token_ttl_default,
            refresh_token_max=self.refresh_token_ttl_max,
            refresh_token_default=self.refresh_token_ttl_default,
            refresh_token_absolute_max=self.refresh_token_absolute_ttl_max,
            refresh_token_absolute_default=self.refresh_token_absolute_ttl_default,
            jwks_uri_allow_loopback=self.jwks_uri_allow_loopback,
        )

    @property
    def head_limits(self) -> HeadLimits:
        return HeadLimits(self.max_header_bytes, self.max_headers)

    @property
    def body_limits(self) -> BodyLimits:
        return BodyLimits(self.max_form_bytes, self.max_json_bytes, self.dcr_max_body_bytes)

    @property
    def smtp(self) -> SmtpSettings | None:
        """The SMTP server's settings; None when APPWARD_SMTP_HOST is unset."""
        if self.smtp_host is None or self.smtp_from is None:
            return None
        default_port = {"starttls": 587, "tls": 465, "none": 25}[self.smtp_security]
        return SmtpSettings(
            host=self.smtp_host,
            port=self.smtp_port or default_port,
            sender=self.smtp_from,
            security=self.smtp_security,
            username=self.smtp_username,
            password=self.smtp_password,
            timeout=self.smtp_timeout,
        )

    @property
    def secret_policy(self) -> SecretPolicy:
        return SecretPolicy(
            max_concurrent_verifications=self.max_concurrent_secret_verifications,
            max_waiting_verifications=self.max_waiting_secret_verifications,
            default_lifetime=self.client_secret_lifetime,
        )


def load_settings(**overrides: object) -> Settings:
    """Returns the settings from the environment, with explicit overrides on top.

    Raises InvalidConfiguration (a SystemExit) with one line per bad value.
    """
    from pydantic import ValidationError

    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            message = str(err["msg"]).removeprefix("Value error, ")
            if err["loc"]:
                name = "APPWARD_" + ".".join(str(p) for p in err["loc"]).upper()
                problems.append(f"{name}: {message}")
            else:  # a rule across settings: its message names the variables
                problems.append(message)
        raise InvalidConfiguration(problems) from None
