"""Dynamic Client Registration endpoints: POST /oauth2/register (RFC 7591) and
GET/PUT/DELETE /oauth2/register/{client_id} (RFC 7592). Thin: the rules are
registration/'s (rfc7591.py, rfc7592.py, policy.py)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Security
from fastapi.responses import JSONResponse, Response

from appward.audit import Actor
from appward.clients.metadata import ClientMetadata
from appward.errors import InvalidClientMetadata
from appward.rate_limit import address_key
from appward.registration.policy import DCR_FIELDS
from appward.registration.rfc7591 import RegistrationService
from appward.registration.rfc7592 import (
    Registration,
    RegistrationManagementService,
    registration_metadata,
)
from appward.web.deps import RequestServices, State, source_ip
from appward.web.forms import body_limits, parse_json, read_limited
from appward.web.openapi import (
    INITIAL_ACCESS_TOKEN,
    REGISTRATION_ACCESS_TOKEN,
    oauth_error_responses,
)
from appward.web.responses import NO_STORE

router = APIRouter(tags=["dynamic client registration"])

JSON_TYPE = "application/json"


async def registration_service(
    request: Request, state: State, services: RequestServices
) -> RegistrationService:
    address = await source_ip(request, state)
    return services.acting_as(Actor("dcr", address)).registrations


async def management_service(
    request: Request, state: State, services: RequestServices
) -> RegistrationManagementService:
    address = await source_ip(request, state)
    return services.acting_as(Actor("dcr", address)).registration_management


Registrations = Annotated[RegistrationService, Depends(registration_service)]
Management = Annotated[RegistrationManagementService, Depends(management_service)]


def _bearer(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


async def _json_metadata(request: Request) -> dict[str, Any]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != JSON_TYPE:
        raise InvalidClientMetadata(f"the request body must be {JSON_TYPE} (RFC 7591 §3.1)")
    raw = await read_limited(request, body_limits(request).registration)
    try:
        body = parse_json(raw)
    except ValueError as exc:
        raise InvalidClientMetadata(f"the request body {exc}") from None
    if not isinstance(body, dict):
        raise InvalidClientMetadata("the request body must be a JSON object of client metadata")
    return body


def _response(registration: Registration, issuer: str, status_code: int = 200) -> JSONResponse:
    client = registration.client
    body: dict[str, Any] = {
        "client_id": client.client_id,
        "client_id_issued_at": int(client.created_at.timestamp()),
        **registration_metadata(client),
    }
    secret = registration.secret
    if secret is not None:
        expires = secret.record.expires_at
        body["client_secret"] = secret.plaintext
        body["client_secret_expires_at"] = int(expires.timestamp()) if expires else 0
    if registration.software_statement is not None:
        body["software_statement"] = registration.software_statement
    if registration.registration_token is not None:
        body["registration_access_token"] = registration.registration_token
    body["registration_client_uri"] = f"{issuer}/oauth2/register/{client.client_id}"
    return JSONResponse(body, status_code=status_code, headers={**NO_STORE, "Pragma": "no-cache"})


async def count_request(request: Request, state: State) -> None:
    """Counts the request against its source's limit (registration and management share
    one), before anything else is read, so a flood costs the least possible. Counted
    with registration closed too: registrations made before keep their management
    endpoint, and a PUT with a client_secret costs an argon2 run."""
    address = address_key(await source_ip(request, state))
    await state.registration_limiter.hit(address, state.clock.now())


Limited = Depends(count_request)
# Both only document their bearer scheme; the registration service checks the token.
InitialAccessToken = Security(INITIAL_ACCESS_TOKEN)
RegistrationAccessToken = Security(REGISTRATION_ACCESS_TOKEN)


# --- the OpenAPI description of the bodies, which are read raw (see _json_metadata) ---

FIELD_DESCRIPTIONS = {
    "redirect_uris": "Redirection URIs for the authorization code flow (RFC 6749 §3.1.2).",
    "token_endpoint_auth_method": "How the client authenticates at the token endpoint.",
    "grant_types": "Grant types the client may use.",
    "response_types": "Response types the client may use; derived from grant_types if left out.",
    "client_name": "Name shown to end users; client_name#<language tag> localizes it.",
    "client_uri": "Home page of the client.",
    "logo_uri": "Logo of the client.",
    "scope": "Space-separated scopes the client may request.",
    "contacts": "E-mail addresses of the people responsible for the client.",
    "tos_uri": "Terms of service of the client.",
    "policy_uri": "Privacy policy of the client.",
    "jwks_uri": "URL of the client's public keys (JWK Set).",
    "jwks": "The client's public keys (JWK Set), when not at jwks_uri.",
    "software_id": "Identifier of the client software, the same for every instance.",
    "software_version": "Version of the client software.",
    "application_type": "web or native (OpenID Connect Dynamic Client Registration §2).",
    "tls_client_auth_subject_dn": "Subject DN of the client's certificate (RFC 8705 §2.1.2).",
    "tls_client_auth_san_dns": "DNS name in the client certificate's SAN (RFC 8705 §2.1.2).",
    "tls_client_auth_san_uri": "URI in the client certificate's SAN (RFC 8705 §2.1.2).",
    "tls_client_auth_san_ip": "IP address in the client certificate's SAN (RFC 8705 §2.1.2).",
    "tls_client_auth_san_email": "E-mail in the client certificate's SAN (RFC 8705 §2.1.2).",
    "token_endpoint_auth_signing_alg": "The one algorithm the client signs its assertions "
    "with (private_key_jwt, client_secret_jwt); absent: any the method allows.",
    "tls_client_certificate_bound_access_tokens": "Bind the client's tokens to its TLS "
    "client certificate (RFC 8705 §3).",
}
LOCALIZED_NAMES = {"^client_name#.+$": {"type": "string", "maxLength": 200}}


def _metadata_schema() -> dict[str, Any]:
    """RFC 7591 §2 client metadata as DCR takes it: the wire fields of ClientMetadata."""
    model = ClientMetadata.model_json_schema()
    properties: dict[str, Any] = {
        name: {**model["properties"][name], "description": FIELD_DESCRIPTIONS[name]}
        for name in DCR_FIELDS
    }
    properties["software_statement"] = {
        "type": "string",
        "description": "A JWT from a trusted publisher whose claims vouch for the metadata "
        "(RFC 7591 §2.3).",
    }
    return {
        "type": "object",
        "properties": properties,
        "patternProperties": LOCALIZED_NAMES,
        # RFC 7591 §2: the server ignores metadata it does not understand.
        "additionalProperties": True,
    }


def _request_body(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "required": True,
        "description": description,
        "content": {JSON_TYPE: {"schema": schema}},
    }


REGISTRATION_REQUEST = _metadata_schema()
UPDATE_REQUEST: dict[str, Any] = {
    **REGISTRATION_REQUEST,
    "required": ["client_id"],
    "properties": {
        "client_id": {"type": "string", "description": "This registration's client_id."},
        "client_secret": {
            "type": "string",
            "description": "Left out, or the client's current secret (RFC 7592 §2.2).",
        },
        **REGISTRATION_REQUEST["properties"],
    },
}
CLIENT_INFORMATION: dict[str, Any] = {
    "type": "object",
    "description": "The registered metadata, as stored, with the client's credentials "
    "(RFC 7591 §3.2.1, RFC 7592 §3).",
    "required": ["client_id", "client_id_issued_at", "registration_client_uri"],
    "properties": {
        "client_id": {"type": "string"},
        "client_id_issued_at": {"type": "integer", "description": "Epoch seconds."},
        "client_secret": {
            "type": "string",
            "description": "Shown once, now, for a secret-based auth method.",
        },
        "client_secret_expires_at": {
            "type": "integer",
            "description": "Epoch seconds; 0 means no expiry.",
        },
        "registration_access_token": {
            "type": "string",
            "description": "For the RFC 7592 endpoints; a new one after each update.",
        },
        "registration_client_uri": {"type": "string", "description": "This registration."},
        **REGISTRATION_REQUEST["properties"],
    },
    "patternProperties": LOCALIZED_NAMES,
}


def _client_information(description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON_TYPE: {"schema": CLIENT_INFORMATION}}}


@router.post(
    "/oauth2/register",
    status_code=201,
    summary="Register a client (RFC 7591)",
    description="A client registers itself with its metadata. Depending on the server's "
    "policy this needs an initial access token (Bearer) or a software statement, or "
    "neither.",
    dependencies=[Limited, InitialAccessToken],
    responses={
        201: _client_information("Registered"),
        **oauth_error_responses(
            400,
            401,
            413,
            429,
            described={404: "Dynamic Client Registration is not enabled on this server"},
        ),
    },
    openapi_extra={
        # The token is optional where the policy admits registrations without one.
        "security": [{}],
        "requestBody": _request_body(REGISTRATION_REQUEST, "RFC 7591 §2 client metadata."),
    },
)
async def register(request: Request, state: State, registrations: Registrations) -> JSONResponse:
    registration = await registrations.register(
        await _json_metadata(request), initial_access_token=_bearer(request)
    )
    return _response(registration, state.settings.issuer, status_code=201)


@router.get(
    "/oauth2/register/{client_id}",
    summary="Read a registration (RFC 7592)",
    description="The client's registered metadata, for the holder of its "
    "registration access token.",
    dependencies=[Limited, RegistrationAccessToken],
    responses={
        200: _client_information("The registration"),
        **oauth_error_responses(401, 429),
    },
)
async def read_registration(
    client_id: str, request: Request, state: State, management: Management
) -> JSONResponse:
    registration = await management.read(client_id, _bearer(request))
    return _response(registration, state.settings.issuer)


@router.put(
    "/oauth2/register/{client_id}",
    summary="Replace a registration (RFC 7592)",
    description="Replaces the client's metadata with the body (fields left out go back to "
    "their defaults) and rotates the registration access token.",
    dependencies=[Limited, RegistrationAccessToken],
    responses={
        200: _client_information("The registration as replaced, with a new access token"),
        **oauth_error_responses(400, 401, 413, 429, 503),
    },
    openapi_extra={
        "requestBody": _request_body(
            UPDATE_REQUEST, "The full RFC 7591 §2 client metadata, with its client_id."
        ),
    },
)
async def replace_registration(
    client_id: str, request: Request, state: State, management: Management
) -> JSONResponse:
    token = _bearer(request)
    # The token is checked before the body is read: a stranger learns nothing from
    # what the server would say about their metadata.
    await management.read(client_id, token)
    registration = await management.replace(client_id, token, await _json_metadata(request))
    return _response(registration, state.settings.issuer)


@router.delete(
    "/oauth2/register/{client_id}",
    status_code=204,
    summary="Delete a registration (RFC 7592)",
    description="Deletes the client: its secrets, tokens and registration access token "
    "stop working at once.",
    dependencies=[Limited, RegistrationAccessToken],
    responses=oauth_error_responses(401, 429),
)
async def delete_registration(client_id: str, request: Request, management: Management) -> Response:
    await management.delete(client_id, _bearer(request))
    return Response(status_code=204, headers=NO_STORE)
