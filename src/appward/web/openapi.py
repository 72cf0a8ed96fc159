"""The OpenAPI document, and the pages that show it (/docs, /redoc).

Swagger UI's and ReDoc's scripts come from the pinned ``fastapi-offline`` package and are
served by the app itself, so the pages work on a machine without internet access.
Routes declare their own errors and security (``problem_responses``, ``oauth_error_responses``
and the bearer schemes below); the document builder adds what no route can: the shared
schemas, the form endpoints served outside FastAPI's routing, and the removal of FastAPI's
422 answers, which this app never sends (request validation errors are 400s).
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse
from fastapi.security import HTTPBearer
from fastapi.staticfiles import StaticFiles

from appward.tokens.grant_types import GRANT_TYPES
from appward.web.templates import PAGE_HEADERS

STATIC_PATH = "/docs/static"
PROBLEM_JSON = "application/problem+json"
PROBLEM_REF = "#/components/schemas/Problem"
OAUTH_ERROR_REF = "#/components/schemas/OAuthError"

API_DESCRIPTION = (
    "Appward issues OAuth 2.0 access tokens and manages the clients that get them.\n\n"
    "The admin API (`/admin/v1`) takes a Bearer access token with scope `appward:admin`: "
    "get one from `POST /oauth2/token` with `grant_type=client_credentials` as an admin "
    "client, then use **Authorize**. Its errors are RFC 9457 problem details "
    "(`application/problem+json`). The OAuth and Dynamic Client Registration endpoints "
    'answer errors as `{"error", "error_description"}` (RFC 6749 §5.2, RFC 7591 §3.2.2).'
)

# Security schemes. As FastAPI dependencies they only document: auto_error=False makes
# them return None rather than refuse, and the handlers check the token themselves.
ADMIN_TOKEN = HTTPBearer(
    scheme_name="adminToken",
    bearerFormat="JWT",
    description="An access token (RFC 9068 JWT) with scope appward:admin, from the token "
    "endpoint's client_credentials grant.",
    auto_error=False,
)
INITIAL_ACCESS_TOKEN = HTTPBearer(
    scheme_name="initialAccessToken",
    description="An initial access token (RFC 7591 §3) issued by an admin, where the "
    "server's registration policy requires one.",
    auto_error=False,
)
REGISTRATION_ACCESS_TOKEN = HTTPBearer(
    scheme_name="registrationAccessToken",
    description="The registration access token returned when the client registered "
    "(RFC 7592 §3); it changes on every update.",
    auto_error=False,
)
CLIENT_BASIC = {
    "type": "http",
    "scheme": "basic",
    "description": "client_id and client_secret (RFC 6749 §2.3.1). A client may instead "
    "send them in the form (client_secret_post), or only client_id if it is public.",
}

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "description": "RFC 9457 problem details, with Appward's error code and the fields at fault.",
    "required": ["type", "title", "status", "detail"],
    "additionalProperties": False,
    "properties": {
        "type": {
            "type": "string",
            "description": "urn:appward:error:<error>; about:blank for an unknown path or method.",
            "examples": ["urn:appward:error:not_found"],
        },
        "title": {"type": "string", "description": "What kind of problem this is."},
        "status": {"type": "integer", "description": "The HTTP status code."},
        "detail": {"type": "string", "description": "What went wrong with this request."},
        "error": {
            "type": "string",
            "description": "The error code: an RFC's (invalid_token, insufficient_scope, "
            "invalid_client_metadata, invalid_redirect_uri) or the API's (invalid_input, "
            "not_found, conflict, precondition_failed, precondition_required).",
            "examples": ["invalid_client_metadata"],
        },
        "errors": {
            "type": "array",
            "description": "The fields at fault, when the problem is with the input.",
            "items": {
                "type": "object",
                "required": ["field", "message"],
                "additionalProperties": False,
                "properties": {
                    "field": {"type": "string", "examples": ["redirect_uris.0"]},
                    "message": {"type": "string"},
                },
            },
        },
    },
}

OAUTH_ERROR_SCHEMA: dict[str, Any] = {
    "title": "OAuthError",
    "type": "object",
    "description": "An OAuth error response (RFC 6749 §5.2, RFC 7591 §3.2.2).",
    "required": ["error"],
    "additionalProperties": False,
    "properties": {
        "error": {"type": "string", "examples": ["invalid_client_metadata"]},
        "error_description": {"type": "string"},
    },
}

PROBLEMS: dict[int, str] = {
    400: "Invalid input (invalid_input), or invalid client metadata (invalid_client_metadata, "
    "invalid_redirect_uri); `errors` names the fields",
    401: "No valid access token (invalid_token); WWW-Authenticate carries the Bearer challenge",
    403: "The access token lacks scope appward:admin (insufficient_scope)",
    404: "No such resource (not_found)",
    409: "The change conflicts with the resource's state (conflict)",
    412: "The resource changed since it was read (precondition_failed): read it again",
    428: "If-Match is missing (precondition_required)",
}

OAUTH_ERRORS: dict[int, str] = {
    400: "The request or its client metadata is invalid",
    401: "The client or token is not authenticated (invalid_client, invalid_token)",
    404: "Not available on this server",
    413: "The request body is too large",
    429: "Too many requests from this address; Retry-After says when to retry",
    503: "Too busy to authenticate the client now (temporarily_unavailable); see Retry-After",
}


def problem_responses(
    *codes: int, described: Mapping[int, str] | None = None
) -> dict[int | str, dict[str, Any]]:
    """Returns route ``responses`` for these problem+json error statuses."""
    text = {**PROBLEMS, **(described or {})}
    return {
        code: {
            "description": text[code],
            "content": {PROBLEM_JSON: {"schema": {"$ref": PROBLEM_REF}}},
        }
        for code in sorted({*codes, *(described or {})})
    }


def oauth_error_responses(
    *codes: int, described: Mapping[int, str] | None = None
) -> dict[int | str, dict[str, Any]]:
    """Returns route ``responses`` for these OAuth-style JSON error statuses."""
    text = {**OAUTH_ERRORS, **(described or {})}
    return {
        code: {
            "description": text[code],
            "content": {"application/json": {"schema": {"$ref": OAUTH_ERROR_REF}}},
        }
        for code in sorted({*codes, *(described or {})})
    }


# --- the document ---


def openapi_document(app: FastAPI) -> dict[str, Any]:
    """The generated document, completed once and then kept."""
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title,
            version=app.version,
            summary=app.summary,
            description=API_DESCRIPTION,
            routes=app.routes,
        )
        schema["paths"].update(_form_endpoints())
        components = schema.setdefault("components", {})
        components.setdefault("securitySchemes", {})["clientBasic"] = CLIENT_BASIC
        components.setdefault("schemas", {}).update(
            Problem=PROBLEM_SCHEMA,
            OAuthError=OAUTH_ERROR_SCHEMA,
            TokenResponse=TOKEN_RESPONSE,
            IntrospectionResponse=INTROSPECTION_RESPONSE,
        )
        _drop_validation_errors(schema)
        app.openapi_schema = schema
    return app.openapi_schema


def _drop_validation_errors(schema: dict[str, Any]) -> None:
    """FastAPI documents a 422 for every operation with parameters; the app answers a
    request that fails validation with a 400 (web/responses.py), declared per route."""
    for operations in schema["paths"].values():
        for operation in operations.values():
            operation.get("responses", {}).pop("422", None)
    schemas = schema.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)


# The form endpoints are served by web/fastpath.py before routing, so FastAPI does not
# know them. Each is described here whole: its form fields (which ones it requires), what
# a success answers and the errors it gives.
@dataclass(frozen=True)
class FormEndpoint:
    path: str
    summary: str
    description: str
    fields: Mapping[str, dict[str, Any]]
    required: tuple[str, ...]
    success: dict[str, Any]
    errors: tuple[int, ...] = (400, 401, 503)


CLIENT_FIELDS: dict[str, dict[str, Any]] = {
    "client_id": {"type": "string", "description": "client_secret_post or a public client"},
    "client_secret": {"type": "string", "description": "client_secret_post"},
    "client_assertion_type": {
        "type": "string",
        "description": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer (RFC 7523)",
    },
    "client_assertion": {
        "type": "string",
        "description": "private_key_jwt or client_secret_jwt (RFC 7523 §2.2)",
    },
}
TOKEN_HINT: dict[str, Any] = {
    "type": "string",
    "description": "access_token or refresh_token; another value is ignored (RFC 7009 §2.1)",
}
TOKEN_RESPONSE: dict[str, Any] = {
    "title": "TokenResponse",
    "type": "object",
    "description": "A successful token response (RFC 6749 §5.1).",
    "required": ["access_token", "token_type", "expires_in"],
    "properties": {
        "access_token": {"type": "string", "description": "An RFC 9068 JWT"},
        "token_type": {"type": "string", "enum": ["Bearer"]},
        "expires_in": {"type": "integer", "minimum": 1},
        "scope": {"type": "string"},
        "refresh_token": {"type": "string"},
    },
}
INTROSPECTION_RESPONSE: dict[str, Any] = {
    "title": "IntrospectionResponse",
    "type": "object",
    "description": 'RFC 7662 §2.2: {"active": false} alone, or the active token\'s claims.',
    "required": ["active"],
    "properties": {
        "active": {"type": "boolean"},
        "token_type": {"type": "string"},
        "client_id": {"type": "string"},
        "sub": {"type": "string"},
        "scope": {"type": "string"},
        "exp": {"type": "integer"},
        "iat": {"type": "integer"},
        "iss": {"type": "string"},
        "aud": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
        "jti": {"type": "string"},
        "cnf": {"type": "object"},
    },
}


def _json_success(description: str, ref: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": ref}}},
    }


FORM_ENDPOINTS: tuple[FormEndpoint, ...] = (
    FormEndpoint(
        "/oauth2/token",
        "Issue tokens (RFC 6749 §3.2)",
        "Exchanges a grant for an access token: client_credentials, authorization_code "
        "(with the PKCE code_verifier) or refresh_token.",
        {
            "grant_type": {"type": "string", "enum": list(GRANT_TYPES)},
            "scope": {"type": "string"},
            "code": {"type": "string"},
            "redirect_uri": {"type": "string"},
            "code_verifier": {"type": "string"},
            "refresh_token": {"type": "string"},
            **CLIENT_FIELDS,
        },
        ("grant_type",),
        _json_success("The token (Cache-Control: no-store)", "#/components/schemas/TokenResponse"),
    ),
    FormEndpoint(
        "/oauth2/introspect",
        "Introspect a token (RFC 7662)",
        "Tells a confidential client whether a token is active, and its claims if so: "
        "its own tokens; another client's only with the introspection permission (a "
        'resource server) or the admin scope, else {"active": false}.',
        {"token": {"type": "string"}, "token_type_hint": TOKEN_HINT, **CLIENT_FIELDS},
        ("token",),
        _json_success(
            "Whether the token is active (Cache-Control: no-store)",
            "#/components/schemas/IntrospectionResponse",
        ),
    ),
    FormEndpoint(
        "/oauth2/revoke",
        "Revoke a token (RFC 7009)",
        "Revokes an access or refresh token of the calling client; another client's token "
        "is refused (unauthorized_client) and stays active; an unknown or expired token is "
        "not an error.",
        {"token": {"type": "string"}, "token_type_hint": TOKEN_HINT, **CLIENT_FIELDS},
        ("token",),
        {"description": "Revoked, or not a token of this server: no body (RFC 7009 §2.2)"},
    ),
)


def _form_endpoints() -> dict[str, Any]:
    return {
        endpoint.path: {
            "post": {
                "tags": ["oauth"],
                "summary": endpoint.summary,
                "description": endpoint.description,
                "operationId": endpoint.path.rsplit("/", 1)[-1],
                # Basic, or credentials in the form (or none, for a public client).
                "security": [{"clientBasic": []}, {}],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/x-www-form-urlencoded": {
                            "schema": {
                                "type": "object",
                                "required": list(endpoint.required),
                                "properties": dict(endpoint.fields),
                            }
                        }
                    },
                },
                "responses": {
                    "200": endpoint.success,
                    **{
                        str(code): response
                        for code, response in oauth_error_responses(*endpoint.errors).items()
                    },
                },
            }
        }
        for endpoint in FORM_ENDPOINTS
    }


# --- the pages ---

docs_router = APIRouter(include_in_schema=False)

# Everything from the app: the browser does not even try another origin (ReDoc's sidebar
# links a logo on Redocly's CDN). Swagger UI's one inline script is allowed by its hash;
# both put their styles inline.
DOCS_CSP = (
    "default-src 'self'; script-src 'self'{scripts}; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; worker-src 'self' blob:; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'none'"
)
INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def _confined(page: HTMLResponse) -> HTMLResponse:
    digests = (
        base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        for script in INLINE_SCRIPT.findall(bytes(page.body).decode())
    )
    scripts = "".join(f" 'sha256-{digest}'" for digest in digests)
    page.headers["Content-Security-Policy"] = DOCS_CSP.format(scripts=scripts)
    page.headers.update(PAGE_HEADERS)
    return page


def add_api_docs(app: FastAPI) -> None:
    """Serves /docs (Swagger UI) and /redoc with their assets from the app."""
    assets = Path(str(files("fastapi_offline").joinpath("static")))
    app.mount(STATIC_PATH, StaticFiles(directory=assets), name="docs-static")
    app.include_router(docs_router)


@docs_router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    root = request.scope.get("root_path", "").rstrip("/")
    return _confined(
        get_swagger_ui_html(
            openapi_url=f"{root}{request.app.openapi_url}",
            title=f"{request.app.title} API",
            swagger_js_url=f"{root}{STATIC_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{STATIC_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{root}{STATIC_PATH}/favicon.png",
            oauth2_redirect_url=None,
            # No call to swagger.io's online validator.
            swagger_ui_parameters={"validatorUrl": None},
        )
    )


@docs_router.get("/redoc")
async def redoc(request: Request) -> HTMLResponse:
    root = request.scope.get("root_path", "").rstrip("/")
    return _confined(
        get_redoc_html(
            openapi_url=f"{root}{request.app.openapi_url}",
            title=f"{request.app.title} API",
            redoc_js_url=f"{root}{STATIC_PATH}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{STATIC_PATH}/favicon.png",
            with_google_fonts=False,
        )
    )
