"""F3: appward_http_requests_total takes the request's method as a label verbatim.
Under `appward serve` httptools only parses methods llhttp knows (a few dozen), but the
app is meant to be safe behind any ASGI server (web/request_size.py says so): behind one
that parses with h11 (uvicorn --http h11, hypercorn) any token is a method, so an
unauthenticated caller mints one new series per request, for ever, in every worker, and
in the multiprocess files: unbounded memory and a scrape that grows without end.

Fails while the bug exists."""

from __future__ import annotations

import pytest

from tests.functional.test_observability import free_port, observed, scrape

pytestmark = pytest.mark.anyio

SENT = 200
BOUND = 20  # the methods the app serves, and one label for any other


async def test_method_labels_stay_bounded_whatever_a_caller_sends(settings, clock):
    port = free_port()
    async with observed(settings, clock, metrics_enabled=True, metrics_port=port) as api:
        for n in range(SENT):
            response = await api.http.request(f"X{n:04d}", "/healthz")
            assert response.status_code < 500, response.text
        samples = await scrape(port)
    methods = {
        value
        for (name, pairs) in samples
        if name == "appward_http_requests_total"
        for key, value in pairs
        if key == "method"
    }
    assert len(methods) <= BOUND, f"{len(methods)} method labels from {SENT} requests"
