"""Where Appward's log lines go and how they look: readable text, or one JSON object a
line (``APPWARD_LOG_FORMAT=json``) for a log collector.

A JSON line holds ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``message``, the
structured fields a caller passed as ``extra={"fields": {...}}`` (the request id, the
route, the status: web/pipeline.py and web/request_log.py), and ``exception`` with the
traceback when there is one. What callers log never holds a secret, token, code,
assertion or certificate (docs/security.md); this module adds nothing of the request.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
import time
from collections.abc import Callable
from typing import IO, Any

import orjson

APP_LOGGER = "appward"
TEXT_FORMAT = "%(levelname)s:     %(name)s: %(message)s"
# Lines below WARNING wait at most this long in the buffer (BufferedStreamHandler).
FLUSH_INTERVAL = 0.2
# Lines gathered before they are formatted and written, whatever the interval.
MAX_PENDING = 64
# Bytes of whole lines written at once: within PIPE_BUF (4,096 on Linux), so that a write
# to a pipe is never split (a longer line goes alone).
WRITE_CHUNK = 4000


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

    def time_text(self, created: float) -> str:
        """Returns ``created`` as the ``time`` field shows it (UTC, milliseconds)."""
        return self._time(created)

    def line(
        self, created: float, level: str, logger: str, message: str, fields: dict[str, Any]
    ) -> str:
        line = {"time": self._time(created), "level": level, "logger": logger, "message": message}
        line.update(fields)
        return orjson.dumps(line, default=str).decode()


class BufferedStreamHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A StreamHandler that writes a WARNING or worse at once and anything else within
    FLUSH_INTERVAL, gathered: lines wait in a list and go out as whole lines, up to
    WRITE_CHUNK bytes a write. stderr is line-buffered (a system call per line,
    which cost the token endpoint more than the line itself); a write of whole lines up
    to PIPE_BUF bytes reaches a pipe shared by several workers in one piece, so no line
    is ever cut by another process's. Lines left at exit are written by logging's
    shutdown (``flush``)."""

    def __init__(self, stream: IO[str]) -> None:
        super().__init__(stream)
        # Lines, or what a line is made from later (``write_later``).
        self._lines: list[str | tuple[Render, tuple[Any, ...]]] = []
        self._flusher: threading.Thread | None = None

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
        except Exception:  # noqa: BLE001 (logging's own contract: report, never raise)
            self.handleError(record)
            return
        with self.lock:  # type: ignore[union-attr]
            self._add(text)
            if record.levelno >= logging.WARNING:
                self.flush()

    def write_info(self, logger: str, message: str, fields: dict[str, Any]) -> None:
        """Writes an INFO line as ``format`` would, without a LogRecord (the request log:
        building a record cost more than the line)."""
        formatter = self.formatter
        if isinstance(formatter, JsonFormatter):
            text = formatter.line(time.time(), "INFO", logger, message, fields)
        else:
            text = f"INFO:     {logger}: {message}"
        with self.lock:  # type: ignore[union-attr]
            self._add(text)

    def write_later(self, render: Render, values: tuple[Any, ...]) -> None:
        """Writes the INFO line ``render(formatter, values)`` returns, called when the line
        is written rather than now: the request log's line is a tuple on the request's
        path, formatted with the others of its batch."""
        with self.lock:  # type: ignore[union-attr]
            self._add((render, values))

    def _add(self, line: str | tuple[Render, tuple[Any, ...]]) -> None:
        # Called holding the lock.
        self._lines.append(line)
        if len(self._lines) >= MAX_PENDING:
            self._write_pending()
        elif self._flusher is None:
            # One thread for the handler's life: starting one per flush made the writer
            # wait for each to start.
            self._flusher = threading.Thread(
                target=self._keep_flushing, name="appward-log-flush", daemon=True
            )
            self._flusher.start()

    def _write_pending(self) -> None:
        if not self._lines:
            return
        lines, self._lines = self._lines, []
        formatter = self.formatter
        chunk: list[str] = []
        size = 0
        for line in lines:
            text = (line if isinstance(line, str) else _rendered(formatter, *line)) + "\n"
            # Bytes, as PIPE_BUF counts: a non-ASCII character is up to 4 in UTF-8.
            length = len(text) if text.isascii() else len(text.encode("utf-8", "replace"))
            if chunk and size + length > WRITE_CHUNK:
                self._write("".join(chunk))
                chunk, size = [], 0
            chunk.append(text)
            size += length
        self._write("".join(chunk))

    def _write(self, text: str) -> None:
        # A closed or broken stream (ValueError, OSError): the lines are lost, the
        # request is not.
        with contextlib.suppress(OSError, ValueError):
            self.stream.write(text)
            self.stream.flush()

    def flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            if self._lines:
                self._write_pending()
            else:
                super().flush()

    def _keep_flushing(self) -> None:
        while True:
            time.sleep(FLUSH_INTERVAL)
            if self._lines:
                # The flusher must outlive any one bad write (the lines are lost, not it).
                with contextlib.suppress(Exception):
                    self.flush()


# Makes a line from a formatter (JsonFormatter, or a text one) and the values given.
Render = Callable[[logging.Formatter | None, tuple[Any, ...]], str]


def _rendered(formatter: logging.Formatter | None, render: Render, values: tuple[Any, ...]) -> str:
    """Returns the line ``render`` makes, or, should it fail, a line saying so (with the
    error's type only: the values are what a request held): one bad line must not take
    its batch, or the lines after it, down with it."""
    try:
        return render(formatter, values)
    except Exception as exc:  # noqa: BLE001 (a log line must never fail its writer)
        message = f"a log line could not be formatted ({type(exc).__name__})"
        if isinstance(formatter, JsonFormatter):
            return formatter.line(time.time(), "ERROR", APP_LOGGER, message, {})
        return f"ERROR:    {APP_LOGGER}: {message}"


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
