"""Settings: one frozen object built at start from ``APPWARD_*`` variables and passed down."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


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


@dataclass(frozen=True, slots=True)
class SecretPolicy:
    """How client secrets are verified and how long new ones live."""

    max_concurrent_verifications: int
    default_lifetime: int | None  # seconds; None: secrets do not expire by themselves
    max_waiting_verifications: int = 64
    last_used_resolution: int = 60  # seconds between two writes of a secret's last_used_at


class Settings(BaseSettings):
    """Every setting Appward reads; the descriptions are the documentation."""

    model_config = SettingsConfigDict(env_prefix="APPWARD_", frozen=True, extra="ignore")

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
    session_secret: str | None = Field(
        None,
        repr=False,
        min_length=32,
        description=(
            "Key that signs the login session cookie. Unset: a key file is generated in "
            "data_dir with mode 0600 (development only)."
        ),
    )
    session_ttl: int = Field(
        8 * 3600, ge=60, description="Seconds a login session lasts without a new login."
    )
    redis_url: str | None = Field(
        None,
        repr=False,
        description=(
            "redis://host:port/db. When set, revoked access tokens are shared and the "
            "credential cache of every worker is invalidated through Redis."
        ),
    )
    key_reload_interval: int = Field(
        30, ge=1, le=3600, description="Seconds between reloads of the signing key ring."
    )
    credential_cache_ttl: int = Field(
        60,
        ge=0,
        le=3600,
        description="Seconds a verified client secret is remembered in memory; 0 disables.",
    )
    credential_cache_size: int = Field(
        10000, ge=1, description="Most verified client credentials remembered per process."
    )
    trust_forwarded_for: bool = Field(
        False,
        description="Take the audit log's source IP from X-Forwarded-For (behind a proxy).",
    )

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
        if self.environment == "production":
            if self.key_encryption_key is None:
                raise ValueError("APPWARD_KEY_ENCRYPTION_KEY is required in production")
            if self.session_secret is None:
                raise ValueError("APPWARD_SESSION_SECRET is required in production")
            if not self.issuer.startswith("https://"):
                raise ValueError("APPWARD_ISSUER must be https in production")
        return self

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

    Raises SystemExit with one line per bad value, so a misconfigured start is obvious.
    """
    from pydantic import ValidationError

    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            message = str(err["msg"]).removeprefix("Value error, ")
            if err["loc"]:
                name = "APPWARD_" + ".".join(str(p) for p in err["loc"]).upper()
                lines.append(f"invalid configuration: {name}: {message}")
            else:  # a rule across settings: its message names the variables
                lines.append(f"invalid configuration: {message}")
        raise SystemExit("\n".join(lines)) from None
