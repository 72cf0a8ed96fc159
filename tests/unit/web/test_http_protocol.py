"""The coalescing transport: writes of one loop step go out as one, in order."""

from __future__ import annotations

import asyncio

import pytest

from appward.web.http_protocol import FLUSH_AT, CoalescingTransport

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
