"""Where Appward's log lines go and how they look: readable text, or one JSON object a
line (``APPWARD_LOG_FORMAT=json``) for a log collector.

A JSON line holds ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``message``, the
structured fields a caller passed as ``extra={"fields": {...}}`` (the request id, the
route, the status: web/pipeline.py and web/request_log.py), and ``exception`` with the
traceback when there is one. What callers log never holds a secret, token, code,
assertion or certificate (docs/security.md); this module adds nothing of the request.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import IO, Any

import orjson

APP_LOGGER = "appward"
TEXT_FORMAT = "%(levelname)s:     %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object a line (see the module's docstring)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line.update(fields)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


def formatter_for(log_format: str) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)


def configure_logging(
    log_format: str, level: str, stream: IO[str] | None = None, *, replace: bool = False
) -> logging.Handler | None:
    """Sends Appward's lines (the ``appward`` loggers) at ``level`` and above to ``stream``
    (stderr), formatted as ``log_format`` says; returns the handler installed.

    Nothing is changed when logging was set up already (a handler on ``appward`` or on
    the root logger: an embedding application decides), unless ``replace``.
    """
    logger = logging.getLogger(APP_LOGGER)
    if not replace and (logger.handlers or logging.getLogger().handlers):
        return None
    for old in list(logger.handlers):
        logger.removeHandler(old)
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(formatter_for(log_format))
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False  # a root handler added later must not print it twice
    return handler


def uvicorn_log_config(log_format: str) -> dict[str, Any]:
    """uvicorn's own lines (start, stop, its errors) in the same format as Appward's."""
    formatter: dict[str, Any] = (
        {"()": f"{__name__}.JsonFormatter"} if log_format == "json" else {"format": TEXT_FORMAT}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"appward": formatter},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "appward",
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
            "uvicorn.error": {"level": "INFO"},
            # Off: web/request_log.py writes the request lines (route templates, no query).
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
    }
