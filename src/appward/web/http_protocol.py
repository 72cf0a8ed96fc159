"""uvicorn's httptools protocol, with the writes of one event-loop step sent together.

An ASGI response is at least two messages (start, then body) and uvicorn writes each to
the socket as it comes: two system calls and usually two TCP segments for one small
answer, which on the token endpoint costs the server and its client more than the JSON
does. Writes are gathered and flushed once per loop iteration instead; order is kept,
and nothing waits longer than the current step.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

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


class CoalescingHttpProtocol(HttpToolsProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        coalescing = CoalescingTransport(transport, self.loop)
        super().connection_made(coalescing)  # type: ignore[arg-type]
