"""Noting a Redis fallback: every one counted, the log kept to a line per interval."""

from __future__ import annotations

import logging

import pytest

from appward import fallback
from appward.fallback import Fallback, fallback_counts, fallback_used


def test_each_fallback_is_counted_and_logged_once_per_interval(
    monkeypatch, caplog, fresh_fallback_log
):
    caplog.set_level(logging.WARNING, logger="appward.fallback")
    now = [1000.0]
    monkeypatch.setattr(fallback.time, "monotonic", lambda: now[0])
    before = fallback_counts()
    for _ in range(3):
        fallback_used(Fallback.RATE_LIMIT, ConnectionError("secret-free"), name="registrations")
    fallback_used(Fallback.JTI_REPLAY, TimeoutError())
    assert fallback_counts()[Fallback.RATE_LIMIT] - before[Fallback.RATE_LIMIT] == 3
    assert fallback_counts()[Fallback.JTI_REPLAY] - before[Fallback.JTI_REPLAY] == 1
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "Redis unavailable (ConnectionError) for registrations: "
        "rate limits count in this process only",
        "Redis unavailable (TimeoutError): jti replay checks use the database",
    ]
    now[0] += fallback.LOG_INTERVAL
    fallback_used(Fallback.RATE_LIMIT, ConnectionError(), name="registrations")
    assert caplog.records[-1].getMessage().endswith("(2 more since the last line)")


@pytest.mark.parametrize("kind", list(Fallback))
def test_every_fallback_says_what_it_does(kind):
    assert fallback._WHAT[kind]
