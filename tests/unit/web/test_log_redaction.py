"""web/pipeline.py's redaction of one-time-link tokens from log lines."""

from __future__ import annotations

import logging

import pytest

from appward.web.pipeline import RedactAccessLog, redacted_path


@pytest.mark.parametrize(
    ("path", "logged"),
    [
        ("/password-reset/abcDEF_123-x", "/password-reset/[redacted]"),
        ("/password-reset/abc?token=1", "/password-reset/[redacted]"),
        ("/password-reset/abc/more?x=1", "/password-reset/[redacted]/more"),
        ("/password-reset", "/password-reset"),
        ("/password-reset/", "/password-reset/"),
        ("/login?next=/password-reset/abc", "/login?next=/password-reset/abc"),
        ("/account", "/account"),
    ],
)
def test_the_token_segment_of_a_reset_link_is_redacted(path, logged):
    assert redacted_path(path) == logged


def test_the_access_log_filter_rewrites_uvicorns_path_argument():
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:1", "GET", "/password-reset/s3cret?a=b", "1.1", 200),
        None,
    )
    assert RedactAccessLog().filter(record)
    assert record.getMessage() == '127.0.0.1:1 - "GET /password-reset/[redacted] HTTP/1.1" 200'
