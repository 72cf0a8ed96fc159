"""OAuth endpoints. For now the token endpoint's client_credentials grant."""

from __future__ import annotations

import base64
import binascii
from urllib.parse import parse_qsl, unquote_plus

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from appward.auth import PresentedCredentials, authenticate_client
from appward.errors import AppwardError, InvalidClient, InvalidRequest, UnsupportedGrantType
from appward.tokens.service import TokenService
from appward.web.deps import Session, State
from appward.web.responses import NO_STORE, oauth_error

router = APIRouter(prefix="/oauth2", tags=["oauth"])

FORM = "application/x-www-form-urlencoded"
SUPPORTED_GRANTS = ("client_credentials",)
MAX_FORM_BYTES = 16 * 1024


async def read_form(request: Request) -> dict[str, str]:
    """Returns the form parameters. Raises InvalidRequest for a body that is not a form,
    is too large, or repeats a parameter (RFC 6749 §3.1, §3.2)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != FORM:
        raise InvalidRequest(f"the request body must be {FORM}")
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise InvalidRequest("the request body is too large")
    try:
        pairs = parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=False)
    except (UnicodeDecodeError, ValueError):
        raise InvalidRequest("the request body is not a valid form") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:
            raise InvalidRequest(f"parameter {name!r} is repeated")
        # RFC 6749 §3.1: parameters sent without a value are treated as omitted.
        if value != "":
            form[name] = value
    return form


def presented_credentials(request: Request, form: dict[str, str]) -> PresentedCredentials:
    """Returns how the client tried to authenticate (RFC 6749 §2.3).

    Raises InvalidRequest when more than one method is used, InvalidClient when none is
    or the Basic header is malformed.
    """
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            raise InvalidClient("only the Basic scheme authenticates clients here")
        if "client_secret" in form:
            raise InvalidRequest("use one client authentication method, not Basic and the body")
        client_id, secret = _decode_basic(encoded.strip())
        if "client_id" in form and form["client_id"] != client_id:
            raise InvalidRequest("client_id in the body differs from the Basic credentials")
        return PresentedCredentials("client_secret_basic", client_id, secret)
    form_client_id = form.get("client_id")
    if form_client_id is None:
        raise InvalidClient("client authentication is required")
    if "client_secret" in form:
        return PresentedCredentials("client_secret_post", form_client_id, form["client_secret"])
    return PresentedCredentials("none", form_client_id)


def _decode_basic(encoded: str) -> tuple[str, str]:
    # RFC 6749 §2.3.1: both parts are form-urlencoded before the Basic encoding.
    try:
        decoded = base64.b64decode(encoded, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise InvalidClient("the Basic credentials are malformed") from None
    client_id, colon, secret = decoded.partition(":")
    if not colon or not client_id:
        raise InvalidClient("the Basic credentials are malformed")
    return unquote_plus(client_id), unquote_plus(secret)


@router.post("/token", summary="Token endpoint (RFC 6749 §3.2)")
async def token(request: Request, state: State, session: Session) -> JSONResponse:
    basic_attempted = "authorization" in request.headers
    try:
        form = await read_form(request)
        grant_type = form.get("grant_type")
        if grant_type is None:
            raise InvalidRequest("grant_type is required")
        if grant_type not in SUPPORTED_GRANTS:
            raise UnsupportedGrantType(f"grant_type {grant_type!r} is not supported")
        client = await authenticate_client(
            session,
            presented_credentials(request, form),
            verifier=state.verifier,
            clock=state.clock,
        )
        tokens = TokenService(state.key_ring(), state.settings.issuer, state.clock)
        body = tokens.client_credentials(client, form.get("scope"))
    except AppwardError as exc:
        return oauth_error(exc, basic_attempted=basic_attempted)
    return JSONResponse(body, headers=NO_STORE)
