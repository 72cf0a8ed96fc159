"""Dynamic Client Registration endpoints: POST /oauth2/register (RFC 7591) and
GET/PUT/DELETE /oauth2/register/{client_id} (RFC 7592). Thin: the rules are
registration.service's."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from appward.audit import Actor, AuditLog
from appward.errors import InvalidClientMetadata, InvalidRequest
from appward.rate_limit import address_key
from appward.registration.service import Registration, RegistrationService, registration_metadata
from appward.web.deps import Session, State, build_client_service, source_ip
from appward.web.json_body import parse_json
from appward.web.responses import NO_STORE

router = APIRouter(tags=["dynamic client registration"])

MAX_BODY_BYTES = 16 * 1024
JSON_TYPE = "application/json"


class RequestTooLarge(InvalidRequest):
    status_code = 413
    title = "Request too large"


async def registration_service(
    request: Request, state: State, session: Session
) -> RegistrationService:
    address = await source_ip(request, state)
    audit = AuditLog(session, state.clock, Actor("dcr", address))
    clients = build_client_service(state, session, audit)
    policy = state.registration_policy
    return RegistrationService(session, state.clock, clients, policy, state.verifier, audit)


Registrations = Annotated[RegistrationService, Depends(registration_service)]


def _bearer(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


async def _json_metadata(request: Request) -> dict[str, Any]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != JSON_TYPE:
        raise InvalidClientMetadata(f"the request body must be {JSON_TYPE} (RFC 7591 §3.1)")
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise RequestTooLarge(f"the request body is larger than {MAX_BODY_BYTES} bytes")
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_BODY_BYTES:
            raise RequestTooLarge(f"the request body is larger than {MAX_BODY_BYTES} bytes")
    try:
        body = parse_json(bytes(raw))
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
    one), before anything else is read, so a flood costs the least possible."""
    if state.registration_policy.enabled:
        address = address_key(await source_ip(request, state))
        await state.registration_limiter.hit(address, state.clock.now())


Limited = Depends(count_request)


@router.post(
    "/oauth2/register",
    status_code=201,
    summary="Register a client (RFC 7591)",
    dependencies=[Limited],
)
async def register(request: Request, state: State, registrations: Registrations) -> JSONResponse:
    registration = await registrations.register(
        await _json_metadata(request), initial_access_token=_bearer(request)
    )
    return _response(registration, state.settings.issuer, status_code=201)


@router.get(
    "/oauth2/register/{client_id}", summary="Read a registration (RFC 7592)", dependencies=[Limited]
)
async def read_registration(
    client_id: str, request: Request, state: State, registrations: Registrations
) -> JSONResponse:
    registration = await registrations.read(client_id, _bearer(request))
    return _response(registration, state.settings.issuer)


@router.put(
    "/oauth2/register/{client_id}",
    summary="Replace a registration (RFC 7592)",
    dependencies=[Limited],
)
async def replace_registration(
    client_id: str, request: Request, state: State, registrations: Registrations
) -> JSONResponse:
    token = _bearer(request)
    # The token is checked before the body is read: a stranger learns nothing from
    # what the server would say about their metadata.
    await registrations.read(client_id, token)
    registration = await registrations.replace(client_id, token, await _json_metadata(request))
    return _response(registration, state.settings.issuer)


@router.delete(
    "/oauth2/register/{client_id}",
    status_code=204,
    summary="Delete a registration (RFC 7592)",
    dependencies=[Limited],
)
async def delete_registration(
    client_id: str, request: Request, registrations: Registrations
) -> Response:
    await registrations.delete(client_id, _bearer(request))
    return Response(status_code=204, headers=NO_STORE)
