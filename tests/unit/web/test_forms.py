"""The token endpoint's own form splitter must read bodies exactly as urllib does."""

from __future__ import annotations

import random
from urllib.parse import parse_qsl

import pytest

from appward.web.forms import form_pairs

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
