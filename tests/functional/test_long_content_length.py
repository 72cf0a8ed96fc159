"""F4: a Content-Length of more than 4300 digits makes every endpoint answer 500.
web/request_size.oversized (and web/forms.read_body) call int() on the header's digits;
Python refuses to convert a decimal string that long (sys.get_int_max_str_digits, a
ValueError), which nothing catches. httptools (appward serve) refuses such a head itself,
but the app promises the same limits behind any ASGI server, and "never a 500".

Fails while the bug exists."""

from __future__ import annotations

import pytest

from tests.functional.conftest import open_api

pytestmark = pytest.mark.anyio

LENGTHS = ("9" * 5000, "0" * 5000 + "3")


@pytest.mark.parametrize("path", ["/oauth2/token", "/admin/v1/clients", "/healthz"])
async def test_a_very_long_content_length_is_a_4xx(settings, clock, path):
    async with open_api(settings, clock) as api:
        for length in LENGTHS:
            response = await api.http.post(
                path,
                content=b"a=b",
                headers={
                    "content-length": length,
                    "content-type": "application/x-www-form-urlencoded",
                },
            )
            assert 400 <= response.status_code < 500, (path, len(length), response.text)
