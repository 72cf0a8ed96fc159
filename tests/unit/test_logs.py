"""The log handler: INFO lines gathered and written as whole lines in few writes, a
WARNING at once and after what came before it, nothing lost at a flush."""

from __future__ import annotations

import io
import json
import logging
import time

from appward import logs
from appward.logs import BufferedStreamHandler, JsonFormatter


class RecordingStream(io.StringIO):
    """Remembers each write it is given, as the system call that write becomes."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[str] = []

    def write(self, text: str) -> int:
        self.writes.append(text)
        return super().write(text)


def handler() -> tuple[BufferedStreamHandler, RecordingStream]:
    stream = RecordingStream()
    h = BufferedStreamHandler(stream)
    h.setFormatter(JsonFormatter())
    return h, stream


def record(level: int, message: str) -> logging.LogRecord:
    return logging.LogRecord("appward.test", level, __file__, 1, message, None, None)


def test_info_lines_go_out_as_whole_lines_a_chunk_at_a_time():
    h, stream = handler()
    for i in range(1_000):
        h.write_info("appward.request", f"request {i}", {"request_id": f"{i:016x}"})
    h.flush()
    lines = stream.getvalue().splitlines()
    assert [json.loads(line)["message"] for line in lines] == [f"request {i}" for i in range(1_000)]
    assert len(stream.writes) < 1_000 / 10  # about 30 lines a write
    for written in stream.writes:
        assert written.endswith("\n")  # never a line cut across two writes
        assert len(written) <= logs.WRITE_CHUNK


def test_a_warning_is_written_at_once_after_the_lines_before_it():
    h, stream = handler()
    h.write_info("appward.request", "first", {})
    h.emit(record(logging.INFO, "second"))
    assert stream.getvalue() == ""  # gathered
    h.emit(record(logging.WARNING, "the warning"))
    messages = [json.loads(line)["message"] for line in stream.getvalue().splitlines()]
    assert messages == ["first", "second", "the warning"]


def test_gathered_lines_are_written_without_a_flush_soon_after():
    h, stream = handler()
    h.write_info("appward.request", "waiting", {})
    deadline = time.monotonic() + 30  # the flusher's interval is 0.2 s: a bound, not a timing
    while "waiting" not in stream.getvalue() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "waiting" in stream.getvalue()


def test_a_line_longer_than_a_chunk_goes_alone_and_whole():
    h, stream = handler()
    h.write_info("appward.request", "short", {})
    h.write_info("appward.request", "x" * (2 * logs.WRITE_CHUNK), {})
    h.write_info("appward.request", "after", {})
    h.flush()
    messages = [json.loads(line)["message"] for line in stream.getvalue().splitlines()]
    assert messages == ["short", "x" * (2 * logs.WRITE_CHUNK), "after"]
    assert all(written.endswith("\n") for written in stream.writes)


def test_a_request_line_is_the_json_a_log_record_with_its_fields_would_give():
    """request_log.render_line builds the line by hand (no dict, no record): it must
    parse to what JsonFormatter.line writes for the same fields, whatever the values
    hold (quotes, backslashes, control characters, non-ASCII)."""
    from appward.web.request_log import render_line

    formatter = JsonFormatter()
    created = 1_796_000_000.123456
    for method, route, client_id, code in [
        ("POST", "/oauth2/token", "c-abc123", None),
        ("GET", "/admin/v1/clients/{client_id}", None, "not_found"),
        ('BR"EW\\', 'unmatched\n\t"x"', 'é"\\\x01', 'in"valid'),
    ]:
        values = (created, "0123456789abcdef", method, route, 401, 1.23456, client_id, code)
        fields: dict[str, object] = {
            "request_id": "0123456789abcdef",
            "method": method,
            "route": route,
            "status": 401,
            "duration_ms": round(1.23456, 3),
        }
        if client_id is not None:
            fields["client_id"] = client_id
        if code is not None:
            fields["error"] = code
        message = f"request 0123456789abcdef: {method} {route} -> 401 in 1.2 ms" + (
            "" if client_id is None else f", client {client_id}"
        )
        expected = formatter.line(created, "INFO", "appward.request", message, fields)
        line = render_line(formatter, values)
        assert json.loads(line) == json.loads(expected)
        assert list(json.loads(line)) == list(json.loads(expected))  # the same order
    text = render_line(logging.Formatter(), values)
    assert text.startswith("INFO:     appward.request: request 0123456789abcdef: ")


def test_lines_made_later_keep_their_place_among_the_others():
    h, stream = handler()
    h.write_info("appward.web", "before", {})
    h.write_later(lambda formatter, values: f'{{"message":"{values[0]}"}}', ("later",))
    h.emit(record(logging.WARNING, "after"))
    messages = [json.loads(line)["message"] for line in stream.getvalue().splitlines()]
    assert messages == ["before", "later", "after"]


def test_a_line_that_cannot_be_made_is_replaced_and_the_others_are_written():
    h, stream = handler()

    def broken(formatter, values):
        raise ValueError(f"holds {values[0]}")

    h.write_info("appward.request", "before", {})
    h.write_later(broken, ("a-secret-value",))
    h.write_info("appward.request", "after", {})
    h.flush()
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["message"] for line in lines] == [
        "before",
        "a log line could not be formatted (ValueError)",
        "after",
    ]
    assert "a-secret-value" not in stream.getvalue()
    h.emit(record(logging.WARNING, "still logging"))
    assert "still logging" in stream.getvalue()


def test_chunks_are_counted_in_bytes_for_non_ascii_lines():
    h, stream = handler()
    for i in range(200):
        h.write_info("appward.request", f"{i} " + "é" * 100, {})
    h.flush()
    assert len(stream.getvalue().splitlines()) == 200
    for written in stream.writes:
        assert written.endswith("\n")
        assert len(written.encode()) <= logs.WRITE_CHUNK
