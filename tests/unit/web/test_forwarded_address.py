"""Which X-Forwarded-For entry is the proxy's: the last one of the last line."""

from __future__ import annotations

import pytest

from appward.web.deps import forwarded_address


@pytest.mark.parametrize(
    ("lines", "address"),
    [
        (["203.0.113.9"], "203.0.113.9"),
        (["198.51.100.1, 203.0.113.9"], "203.0.113.9"),
        (["198.51.100.1", "203.0.113.9"], "203.0.113.9"),  # the proxy added its own line
        (["2001:db8::1"], "2001:db8::1"),
        (["203.0.113.9,"], None),
        ([" "], None),
        (["evil.example"], None),
        (["1.2.3.4; drop"], None),
        ([], None),
    ],
)
def test_the_proxy_entry_is_the_last_of_all_lines_and_must_be_an_address(lines, address):
    assert forwarded_address(lines) == address
