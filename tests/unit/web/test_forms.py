"""web/forms.py, the one body reader: the form splitter reads bodies exactly as urllib does;
bodies and JSON documents keep their limits."""

from __future__ import annotations

import random
from urllib.parse import parse_qsl

import pytest
from starlette.requests import Request

from appward.errors import InvalidInput, InvalidRequest, PayloadTooLarge
from appward.web.forms import (
    FORM,
    MAX_JSON_DEPTH,
    form_pairs,
    parse_form,
    parse_json,
    read_body,
    read_json_object,
)

SAMPLES = [
    "",
    "&",
    "&&a=1&&",
    "grant_type=client_credentials&scope=api%3Aread",
    "a=1&a=2",
    "a",
    "a=",
    "=b",
    "a==b",
    "scope=api+read&x=%20%2B",
    "bad=%zz&half=%E2%82",
    "unicode=%C3%A9t%C3%A9&raw=été",
    "semi=a;b=c",
    "plus+name=v",
]


@pytest.mark.parametrize("text", SAMPLES)
def test_matches_parse_qsl(text: str) -> None:
    assert form_pairs(text) == parse_qsl(text, keep_blank_values=True)


def test_matches_parse_qsl_on_random_input() -> None:
    rng = random.Random(20261128)
    alphabet = "ab=&%+2F3A;é \x00"
    for _ in range(5000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 24)))
        assert form_pairs(text) == parse_qsl(text, keep_blank_values=True), text


# --- bodies and JSON: the limits and errors every endpoint shares (web/forms.py) ---


def _receiver(*messages: dict[str, object]):  # type: ignore[no-untyped-def]
    queue = list(messages)

    async def receive() -> dict[str, object]:
        return queue.pop(0)

    return receive


@pytest.mark.anyio
async def test_body_in_several_chunks_is_read_whole() -> None:
    receive = _receiver(
        {"type": "http.request", "body": b"a=1", "more_body": True},
        {"type": "http.request", "body": b"&b=2", "more_body": False},
    )
    assert await read_body(receive, "", 100) == b"a=1&b=2"


@pytest.mark.anyio
@pytest.mark.parametrize("declared", ["101", ""])
async def test_body_over_the_limit_is_payload_too_large(declared: str) -> None:
    receive = _receiver({"type": "http.request", "body": b"x" * 101, "more_body": False})
    with pytest.raises(PayloadTooLarge, match="larger than 100 bytes") as refused:
        await read_body(receive, declared, 100)
    assert refused.value.status_code == 413
    assert refused.value.error == "invalid_request"


@pytest.mark.anyio
async def test_declared_length_over_the_limit_is_refused_before_reading() -> None:
    async def receive() -> dict[str, object]:
        raise AssertionError("read")

    with pytest.raises(PayloadTooLarge):
        await read_body(receive, str(16 * 1024 + 1), 16 * 1024)


@pytest.mark.anyio
async def test_client_going_away_is_invalid_request() -> None:
    with pytest.raises(InvalidRequest, match="went away"):
        await read_body(_receiver({"type": "http.disconnect"}), "", 100)


def test_form_must_be_form_urlencoded() -> None:
    with pytest.raises(InvalidRequest, match=FORM):
        parse_form("application/json", b"a=1")
    assert parse_form(f"{FORM}; charset=UTF-8", b"a=1&b=") == {"a": "1"}


def test_repeated_form_parameter_is_invalid_request() -> None:
    """RFC 6749 §3.2: request parameters must not be included more than once."""
    with pytest.raises(InvalidRequest, match="repeated"):
        parse_form(FORM, b"scope=a&scope=b")


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b'{"a": NaN}', "NaN"),
        (b'{"a": Infinity}', "Infinity"),
        (b'{"a": "\\ud800"}', "lone surrogate"),
        (b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1), "nested deeper"),
        (b"{", "not valid JSON"),
        (b"\xff", "not valid JSON"),
    ],
)
def test_json_that_is_no_json_document_is_refused(raw: bytes, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_json(raw)


def _request(body: bytes) -> Request:
    scope = {"type": "http", "method": "POST", "path": "/", "headers": []}
    return Request(scope, _receiver({"type": "http.request", "body": body}))


@pytest.mark.anyio
async def test_json_object_reader_of_the_admin_api() -> None:
    assert await read_json_object(_request(b'{"a": 1}'), 100) == {"a": 1}
    for raw, message in [(b"", "JSON object"), (b"[1]", "JSON object"), (b"{", "not valid")]:
        with pytest.raises(InvalidInput, match=message):
            await read_json_object(_request(raw), 100)
    with pytest.raises(PayloadTooLarge):
        await read_json_object(_request(b'{"a": "' + b"x" * 100 + b'"}'), 100)


@pytest.mark.anyio
async def test_a_reader_may_name_its_own_too_large_error() -> None:
    """A caller may answer a body too large with an error of its own."""
    too_large = InvalidInput("over 100 bytes")
    receive = _receiver({"type": "http.request", "body": b"x" * 101})
    with pytest.raises(InvalidInput, match="over 100 bytes"):
        await read_body(receive, "", 100, too_large)
    with pytest.raises(InvalidInput, match="over 100 bytes"):
        await read_body(_receiver(), "101", 100, too_large)
