"""The one reader of request bodies: forms (the OAuth endpoints, fast path and pages
alike) and JSON objects (the admin API, dynamic registration), each with a size limit
checked before the body is read whole.

Forms: RFC 6749 §3.1, §3.2 - a repeated parameter is an error, an empty value counts as
omitted. JSON: what Python's json module lets through but no JSON document should hold
is refused here, before it can reach a model, a log line or the database (NaN is not
JSON; a lone surrogate is not Unicode and cannot be encoded back out; deep nesting has
no use in metadata).
"""

from __future__ import annotations

import json
from typing import Any, NoReturn
from urllib.parse import unquote_plus

from starlette.requests import Request
from starlette.types import Receive

from appward.config import BodyLimits
from appward.errors import AppwardError, InvalidInput, InvalidRequest, PayloadTooLarge
from appward.web.request_size import MAX_LENGTH_DIGITS

FORM = "application/x-www-form-urlencoded"
MAX_JSON_DEPTH = 16


# --- bodies ---


async def read_body(
    receive: Receive,
    content_length: str,
    limit: int,
    too_large: AppwardError | None = None,
) -> bytes:
    """Returns the body from ASGI ``receive``. Raises ``too_large`` (by default
    PayloadTooLarge, 413) when the declared Content-Length or the bytes received pass
    ``limit``, without reading on; InvalidRequest when the client goes away."""
    if (
        content_length.isascii()
        and content_length.isdigit()
        and (len(content_length) > MAX_LENGTH_DIGITS or int(content_length) > limit)
    ):
        raise _too_large(too_large, limit)
    body = b""  # one chunk, the usual case, is taken without a copy
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise InvalidRequest("the client went away")
        body += message.get("body", b"")
        if len(body) > limit:
            raise _too_large(too_large, limit)
        more = message.get("more_body", False)
    return body


def _too_large(error: AppwardError | None, limit: int) -> AppwardError:
    if error is not None:
        return error
    return PayloadTooLarge(f"the request body is larger than {limit} bytes")


async def read_limited(
    request: Request, limit: int, too_large: AppwardError | None = None
) -> bytes:
    """Returns the request body, refusing one over ``limit`` bytes without reading it all.
    Raises ``too_large`` (by default PayloadTooLarge) for one too large, InvalidRequest
    when the client goes away."""
    content_length = request.headers.get("content-length", "")
    return await read_body(request.receive, content_length, limit, too_large)


def body_limits(request: Request) -> BodyLimits:
    """The app's configured body limits (APPWARD_MAX_FORM_BYTES and the others)."""
    limits: BodyLimits = request.app.state.appward.settings.body_limits
    return limits


# --- forms ---


async def read_form(request: Request) -> dict[str, str]:
    """Returns the form parameters of a page's POST. Raises PayloadTooLarge for a body
    over APPWARD_MAX_FORM_BYTES, InvalidRequest for one that is not a form or repeats a
    parameter."""
    body = await read_limited(request, body_limits(request).form)
    return parse_form(request.headers.get("content-type", ""), body)


def parse_form(content_type: str, body: bytes) -> dict[str, str]:
    """Returns the parameters of a form body. Raises InvalidRequest."""
    if content_type.split(";")[0].strip().lower() != FORM:
        raise InvalidRequest(f"the request body must be {FORM}")
    try:
        text = body.decode()
    except UnicodeDecodeError:
        raise InvalidRequest("the request body is not a valid form") from None
    return parse_pairs(form_pairs(text))


def parse_pairs(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """Returns the parameters as a dict. Raises InvalidRequest for a repeated parameter
    (RFC 6749 §3.1, §3.2); empty values count as omitted."""
    params: dict[str, str] = {}
    seen: set[str] = set()
    for name, value in pairs:
        if name in seen:
            raise InvalidRequest(f"parameter {name!r} is repeated")
        seen.add(name)
        if value != "":
            params[name] = value
    return params


def form_pairs(text: str) -> list[tuple[str, str]]:
    """Splits an application/x-www-form-urlencoded string into (name, value) pairs, as
    urllib's parse_qsl(keep_blank_values=True) does, at a fraction of its cost on the
    token endpoint's hot path: fields with nothing to decode are taken as they are."""
    pairs: list[tuple[str, str]] = []
    for field in text.split("&"):
        if not field:
            continue
        name, _, value = field.partition("=")
        pairs.append((form_decode(name), form_decode(value)))
    return pairs


def form_decode(part: str) -> str:
    """Returns one form-urlencoded name or value decoded (RFC 6749 §2.3.1 encodes Basic
    credentials this way too)."""
    if "%" in part or "+" in part:
        return unquote_plus(part)
    return part


# --- JSON ---


async def read_json_object(
    request: Request, limit: int, invalid: type[AppwardError] = InvalidInput
) -> dict[str, Any]:
    """Returns the body as a JSON object; an empty body is no object. Raises
    PayloadTooLarge for a body over ``limit`` bytes, ``invalid`` for one that is not a
    JSON object (the admin API's reader: web/admin/bodies.py)."""
    raw = await read_limited(request, limit)
    try:
        body = parse_json(raw or b"null")
    except ValueError as exc:
        raise invalid(f"the request body {exc}") from None
    if not isinstance(body, dict):
        raise invalid("the request body must be a JSON object")
    return body


def parse_json(raw: bytes) -> Any:
    """Returns the parsed document. Raises ValueError saying what is wrong with it."""
    try:
        value = json.loads(raw, parse_constant=_refuse_constant)
    except RecursionError:
        raise ValueError("is nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, or ours
        reason = str(exc) if isinstance(exc, _NotJson) else "is not valid JSON"
        raise ValueError(reason) from None
    _check_shape(value)
    return value


class _NotJson(ValueError):
    pass


def _refuse_constant(name: str) -> NoReturn:
    raise _NotJson(f"holds {name}, which is not a JSON number")


def _check_shape(document: Any) -> None:
    stack: list[tuple[Any, int]] = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            _check_unicode(value)
        elif isinstance(value, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise ValueError(f"is nested deeper than {MAX_JSON_DEPTH} levels")
            if isinstance(value, dict):
                for key in value:
                    _check_unicode(key)
                stack.extend((v, depth + 1) for v in value.values())
            else:
                stack.extend((v, depth + 1) for v in value)


def _check_unicode(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("holds a string that is not valid Unicode (a lone surrogate)") from None
