"""The error catalogue: every error the domain raises, with its literal RFC code.

``description`` is public (sent to the caller); ``detail`` is internal (logged only).
Neither ever holds a secret, token, assertion or certificate.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

# RFC 6749 §5.2: error_description "MUST NOT include characters outside the set
# %x20-21 / %x23-5B / %x5D-7E" (printable ASCII without '"' and '\\').
_OUTSIDE_DESCRIPTION_SET = re.compile(r"[^\x20\x21\x23-\x5b\x5d-\x7e]")


# Descriptions and details echo what the caller sent (a scope, a redirect URI): past these
# many characters the echo is cut, so a huge value is neither sent back nor logged whole.
MAX_DESCRIPTION = 500
MAX_DETAIL = 1000


def _shortened(text: str | None, limit: int = MAX_DESCRIPTION) -> str | None:
    # Cut in the middle: a message says what is wrong after the value it quotes
    # ("'https://...' is longer than 2000 characters").
    if text is None or len(text) <= limit:
        return text
    keep = (limit - 3) // 2
    return text[:keep] + "..." + text[-keep:]


# The one such character our own descriptions use ("RFC 6749 §3.3"), spelt out.
_STAND_INS = {"§": "section "}


def safe_description(text: str) -> str:
    """Returns ``text`` with every character RFC 6749 §5.2 forbids in error_description
    replaced: "§" by "section ", any other percent-encoded (its UTF-8 bytes as %XX: a
    quote is %22, a backslash %5C, a newline %0A, "é" %C3%A9).

    Descriptions often echo the caller's input (a grant type, a parameter name); this
    keeps a JSON body or a redirect's query within the RFC's character set whatever the
    input held, and keeps a log line on one line.
    """
    if _OUTSIDE_DESCRIPTION_SET.search(text) is None:
        return text
    return _OUTSIDE_DESCRIPTION_SET.sub(_replace, text)


def _replace(match: re.Match[str]) -> str:
    char = match.group()
    stand_in = _STAND_INS.get(char)
    if stand_in is not None:
        return stand_in
    return "".join(f"%{byte:02X}" for byte in char.encode("utf-8", "surrogatepass"))


@dataclass(frozen=True, slots=True)
class FieldError:
    """One problem with one input field, for forms, problem details and the CLI."""

    field: str
    message: str


class AppwardError(Exception):
    """Base of every error the domain raises on purpose."""

    error: str = "server_error"
    status_code: int = 500
    title: str = "Server error"

    def __init__(
        self,
        description: str | None = None,
        *,
        detail: str | None = None,
        fields: list[FieldError] | None = None,
    ) -> None:
        self.description = _shortened(description) or self.title
        self.detail = _shortened(detail, MAX_DETAIL)
        self.fields = fields or []  # each names one field: bounded by the body limit
        super().__init__(self.description)


# --- RFC 6749 §5.2 (token endpoint) and §4.1.2.1 (authorization endpoint) ---


class InvalidRequest(AppwardError):
    """The request is missing a required parameter, includes an unsupported parameter
    value, repeats a parameter, or is otherwise malformed (RFC 6749 §5.2)."""

    error = "invalid_request"
    status_code = 400
    title = "Invalid request"


class PayloadTooLarge(InvalidRequest):
    """The request content is larger than the server is willing or able to process
    (RFC 9110 §15.5.14); in OAuth terms a malformed request (RFC 6749 §5.2)."""

    status_code = 413
    title = "Request too large"


class HeaderTooLarge(InvalidRequest):
    """The request's header fields are too large, individually or together (RFC 6585 §5)."""

    status_code = 431
    title = "Request header fields too large"


class UriTooLong(InvalidRequest):
    """The request target is longer than the server is willing to interpret (RFC 9110
    §15.5.15)."""

    status_code = 414
    title = "URI too long"


class AuthFailure(StrEnum):
    """Why a client authentication failed, in a few words fixed in advance: the metrics'
    label (never the detail, which can name what the caller sent)."""

    MALFORMED = "malformed"  # the credentials cannot be read (no method, bad Basic, not a JWT)
    UNKNOWN_CLIENT = "unknown_client"
    WRONG_METHOD = "wrong_method"  # not the method the client registered
    INVALID_SECRET = "invalid_secret"  # wrong, revoked or expired
    INVALID_ASSERTION = "invalid_assertion"  # signature, alg, kid or claims
    REPLAYED_ASSERTION = "replayed_assertion"
    KEYS_UNAVAILABLE = "keys_unavailable"  # the jwks_uri could not be fetched
    INVALID_CERTIFICATE = "invalid_certificate"
    CLIENT_DISABLED = "client_disabled"
    NOT_ALLOWED = "not_allowed"  # authenticated, but this endpoint is not for it
    OTHER = "other"


class InvalidClient(AppwardError):
    """Client authentication failed (RFC 6749 §5.2)."""

    error = "invalid_client"
    status_code = 401
    title = "Client authentication failed"

    def __init__(
        self,
        description: str | None = None,
        *,
        detail: str | None = None,
        reason: AuthFailure | None = None,
    ) -> None:
        super().__init__(description, detail=detail)
        # Set where the failure is known; auth.authenticate_client fills in its stage's.
        self.reason = reason


class InvalidGrant(AppwardError):
    """The provided authorization grant or refresh token is invalid, expired, revoked or
    was issued to another client (RFC 6749 §5.2)."""

    error = "invalid_grant"
    status_code = 400
    title = "Invalid grant"


class UnauthorizedClient(AppwardError):
    """The authenticated client is not authorized to use this authorization grant type
    (RFC 6749 §5.2)."""

    error = "unauthorized_client"
    status_code = 400
    title = "Grant type not allowed for this client"


class UnsupportedGrantType(AppwardError):
    """The authorization grant type is not supported by the authorization server
    (RFC 6749 §5.2)."""

    error = "unsupported_grant_type"
    status_code = 400
    title = "Unsupported grant type"


class InvalidScope(AppwardError):
    """The requested scope is invalid, unknown, malformed, or exceeds the scope granted
    (RFC 6749 §5.2)."""

    error = "invalid_scope"
    status_code = 400
    title = "Invalid scope"


# --- RFC 6750 §3.1 (bearer tokens at the admin API) ---


class InvalidToken(AppwardError):
    """The access token provided is expired, revoked, malformed, or invalid for other
    reasons (RFC 6750 §3.1)."""

    error = "invalid_token"
    status_code = 401
    title = "Invalid access token"

    def __init__(
        self, description: str | None = None, *, detail: str | None = None, missing: bool = False
    ) -> None:
        super().__init__(description, detail=detail)
        # RFC 6750 §3.1: a request with no token at all gets a challenge without an error.
        self.missing = missing


class InsufficientScope(AppwardError):
    """The request requires higher privileges than provided by the access token
    (RFC 6750 §3.1)."""

    error = "insufficient_scope"
    status_code = 403
    title = "Insufficient scope"


# --- RFC 7591 §3.2.2 (client metadata, shared by the admin API and DCR) ---


class InvalidClientMetadata(AppwardError):
    """The value of one of the client metadata fields is invalid and the server has
    rejected this request (RFC 7591 §3.2.2)."""

    error = "invalid_client_metadata"
    status_code = 400
    title = "Invalid client metadata"


class InvalidRedirectUri(InvalidClientMetadata):
    """The value of one or more redirection URIs is invalid (RFC 7591 §3.2.2)."""

    error = "invalid_redirect_uri"
    title = "Invalid redirect URI"


# --- Resource errors of the admin API (RFC 9110 status codes) ---


class InvalidSoftwareStatement(AppwardError):
    """The software statement presented is invalid (RFC 7591 §3.2.2)."""

    error = "invalid_software_statement"
    status_code = 400
    title = "Invalid software statement"


class UnapprovedSoftwareStatement(AppwardError):
    """The software statement presented is not approved for use by this authorization
    server (RFC 7591 §3.2.2)."""

    error = "unapproved_software_statement"
    status_code = 400
    title = "Unapproved software statement"


class NotFound(AppwardError):
    """The target resource does not exist (RFC 9110 §15.5.5)."""

    error = "not_found"
    status_code = 404
    title = "Not found"


class Conflict(AppwardError):
    """The request conflicts with the current state of the target resource
    (RFC 9110 §15.5.10)."""

    error = "conflict"
    status_code = 409
    title = "Conflict"


class ConfirmationRequired(Conflict):
    """The change would likely break something in use (a secret used in the last 24
    hours): it is made only when the caller confirms, having been told why (RFC 9110
    §15.5.10: the caller can resolve the conflict and resubmit)."""

    error = "confirmation_required"
    title = "Confirmation required"

    def __init__(
        self, description: str, *, last_used_at: datetime, detail: str | None = None
    ) -> None:
        super().__init__(description, detail=detail)
        self.last_used_at = last_used_at

    def with_hint(self, how_to_confirm: str) -> ConfirmationRequired:
        """Returns the same refusal, its description ending with how the adapter's caller
        confirms (``?confirm=true``, ``--confirm``)."""
        return ConfirmationRequired(
            f"{self.description}; {how_to_confirm}",
            last_used_at=self.last_used_at,
            detail=self.detail,
        )


class PreconditionFailed(AppwardError):
    """A condition given in the request headers evaluated to false: the resource changed
    since the caller read it (RFC 9110 §15.5.13)."""

    error = "precondition_failed"
    status_code = 412
    title = "The resource changed since it was read"


class PreconditionRequired(AppwardError):
    """The origin server requires the request to be conditional (RFC 6585 §3)."""

    error = "precondition_required"
    status_code = 428
    title = "If-Match is required"


class InvalidInput(AppwardError):
    """A request body or parameter of the admin API that is not client metadata is
    malformed (RFC 9110 §15.5.1)."""

    error = "invalid_input"
    status_code = 400
    title = "Invalid input"


class UnsupportedResponseType(AppwardError):
    """The authorization server does not support obtaining an authorization code using
    this method (RFC 6749 §4.1.2.1)."""

    error = "unsupported_response_type"
    status_code = 400
    title = "Unsupported response type"


class AccessDenied(AppwardError):
    """The resource owner or authorization server denied the request (RFC 6749 §4.1.2.1)."""

    error = "access_denied"
    status_code = 403
    title = "Access denied"


class LoginRequired(AppwardError):
    """The authorization server requires end-user authentication, and prompt=none forbids
    asking for it (OpenID Connect Core §3.1.2.6)."""

    error = "login_required"
    status_code = 400
    title = "Login required"


class ConsentRequired(AppwardError):
    """The authorization server requires end-user consent, and prompt=none forbids asking
    for it (OpenID Connect Core §3.1.2.6)."""

    error = "consent_required"
    status_code = 400
    title = "Consent required"


class UnsupportedTokenType(AppwardError):
    """The authorization server does not support the revocation of the presented token
    type (RFC 7009 §2.2.1)."""

    error = "unsupported_token_type"
    status_code = 400
    title = "Unsupported token type"


class TemporarilyUnavailable(AppwardError):
    """The authorization server is currently unable to handle the request due to a
    temporary overloading (RFC 6749 §4.1.2.1)."""

    error = "temporarily_unavailable"
    status_code = 503
    title = "Temporarily unavailable"


class TooManyAttempts(AppwardError):
    """The user has sent too many requests in a given amount of time (RFC 6585 §4)."""

    error = "too_many_attempts"
    status_code = 429
    title = "Too many attempts"

    def __init__(
        self, description: str | None = None, *, retry_after: int = 60, detail: str | None = None
    ) -> None:
        super().__init__(description, detail=detail)
        self.retry_after = retry_after  # seconds, for the Retry-After header
