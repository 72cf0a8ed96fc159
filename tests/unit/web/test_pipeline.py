"""web/pipeline.py as plain ASGI: what passes through untouched, and a failure after the
answer has begun."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from starlette.types import Message, Receive, Scope, Send

from appward.web.pipeline import Pipeline

pytestmark = pytest.mark.anyio


async def _receive() -> Message:
    return {"type": "http.disconnect"}


def _collector() -> tuple[list[Message], Send]:
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    return sent, send


async def test_lifespan_passes_through_without_a_request_id() -> None:
    seen: list[Scope] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope)

    scope: dict[str, Any] = {"type": "lifespan"}
    await Pipeline(app, {}, None)(scope, _receive, _collector()[1])  # type: ignore[arg-type]
    assert seen == [{"type": "lifespan"}]


async def test_failure_after_the_answer_began_is_logged_and_nothing_more_sent(caplog) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        raise RuntimeError("midway")

    sent, send = _collector()
    scope = {"type": "http", "method": "GET", "path": "/x", "headers": []}
    caplog.set_level(logging.INFO, logger="appward.web")
    await Pipeline(app, {}, None)(scope, _receive, send)  # type: ignore[arg-type]
    assert [m["type"] for m in sent] == ["http.response.start"]
    request_id = scope["state"]["request_id"]  # type: ignore[index]
    assert (b"x-request-id", request_id.encode()) in sent[0]["headers"]
    [record] = caplog.records
    assert request_id in record.getMessage()
    assert record.exc_info is not None
