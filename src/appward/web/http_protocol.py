"""uvicorn's httptools protocol, with the writes of one event-loop step sent together,
and a bound on the size of a request's head.

An ASGI response is at least two messages (start, then body) and uvicorn writes each to
the socket as it comes: two system calls and usually two TCP segments for one small
answer, which on the token endpoint costs the server and its client more than the JSON
does. Writes are gathered and flushed once per loop iteration instead; order is kept,
and nothing waits longer than the current step.

httptools sets no limit on the request line or the header fields: it gathers each one
whole, however long, before handing it over. Here the bytes are counted where they are
parsed, before any route (the form endpoints' fast path included) sees the request:
past APPWARD_MAX_HEADER_BYTES or APPWARD_MAX_HEADERS the answer is 414 (URL) or 431 and
the connection is closed. The count is a few integer additions per header.

Both lean on uvicorn's HttpToolsProtocol, which is not a public API: pyproject.toml pins
the uvicorn minor this was written against, and tests/unit/web/test_http_protocol.py
fails if the hooks used here change signature or go.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Iterable
from typing import Any

import httptools
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState

from appward.config import HeadLimits, load_settings

FLUSH_AT = 64 * 1024  # bytes gathered before they are sent without waiting for the step


class CoalescingTransport:
    """Stands in for the connection's transport; gathers writes until the loop's next step."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []
        self._pending_size = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self._pending:
            self._loop.call_soon(self.flush)
        self._pending.append(bytes(data))
        self._pending_size += len(data)
        if self._pending_size >= FLUSH_AT:
            # A large body goes out at once, so the real transport's flow control (pause
            # writing when its buffer is full) sees it and can hold the app back.
            self.flush()

    def writelines(self, list_of_data: Iterable[bytes | bytearray | memoryview]) -> None:
        # Not left to __getattr__: the real transport's writelines would jump the queue.
        for data in list_of_data:
            self.write(data)

    def flush(self) -> None:
        if self._pending:
            data = b"".join(self._pending)
            self._pending.clear()
            self._pending_size = 0
            if not self._transport.is_closing():
                self._transport.write(data)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + self._pending_size

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


@functools.cache
def head_limits_from_environment() -> HeadLimits:
    """The limits of this worker process, from the same APPWARD_* variables its app is
    built from (web.app.app_from_environment); read once, not per connection."""
    return load_settings().head_limits


class _HeadTooLarge(Exception):
    """Raised from a parser callback: stops httptools on a head over the limits."""


REFUSAL_BODY = {414: b"request line too long\n", 431: b"request header fields too large\n"}


class CoalescingHttpProtocol(HttpToolsProtocol):
    """One connection: coalesced writes, and the head's size counted as it is parsed."""

    head_limits: HeadLimits | None = None  # None: from the environment

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        limits = self.head_limits or head_limits_from_environment()
        self._max_head_bytes = limits.max_bytes
        self._max_fields = limits.max_fields
        self._head_bytes = 0  # URL and header fields of the current message, as parsed
        self._fields = 0
        # Bytes of the current head on the wire, while it spans several reads: httptools
        # holds a header it has not finished in its own buffer, unseen by on_header, so a
        # header sent a little at a time is counted here, read by read.
        self._head_wire = 0
        self._in_head = False
        self._idle = True  # no message begun since the last one completed
        self._messages = 0
        self._refusal = 0  # the status to answer once a limit is crossed

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        coalescing = CoalescingTransport(transport, self.loop)
        super().connection_made(coalescing)  # type: ignore[arg-type]

    def data_received(self, data: bytes) -> None:
        # uvicorn's data_received, plus the refusal and the count of a head still open.
        messages, idle = self._messages, self._idle
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            if self._refusal:
                self._refuse()
                return
            message = "Invalid HTTP request received."
            self.logger.warning(message)
            self.send_400_response(message)
            return
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        if self._in_head:
            if self._messages == messages:  # the head began in an earlier read
                self._head_wire += len(data)
            elif idle and self._messages == messages + 1:  # it began with this read
                self._head_wire = len(data)
            else:  # it began after another message in this read: what was parsed of it
                self._head_wire = self._head_bytes
            if self._head_wire > self._max_head_bytes:
                self._refusal = 431
                self._refuse()

    def on_message_begin(self) -> None:
        self._messages += 1
        self._idle = False
        self._in_head = True
        self._head_bytes = 0
        self._fields = 0
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        self._head_bytes += len(url)
        if self._head_bytes > self._max_head_bytes:
            self._refusal = 414
            raise _HeadTooLarge
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        # Trailers of a chunked body come here too, and count towards the same limits.
        self._head_bytes += len(name) + len(value) + 4  # ": " and CRLF
        self._fields += 1
        if self._head_bytes > self._max_head_bytes or self._fields > self._max_fields:
            self._refusal = 431
            raise _HeadTooLarge
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._idle = True
        super().on_message_complete()

    def _refuse(self) -> None:
        """Answers a head over the limits and closes the connection (there is no telling
        where the next request would start). Over-long trailers arrive while the app is
        answering: the connection is closed without a word."""
        if self._in_head:
            body = REFUSAL_BODY[self._refusal]
            content = [STATUS_LINE[self._refusal]]
            for name, value in self.server_state.default_headers:
                content.extend([name, b": ", value, b"\r\n"])
            content.extend(
                [
                    b"content-type: text/plain; charset=utf-8\r\n",
                    b"content-length: " + str(len(body)).encode("ascii") + b"\r\n",
                    b"connection: close\r\n",
                    b"\r\n",
                    body,
                ]
            )
            self.transport.write(b"".join(content))
        self.transport.close()
