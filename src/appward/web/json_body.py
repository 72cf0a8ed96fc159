"""Reading a JSON request body strictly: what Python's json module lets through but no
JSON document should hold is refused here, before it can reach a model, a log line or
the database (NaN is not JSON; a lone surrogate is not Unicode and cannot be encoded
back out; deep nesting has no use in metadata)."""

from __future__ import annotations

import json
from typing import Any, NoReturn

MAX_DEPTH = 16


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
            if depth > MAX_DEPTH:
                raise ValueError(f"is nested deeper than {MAX_DEPTH} levels")
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
