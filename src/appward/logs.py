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
import threading
import time
from typing import IO, Any

import orjson

APP_LOGGER = "appward"
TEXT_FORMAT = "%(levelname)s:     %(name)s: %(message)s"
# Lines below WARNING wait at most this long in the buffer (BufferedStreamHandler).
FLUSH_INTERVAL = 0.2


class JsonFormatter(logging.Formatter):
    """One JSON object a line (see the module's docstring)."""

    _second = -1
    _second_text = ""

    def _time(self, created: float) -> str:
        # The date and time to the second change once a second: formatted then only.
        second = int(created)
        if second != self._second:
            self._second_text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = second
        return f"{self._second_text}.{int((created - second) * 1000):03d}Z"

    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", None)
        extra = {"exception": self.formatException(record.exc_info)} if record.exc_info else {}
        return self.line(
            record.created,
            record.levelname,
            record.name,
            record.getMessage(),
            {**fields, **extra} if isinstance(fields, dict) else extra,
        )

    def line(
        self, created: float, level: str, logger: str, message: str, fields: dict[str, Any]
    ) -> str:
        line = {"time": self._time(created), "level": level, "logger": logger, "message": message}
        line.update(fields)
        return orjson.dumps(line, default=str).decode()


class BufferedStreamHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A StreamHandler that flushes a WARNING or worse at once and anything else within
    FLUSH_INTERVAL: one system call per request line cost the token endpoint more than
    the line itself. Lines left at exit are flushed by logging's shutdown."""

    def __init__(self, stream: IO[str]) -> None:
        super().__init__(stream)
        self._unflushed = False
        self._flusher: threading.Thread | None = None

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.stream.write(self.format(record) + self.terminator)
        except Exception:  # noqa: BLE001 (logging's own contract: report, never raise)
            self.handleError(record)
            return
        if record.levelno >= logging.WARNING:
            self.flush()
        else:
            self._flush_soon()

    def write_info(self, logger: str, message: str, fields: dict[str, Any]) -> None:
        """Writes an INFO line as ``format`` would, without a LogRecord (the request log:
        building a record cost more than the line)."""
        formatter = self.formatter
        if isinstance(formatter, JsonFormatter):
            text = formatter.line(time.time(), "INFO", logger, message, fields)
        else:
            text = f"INFO:     {logger}: {message}"
        with self.lock:  # type: ignore[union-attr]
            self.stream.write(text + self.terminator)
            self._flush_soon()

    def _flush_soon(self) -> None:
        self._unflushed = True
        if self._flusher is None:
            # One thread for the handler's life: starting one per flush made the writer
            # wait for each to start.
            self._flusher = threading.Thread(
                target=self._keep_flushing, name="appward-log-flush", daemon=True
            )
            self._flusher.start()

    def _keep_flushing(self) -> None:
        while True:
            time.sleep(FLUSH_INTERVAL)
            if self._unflushed:
                self._unflushed = False
                self.flush()


def direct_handler(logger: logging.Logger) -> BufferedStreamHandler | None:
    """Returns the one handler an INFO line of ``logger`` (below ``appward``) would reach,
    when it is configure_logging's and nothing else stands between (no handler, filter or
    level of the operator's own): a line can then be written to it directly."""
    parent = logger.parent
    if logger.handlers or logger.filters or not logger.propagate or parent is None:
        return None
    if parent.name != APP_LOGGER or len(parent.handlers) != 1 or parent.filters:
        return None
    handler = parent.handlers[0]
    if not isinstance(handler, BufferedStreamHandler) or handler.filters:
        return None
    return handler if logger.isEnabledFor(logging.INFO) else None


def formatter_for(log_format: str) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)


def configure_logging(
    log_format: str, level: str, stream: IO[str] | None = None, *, replace: bool = False
) -> BufferedStreamHandler | None:
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
    handler = BufferedStreamHandler(stream if stream is not None else sys.stderr)
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
