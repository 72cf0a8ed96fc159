"""The coalescing transport: writes of one loop step go out as one, in order."""

from __future__ import annotations

import asyncio
import inspect

import pytest
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from appward.web.http_protocol import FLUSH_AT, CoalescingHttpProtocol, CoalescingTransport

pytestmark = pytest.mark.anyio


class RecordingTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str, default: object = None) -> object:
        return {"peername": ("127.0.0.1", 1)}.get(name, default)


async def test_writes_of_one_step_are_sent_together_and_in_order():
    real = RecordingTransport()
    transport = CoalescingTransport(real, asyncio.get_running_loop())
    transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
    transport.write(memoryview(b"body"))
    assert real.writes == []
    assert transport.get_write_buffer_size() == len(b"HTTP/1.1 200 OK\r\n\r\nbody")
    await asyncio.sleep(0)
    assert real.writes == [b"HTTP/1.1 200 OK\r\n\r\nbody"]
    transport.write(b"next")
    await asyncio.sleep(0)
    assert real.writes[1:] == [b"next"]


async def test_close_sends_what_is_pending_first():
    real = RecordingTransport()
    transport = CoalescingTransport(real, asyncio.get_running_loop())
    transport.write(b"last words")
    transport.close()
    assert real.writes == [b"last words"]
    assert real.closed
    await asyncio.sleep(0)  # the scheduled flush finds nothing left
    assert real.writes == [b"last words"]


async def test_nothing_is_written_to_a_transport_already_closing():
    real = RecordingTransport()
    transport = CoalescingTransport(real, asyncio.get_running_loop())
    transport.write(b"late")
    real.closed = True  # e.g. the client went away
    await asyncio.sleep(0)
    assert real.writes == []


async def test_everything_else_is_the_real_transport():
    real = RecordingTransport()
    transport = CoalescingTransport(real, asyncio.get_running_loop())
    assert transport.get_extra_info("peername") == ("127.0.0.1", 1)
    assert transport.is_closing() is False


async def test_a_large_body_is_sent_at_once_for_flow_control():
    real = RecordingTransport()
    transport = CoalescingTransport(real, asyncio.get_running_loop())
    transport.write(b"head")
    transport.write(b"x" * FLUSH_AT)
    assert real.writes == [b"head" + b"x" * FLUSH_AT]
    assert transport.get_write_buffer_size() == 0
    transport.write(b"tail")
    await asyncio.sleep(0)
    assert real.writes[1:] == [b"tail"]


async def test_writelines_waits_its_turn_with_the_writes():
    """Data given to writelines is gathered like write's, in order, not sent ahead."""
    real = RecordingTransport()
    transport = CoalescingTransport(real, asyncio.get_running_loop())
    transport.write(b"head ")
    transport.writelines([b"body ", memoryview(b"of "), bytearray(b"lines")])
    assert real.writes == []
    assert transport.get_write_buffer_size() == len(b"head body of lines")
    await asyncio.sleep(0)
    assert real.writes == [b"head body of lines"]


async def test_writelines_of_a_large_body_is_sent_at_once():
    real = RecordingTransport()
    transport = CoalescingTransport(real, asyncio.get_running_loop())
    transport.writelines([b"x" * (FLUSH_AT // 2), b"y" * (FLUSH_AT // 2)])
    assert real.writes == [b"x" * (FLUSH_AT // 2) + b"y" * (FLUSH_AT // 2)]


# What CoalescingHttpProtocol overrides or calls in uvicorn's private HttpToolsProtocol:
# if an upgrade renames, drops or reshapes one, this fails before production does.
UPSTREAM_HOOKS = {
    "__init__": ["self", "config", "server_state", "app_state", "_loop"],
    "connection_made": ["self", "transport"],
    "data_received": ["self", "data"],
    "on_message_begin": ["self"],
    "on_url": ["self", "url"],
    "on_header": ["self", "name", "value"],
    "on_headers_complete": ["self"],
    "on_message_complete": ["self"],
    "_unset_keepalive_if_required": ["self"],
    "send_400_response": ["self", "msg"],
    "_should_upgrade": ["self"],
    "handle_websocket_upgrade": ["self"],
    "_unsupported_upgrade_warning": ["self"],
}


@pytest.mark.parametrize(("name", "parameters"), UPSTREAM_HOOKS.items(), ids=UPSTREAM_HOOKS)
def test_uvicorn_hooks_keep_their_signatures(name: str, parameters: list[str]) -> None:
    method = getattr(HttpToolsProtocol, name, None)
    assert callable(method), f"uvicorn's HttpToolsProtocol.{name} is gone"
    assert list(inspect.signature(method).parameters) == parameters


def test_uvicorn_status_lines_are_still_there() -> None:
    assert STATUS_LINE[431].startswith(b"HTTP/1.1 431 ")
    assert STATUS_LINE[414].startswith(b"HTTP/1.1 414 ")


def test_the_protocol_still_overrides_only_known_hooks() -> None:
    """Every method CoalescingHttpProtocol defines over uvicorn's is one pinned above."""
    overridden = {
        name
        for name, value in vars(CoalescingHttpProtocol).items()
        if callable(value) and hasattr(HttpToolsProtocol, name)
    }
    assert overridden <= set(UPSTREAM_HOOKS)
