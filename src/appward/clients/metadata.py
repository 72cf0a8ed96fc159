"""ClientMetadata: the one validator every way of creating or changing a client goes through.

Field names are RFC 7591's so DCR can reuse them unchanged. pydantic's ValidationError is
translated here, and only here, into InvalidClientMetadata / InvalidRedirectUri.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    ValidationInfo,
    model_validator,
)

from appward import addresses
from appward.clients import auth_methods
from appward.clients.auth_methods import (
    ASYMMETRIC_SIGNING_ALGS,
    AUTH_METHODS,
    HMAC_SIGNING_ALGS,
    IANA_METHOD_NAMES,
)
from appward.clients.distinguished_name import canonical_subject_dn
from appward.clients.scopes import ADMIN_SCOPE
from appward.config import LifetimeBounds
from appward.errors import FieldError, InvalidClientMetadata, InvalidRedirectUri
from appward.text import unsafe_character

GrantType = Literal["authorization_code", "client_credentials", "refresh_token"]
ResponseType = Literal["code"]
ApplicationType = Literal["web", "native"]

TLS_FIELDS = (
    "tls_client_auth_subject_dn",
    "tls_client_auth_san_dns",
    "tls_client_auth_san_uri",
    "tls_client_auth_san_ip",
    "tls_client_auth_san_email",
)
# JWK members that only a private or symmetric key has (RFC 7518 §6).
PRIVATE_JWK_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
MAX_URI = 2000
MAX_JWKS_KEYS = 20
MAX_JWKS_BYTES = 32 * 1024
MAX_REDIRECT_URIS = 100
REVERSE_DOMAIN_SCHEME = re.compile(r"[a-z][a-z0-9-]*(\.[a-z0-9-]+)+")
FORBIDDEN_SCHEMES = frozenset({"javascript", "data", "file", "vbscript", "about", "blob"})
SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")
CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")


LOOPBACK_LITERALS = (ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1"))


def _is_loopback_literal(host: str | None) -> bool:
    """RFC 8252 §7.3 names exactly 127.0.0.1 and [::1]; a zone id is never part of one."""
    if not host or "%" in host:
        return False
    try:
        return ipaddress.ip_address(host) in LOOPBACK_LITERALS
    except ValueError:
        return False


def _check_uri_shape(uri: str) -> Any:
    """Checks what every URI we store must satisfy; returns the split URI."""
    if len(uri) > MAX_URI:
        raise ValueError(f"longer than {MAX_URI} characters")
    if not uri.isascii():
        raise ValueError("must be ASCII: percent-encode the path, punycode the host")
    if CONTROL_CHARS.search(uri) or " " in uri:
        raise ValueError("contains whitespace or control characters")
    if "\\" in uri:
        # Browsers read a backslash as '/', Python's parser does not: never let them differ.
        raise ValueError("must not contain a backslash")
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 (raises on a malformed port)
    except ValueError:
        raise ValueError("is not a valid URI") from None
    if not parts.scheme:
        raise ValueError("must be an absolute URI")
    if "#" in uri:
        raise ValueError("must not contain a fragment (RFC 6749 §3.1.2)")
    if "@" in parts.netloc:
        raise ValueError("must not contain userinfo")
    return parts


def check_web_uri(uri: str) -> str:
    """An informational or key URI: https, or http on a loopback IP literal only."""
    parts = _check_uri_shape(uri)
    if parts.scheme == "https" and parts.hostname:
        return uri
    if parts.scheme == "http" and _is_loopback_literal(parts.hostname):
        return uri
    raise ValueError("must be an https URL (http only for 127.0.0.1 or [::1])")


def check_jwks_uri(uri: str, info: ValidationInfo) -> str:
    """A jwks_uri: https, no userinfo, and not a literal private, loopback or otherwise
    non-public address; http and loopback only with APPWARD_JWKS_URI_ALLOW_LOOPBACK
    (development). A first line only: the fetch checks every address the name resolves
    to (auth/jwks.py), which is the check that matters."""
    bounds = (info.context or {}).get("bounds")
    allow_loopback = isinstance(bounds, LifetimeBounds) and bounds.jwks_uri_allow_loopback
    parts = _check_uri_shape(uri)
    schemes = ("https", "http") if allow_loopback else ("https",)
    if parts.scheme not in schemes or not parts.hostname:
        raise ValueError("must be an https URL")
    host = parts.hostname.lower().rstrip(".")
    literal = addresses.literal_address(host)
    if literal is not None and addresses.refusal(literal, allow_loopback=allow_loopback):
        raise ValueError("must not name a private, loopback or otherwise non-public address")
    if not allow_loopback and (host == "localhost" or host.endswith(".localhost")):
        raise ValueError("must not name a loopback host")
    return uri


def check_redirect_uri(uri: str, application_type: str) -> None:
    """Raises ValueError unless ``uri`` is an acceptable registered redirect URI.

    RFC 6749 §3.1.2 (absolute, no fragment), RFC 9700 §2.1 (exact, no wildcards),
    RFC 8252 §7.1 (private-use schemes in reverse-domain form) and §7.3 (loopback).
    """
    parts = _check_uri_shape(uri)
    if "*" in uri:
        raise ValueError("must not contain wildcards; redirect URIs are matched exactly")
    scheme = parts.scheme.lower()
    if scheme == "https":
        if not parts.hostname:
            raise ValueError("https redirect URIs need a host")
        return
    if scheme == "http":
        if parts.hostname == "localhost":
            raise ValueError(
                "use the loopback IP literal 127.0.0.1 or [::1], not 'localhost' (RFC 8252 §8.3)"
            )
        if not _is_loopback_literal(parts.hostname):
            raise ValueError("http is allowed only for loopback IP literals (RFC 8252 §7.3)")
        return
    if scheme in FORBIDDEN_SCHEMES:
        raise ValueError(f"the {scheme!r} scheme is never a valid redirect")
    if application_type != "native":
        raise ValueError(
            "private-use URI schemes are only for native clients (application_type 'native')"
        )
    if not REVERSE_DOMAIN_SCHEME.fullmatch(scheme):
        raise ValueError(
            "private-use schemes must be a reverse domain name such as "
            "'com.example.app' (RFC 8252 §7.1)"
        )


def _check_text(value: str) -> str:
    unsafe = unsafe_character(value)
    if unsafe is not None:
        raise ValueError(f"must not contain control or invisible formatting characters ({unsafe})")
    if not value.strip():
        raise ValueError("must not be blank")
    return value


def check_subject_dn(value: str) -> str:
    """Returns the canonical RFC 4514 form of a tls_client_auth_subject_dn, parsed by the
    same function that compares it with a certificate's subject (RFC 8705 §2.1.2: "the
    expected subject distinguished name of the certificate ... in RFC 4514 format").

    Raises ValueError when it is no distinguished name, or not one of printable text.
    """
    try:
        canonical = canonical_subject_dn(value)
    except ValueError as exc:
        reason = f" ({exc})" if str(exc) else ""
        raise ValueError(
            "must be an RFC 4514 distinguished name such as 'CN=billing,O=Example,C=DE'" + reason
        ) from None
    if unsafe_character(canonical) is not None:
        raise ValueError(
            "must hold printable text: an escaped value decodes to a control character"
        )
    return canonical


def _check_ip(value: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    if isinstance(value, ipaddress.IPv6Address) and value.scope_id:
        raise ValueError("must not carry an IPv6 zone id")
    return str(value)


def _check_scope(value: str) -> str:
    tokens = value.split(" ")
    if any(not SCOPE_TOKEN.fullmatch(t) for t in tokens):
        raise ValueError("must be scope-tokens separated by single spaces (RFC 6749 §3.3)")
    return " ".join(dict.fromkeys(tokens))


JWK_STRING_MEMBERS = (
    "kty",
    "use",
    "alg",
    "kid",
    "x5u",
    "x5t",
    "x5t#S256",
    "crv",
    "x",
    "y",
    "n",
    "e",
)
JWK_LIST_MEMBERS = ("key_ops", "x5c")


def _public_members(key: dict[str, Any]) -> dict[str, Any]:
    kept: dict[str, Any] = {}
    for name in JWK_STRING_MEMBERS:
        if name in key:
            if not isinstance(key[name], str):
                raise ValueError(f"JWK member {name!r} must be a string")
            kept[name] = key[name]
    for name in JWK_LIST_MEMBERS:
        if name in key:
            items = key[name]
            if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
                raise ValueError(f"JWK member {name!r} must be an array of strings")
            kept[name] = items
    return kept


def check_jwks(value: dict[str, Any]) -> dict[str, Any]:
    """Returns the JWK Set ``value`` with only its public members kept: registered ones
    and fetched ones (auth/jwks.py) pass the same check.

    Raises ValueError unless it is a non-empty set of usable public keys with unique kids.
    """
    keys = value.get("keys")
    if not isinstance(keys, list) or not keys:
        raise ValueError("must be a JWK Set with a non-empty 'keys' array (RFC 7517 §5)")
    if len(keys) > MAX_JWKS_KEYS or len(json.dumps(value)) > MAX_JWKS_BYTES:
        raise ValueError(f"is too large: at most {MAX_JWKS_KEYS} keys, {MAX_JWKS_BYTES} bytes")
    for key in keys:
        if not isinstance(key, dict):
            raise ValueError("every member of 'keys' must be a JWK object")
        if PRIVATE_JWK_MEMBERS & key.keys():
            raise ValueError("must hold public keys only: private or symmetric key material found")
    # Only the members RFC 7517/7518 define for public keys are kept: anything else would
    # be stored and echoed back unchecked.
    value = {"keys": [_public_members(key) for key in keys]}
    kids = [key["kid"] for key in value["keys"] if "kid" in key]
    if len(kids) != len(set(kids)):
        # A header's kid must name one key (RFC 7517 §4.5): which would verify otherwise?
        raise ValueError("every kid must be unique within the set")
    for index, key in enumerate(value["keys"]):
        # One by one: PyJWKSet would silently drop a key it cannot use.
        try:
            parsed = jwt.PyJWK.from_dict(key)
        except (jwt.exceptions.PyJWKError, jwt.exceptions.InvalidKeyError, ValueError) as exc:
            raise ValueError(f"key {index} is not a usable public JWK: {exc}") from None
        if isinstance(parsed.key, rsa.RSAPublicKey):
            _check_rsa_size(index, parsed.key)
    return value


# RSA keys a verifier can afford: a huge modulus or public exponent makes every signature
# check cost tens of milliseconds, and an assertion is checked before anyone is proven.
RSA_BITS = (2048, 8192)
MAX_RSA_EXPONENT = 2**32 + 1


def _check_rsa_size(index: int, key: rsa.RSAPublicKey) -> None:
    if not RSA_BITS[0] <= key.key_size <= RSA_BITS[1]:
        raise ValueError(f"key {index}: an RSA key must have {RSA_BITS[0]}-{RSA_BITS[1]} bits")
    if key.public_numbers().e > MAX_RSA_EXPONENT:
        raise ValueError(f"key {index}: the RSA public exponent is too large (65537 is usual)")


# A BCP 47 language tag as RFC 7591 §2.2 uses them, in the simple shapes real ones take
# (en, de-CH, zh-Hant-TW): letters and digits only, so it is safe in a JSON member name.
LANGUAGE_TAG = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8}){0,3}")
MAX_LOCALIZED_NAMES = 20


def _check_localized_names(value: dict[str, str]) -> dict[str, str]:
    if len(value) > MAX_LOCALIZED_NAMES:
        raise ValueError(f"at most {MAX_LOCALIZED_NAMES} languages")
    for tag in value:
        if not LANGUAGE_TAG.fullmatch(tag):
            raise ValueError(f"{tag!r} is not a language tag such as 'de' or 'pt-BR'")
    return value


_DEFAULT_GRANT: GrantType = "authorization_code"


def _check_auth_method(value: str) -> str:
    """Only a method of the registry (clients/auth_methods.py) may be registered: one the
    token endpoint can enforce. IANA's other names are told apart from typos."""
    if value in AUTH_METHODS:
        return value
    supported = ", ".join(AUTH_METHODS)
    if value in IANA_METHOD_NAMES:
        raise ValueError(f"{value} is not supported by this server; use one of: {supported}")
    raise ValueError(f"must be one of: {supported}")


AuthMethodName = Annotated[
    StrictStr,
    AfterValidator(_check_auth_method),
    Field(json_schema_extra={"enum": list(AUTH_METHODS)}),
]

Text = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_check_text)]
WebUri = Annotated[str, AfterValidator(check_web_uri)]


class ClientMetadata(BaseModel):
    """A client's registered metadata (RFC 7591 §2) and Appward's token policy for it.

    Validate with :func:`parse_client_metadata`, which adds the server's lifetime bounds
    and turns every problem into a field-level InvalidClientMetadata.
    """

    model_config = ConfigDict(extra="forbid", validate_default=False)

    client_name: Text | None = None
    # RFC 7591 §2.2's client_name#<language-tag> members, keyed by tag.
    client_name_localized: (
        Annotated[dict[str, Text], AfterValidator(_check_localized_names)] | None
    ) = None
    redirect_uris: list[str] = Field(default_factory=list, max_length=MAX_REDIRECT_URIS)
    application_type: ApplicationType = "web"
    token_endpoint_auth_method: AuthMethodName = "client_secret_basic"
    grant_types: list[GrantType] = Field(default_factory=lambda: [_DEFAULT_GRANT])
    response_types: list[ResponseType] | None = None
    scope: Annotated[str, Field(max_length=2000), AfterValidator(_check_scope)] | None = None
    client_uri: WebUri | None = None
    logo_uri: WebUri | None = None
    policy_uri: WebUri | None = None
    tos_uri: WebUri | None = None
    contacts: list[Annotated[EmailStr, Field(max_length=320)]] = Field(
        default_factory=list, max_length=20
    )
    jwks_uri: Annotated[str, AfterValidator(check_jwks_uri)] | None = None
    jwks: Annotated[dict[str, Any], AfterValidator(check_jwks)] | None = None
    software_id: Text | None = None
    software_version: Text | None = None
    tls_client_auth_subject_dn: (
        Annotated[
            str,
            Field(min_length=1, max_length=1000),
            AfterValidator(_check_text),
            AfterValidator(check_subject_dn),
        ]
        | None
    ) = None
    tls_client_auth_san_dns: (
        Annotated[str, Field(min_length=1, max_length=255), AfterValidator(_check_text)] | None
    ) = None
    tls_client_auth_san_uri: (
        Annotated[str, Field(min_length=1, max_length=MAX_URI), AfterValidator(_check_text)] | None
    ) = None
    tls_client_auth_san_ip: (
        Annotated[ipaddress.IPv4Address | ipaddress.IPv6Address, AfterValidator(_check_ip)] | None
    ) = None
    tls_client_auth_san_email: Annotated[EmailStr, Field(max_length=320)] | None = None
    token_endpoint_auth_signing_alg: (
        Annotated[
            StrictStr,
            Field(json_schema_extra={"enum": [*ASYMMETRIC_SIGNING_ALGS, *HMAC_SIGNING_ALGS]}),
        ]
        | None
    ) = None
    tls_client_certificate_bound_access_tokens: StrictBool = False
    # Appward's own: 'strict' or 'compat' for the aud of this client's assertions; None
    # follows the server's APPWARD_ASSERTION_AUDIENCE (docs/security.md).
    assertion_audience: Literal["compat", "strict"] | None = None
    access_token_ttl: StrictInt | None = None
    refresh_token_ttl: StrictInt | None = None
    refresh_token_absolute_ttl: StrictInt | None = None
    issue_refresh_tokens: StrictBool | None = None
    rotate_refresh_tokens: StrictBool = True
    require_pkce: StrictBool = True
    skip_consent: StrictBool = False

    @model_validator(mode="after")
    def _apply_cross_field_rules(self, info: ValidationInfo) -> ClientMetadata:
        bounds = (info.context or {}).get("bounds")
        if not isinstance(bounds, LifetimeBounds):
            raise TypeError("validate ClientMetadata with parse_client_metadata()")
        self.grant_types = list(dict.fromkeys(self.grant_types))
        if self.response_types is None:
            self.response_types = ["code"] if "authorization_code" in self.grant_types else []
        self.response_types = list(dict.fromkeys(self.response_types))
        if self.issue_refresh_tokens is None:
            self.issue_refresh_tokens = "refresh_token" in self.grant_types
        if self.access_token_ttl is None:
            self.access_token_ttl = bounds.access_token_default
        if self.refresh_token_ttl is None:
            self.refresh_token_ttl = bounds.refresh_token_default
        if self.refresh_token_absolute_ttl is None:
            self.refresh_token_absolute_ttl = bounds.refresh_token_absolute_default
        problems = [
            *self._redirect_problems(),
            *self._grant_problems(),
            *self._credential_problems(),
            *self._admin_scope_problems(),
            *self._lifetime_problems(bounds),
        ]
        if problems:
            redirect_only = all(p.field.startswith("redirect_uris") for p in problems)
            error = InvalidRedirectUri if redirect_only else InvalidClientMetadata
            raise error(_summary(problems), fields=problems)
        self.redirect_uris = list(dict.fromkeys(self.redirect_uris))
        return self

    def _redirect_problems(self) -> list[FieldError]:
        problems = []
        for index, uri in enumerate(self.redirect_uris):
            try:
                check_redirect_uri(uri, self.application_type)
            except ValueError as exc:
                problems.append(FieldError(f"redirect_uris[{index}]", f"{uri!r} {exc}"))
        if "authorization_code" in self.grant_types and not self.redirect_uris:
            problems.append(
                FieldError("redirect_uris", "at least one is required for authorization_code")
            )
        return problems

    def _grant_problems(self) -> list[FieldError]:
        problems = []
        has_code_grant = "authorization_code" in self.grant_types
        has_code_response = "code" in (self.response_types or [])
        if has_code_grant != has_code_response:
            problems.append(
                FieldError(
                    "response_types",
                    "'code' goes together with the authorization_code grant (RFC 7591 §2.1)",
                )
            )
        if "refresh_token" in self.grant_types and not has_code_grant:
            problems.append(
                FieldError("grant_types", "refresh_token is only issued with authorization_code")
            )
        if self.issue_refresh_tokens and "refresh_token" not in self.grant_types:
            problems.append(
                FieldError("issue_refresh_tokens", "needs the refresh_token grant type")
            )
        if not self.grant_types:
            problems.append(FieldError("grant_types", "at least one grant type is required"))
        if auth_methods.is_public_method(self.token_endpoint_auth_method):
            if "client_credentials" in self.grant_types:
                problems.append(
                    FieldError(
                        "grant_types",
                        "a public client (token_endpoint_auth_method 'none') cannot use "
                        "client_credentials",
                    )
                )
            if not self.require_pkce:
                problems.append(FieldError("require_pkce", "public clients always require PKCE"))
        return problems

    def _admin_scope_problems(self) -> list[FieldError]:
        # The admin scope is only ever granted to a client's own client_credentials token
        # (see policy.check_admin): a public client could pass it on to any end user.
        if ADMIN_SCOPE not in self.scopes:
            return []
        if auth_methods.is_public_method(self.token_endpoint_auth_method):
            return [
                FieldError(
                    "scope",
                    f"{ADMIN_SCOPE} is only for confidential clients; a public client "
                    "(token_endpoint_auth_method 'none') can never hold it",
                )
            ]
        if "client_credentials" not in self.grant_types:
            return [
                FieldError(
                    "scope",
                    f"{ADMIN_SCOPE} is only granted through client_credentials: add that "
                    "grant type or drop the scope",
                )
            ]
        return []

    def _credential_problems(self) -> list[FieldError]:
        problems = []
        method = self.token_endpoint_auth_method
        if self.jwks is not None and self.jwks_uri is not None:
            problems.append(FieldError("jwks", "jwks and jwks_uri cannot both be given"))
        given_tls = [f for f in TLS_FIELDS if getattr(self, f) is not None]
        if method != "tls_client_auth":
            # RFC 8705 §2.1.2: these fields only mean something to tls_client_auth.
            problems.extend(
                FieldError(f, "only used with token_endpoint_auth_method tls_client_auth")
                for f in given_tls
            )
        elif len(given_tls) != 1:
            # RFC 8705 §2.1.2: "exactly one" of them says which certificate is the client's.
            problems.append(
                FieldError(
                    "tls_client_auth_subject_dn",
                    "tls_client_auth needs exactly one of " + ", ".join(TLS_FIELDS),
                )
            )
        if auth_methods.uses_keys(method) and self.jwks is None and self.jwks_uri is None:
            problems.append(
                FieldError("jwks", f"{method} needs the client's public keys: jwks or jwks_uri")
            )
        problems.extend(self._signing_alg_problems())
        return problems

    def _signing_alg_problems(self) -> list[FieldError]:
        alg = self.token_endpoint_auth_signing_alg
        method = self.token_endpoint_auth_method
        if alg is None:
            return []
        allowed = auth_methods.signing_algs(method)
        if not allowed:
            return [
                FieldError(
                    "token_endpoint_auth_signing_alg",
                    f"only used with a method that signs assertions, not {method}",
                )
            ]
        if alg not in allowed:
            return [
                FieldError(
                    "token_endpoint_auth_signing_alg",
                    f"{method} assertions may be signed with: " + ", ".join(allowed),
                )
            ]
        return []

    def _lifetime_problems(self, bounds: LifetimeBounds) -> list[FieldError]:
        problems = []
        access = self.access_token_ttl or 0
        sliding = self.refresh_token_ttl or 0
        absolute = self.refresh_token_absolute_ttl or 0
        if not bounds.access_token_min <= access <= bounds.access_token_max:
            problems.append(
                FieldError(
                    "access_token_ttl",
                    f"must be between {bounds.access_token_min} and "
                    f"{bounds.access_token_max} seconds",
                )
            )
        if not 1 <= sliding <= bounds.refresh_token_max:
            problems.append(
                FieldError(
                    "refresh_token_ttl", f"must be between 1 and {bounds.refresh_token_max} seconds"
                )
            )
        if not 1 <= absolute <= bounds.refresh_token_absolute_max:
            problems.append(
                FieldError(
                    "refresh_token_absolute_ttl",
                    f"must be between 1 and {bounds.refresh_token_absolute_max} seconds",
                )
            )
        elif absolute < sliding:
            problems.append(
                FieldError(
                    "refresh_token_absolute_ttl", "must not be shorter than refresh_token_ttl"
                )
            )
        return problems

    @property
    def scopes(self) -> list[str]:
        return self.scope.split(" ") if self.scope else []

    @property
    def uses_secret(self) -> bool:
        return auth_methods.uses_secret(self.token_endpoint_auth_method)

    def to_wire(self) -> dict[str, Any]:
        """Returns the metadata as JSON-ready RFC 7591 fields, leaving out unset ones."""
        return self.model_dump(mode="json", exclude_none=True)


def _summary(problems: list[FieldError]) -> str:
    first = problems[0]
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return f"{first.field}: {first.message}{more}"


_PYDANTIC_INTERNAL = re.compile(
    r"^(function-|constrained-|json-or-python|lax-or-strict|is-instance)|[\[(]"
)


def _field_name(loc: tuple[int | str, ...]) -> str:
    name = ""
    for part in loc:
        if isinstance(part, int):
            name += f"[{part}]"
        elif _PYDANTIC_INTERNAL.match(part):
            continue  # pydantic's validator names (lax-or-strict[...], function-after[...])
        else:
            name += f".{part}" if name else part
    return name or "metadata"


def _message(err: Mapping[str, Any]) -> str:
    msg = str(err["msg"])
    if err["type"] == "extra_forbidden":
        return "is not a known client metadata field"
    return msg.removeprefix("Value error, ")


def field_errors(exc: ValidationError) -> list[FieldError]:
    """Returns one FieldError per field pydantic complained about, named as the caller
    wrote it (``redirect_uris[0]``), never with pydantic's internal names."""
    seen: dict[str, FieldError] = {}
    for err in exc.errors():
        field = _field_name(err["loc"])
        seen.setdefault(field, FieldError(field, _message(err)))
    return list(seen.values())


def parse_client_metadata(data: Any, bounds: LifetimeBounds) -> ClientMetadata:
    """Returns validated metadata with defaults applied.

    Raises InvalidRedirectUri when only redirect URIs are wrong, InvalidClientMetadata
    otherwise, each with one FieldError per problem.
    """
    if not isinstance(data, Mapping):
        raise InvalidClientMetadata("client metadata must be a JSON object")
    try:
        return ClientMetadata.model_validate(dict(data), context={"bounds": bounds})
    except ValidationError as exc:
        problems = field_errors(exc)
        if all(p.field.startswith("redirect_uris") for p in problems):
            raise InvalidRedirectUri(_summary(problems), fields=problems) from None
        raise InvalidClientMetadata(_summary(problems), fields=problems) from None
