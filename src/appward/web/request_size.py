"""The size limits every request meets in the outer layer (web/pipeline.py), whichever
endpoint it is for and whichever server runs the app.

`appward serve` refuses a head over APPWARD_MAX_HEADER_BYTES or APPWARD_MAX_HEADERS
while parsing it (web/http_protocol.py); any other ASGI server gets the same limits
here, from the parsed head. A declared body larger than every body limit is refused
before routing, so an endpoint that reads no body (a GET, a DELETE) is no way to make
the server take one in; a body that declares no length, or one within that bound, is
held to its endpoint's own limit by the one body reader (web/forms.py).
"""

from __future__ import annotations

from starlette.types import Scope

from appward.config import HeadLimits
from appward.errors import AppwardError, HeaderTooLarge, PayloadTooLarge, UriTooLong

HEADER_OVERHEAD = 4  # ": " and CRLF, as counted by web/http_protocol.py
# A Content-Length longer than this is larger than any limit: int() is not even tried
# (Python refuses over 4,300 digits with a ValueError, a 500).
MAX_LENGTH_DIGITS = 19


def oversized(scope: Scope, head: HeadLimits, max_body: int) -> AppwardError | None:
    """Returns the refusal of a request whose head or declared body is over the limits
    (UriTooLong 414, HeaderTooLarge 431, PayloadTooLarge 413), or None. ``max_body`` is
    the largest of the body limits (BodyLimits.largest). It runs on the token endpoint's
    hot path: one pass over the header fields, a few additions."""
    headers = scope["headers"]
    target = len(scope.get("raw_path") or scope["path"]) + len(scope.get("query_string", b""))
    if target > head.max_bytes:
        return UriTooLong(f"the request target is longer than {head.max_bytes} bytes")
    if len(headers) > head.max_fields:
        return HeaderTooLarge(f"the request has more than {head.max_fields} header fields")
    size = target
    declared = b""
    for name, value in headers:
        size += len(name) + len(value) + HEADER_OVERHEAD
        if name == b"content-length":
            declared = value
    if size > head.max_bytes:
        return HeaderTooLarge(f"the request's head is larger than {head.max_bytes} bytes")
    if declared.isdigit() and (len(declared) > MAX_LENGTH_DIGITS or int(declared) > max_body):
        return PayloadTooLarge(f"the request body is larger than {max_body} bytes")
    return None
