"""What the security review of client assertions found (stop 18), each as the test that
would have caught it: a signed assertion with extreme claims is invalid_client, never a
500; a jti is remembered for as long as its assertion is accepted; an RSA key too costly
to verify against is refused at registration."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.functional.conftest import Api
from tests.functional.test_private_key_jwt import claims_for, orders, register, sign, token
from tests.keys import rsa_key

__all__ = ["orders"]  # the fixture, used by name

pytestmark = pytest.mark.anyio


def refused(response: Any) -> None:
    assert response.status_code == 401, (response.status_code, response.text)
    assert response.json()["error"] == "invalid_client"


@pytest.mark.parametrize(
    "changes",
    [
        {"exp": 253402300799, "iat": None},  # 9999-12-31: exp + skew overflowed
        {"nbf": -62135596800},  # year 1: nbf - skew overflowed
        {"iat": -62135596800},
        {"exp": 1e300, "iat": None},
    ],
    ids=["exp-max", "nbf-min", "iat-min", "exp-huge-float"],
)
async def test_extreme_numeric_dates_are_invalid_client_not_500(
    orders: Api, clock, changes: dict[str, Any]
) -> None:
    client = await register(orders, rsa_key())
    claims = {
        k: v
        for k, v in {**claims_for(client["client_id"], clock), **changes}.items()
        if v is not None
    }
    refused(await token(orders, sign(rsa_key(), claims)))


async def test_a_jti_that_is_not_text_is_invalid_client_not_500(orders: Api, clock) -> None:
    client = await register(orders, rsa_key())
    # PyJWT writes the lone surrogate as the JSON escape \ud800; the server reads it back.
    claims = claims_for(client["client_id"], clock, jti="\ud800")
    refused(await token(orders, sign(rsa_key(), claims)))


async def test_a_jti_is_remembered_for_as_long_as_its_assertion_is_accepted(
    orders: Api, clock
) -> None:
    """iat may be up to the clock skew (30 s) ahead and exp 300 s after it: such an
    assertion is accepted until exp + skew, so its jti must be kept that long (it was
    forgotten 30 s earlier, and the assertion could then be replayed)."""
    client = await register(orders, rsa_key())
    now = int(clock.now().timestamp())
    claims = claims_for(client["client_id"], clock, iat=now + 30, exp=now + 330)
    assertion = sign(rsa_key(), claims)
    assert (await token(orders, assertion)).status_code == 200
    clock.advance(340)
    refused(await token(orders, assertion))


def _rsa_jwk(bits: int, exponent: int) -> dict[str, str]:
    def b64(number: int) -> str:
        raw = number.to_bytes((number.bit_length() + 7) // 8, "big")
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    modulus = rsa.generate_private_key(65537, bits).public_key().public_numbers().n
    return {"kty": "RSA", "n": b64(modulus), "e": b64(exponent), "kid": "big"}


@pytest.mark.parametrize(
    ("bits", "exponent"),
    [(1024, 65537), (3072, (1 << 3000) + 1)],
    ids=["short-modulus", "huge-exponent"],
)
async def test_rsa_keys_too_weak_or_too_costly_to_verify_are_refused(
    orders: Api, bits: int, exponent: int
) -> None:
    """A huge public exponent made each signature check cost tens of milliseconds of the
    event loop, before anyone was proven: twenty such keys and a garbage assertion
    stalled a worker."""
    response = await orders.post(
        "/admin/v1/clients",
        {
            "client_name": "Costly keys",
            "grant_types": ["client_credentials"],
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": {"keys": [_rsa_jwk(bits, exponent)]},
        },
    )
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["field"] == "jwks"


async def test_before_the_proof_holds_nothing_tells_the_registered_method(
    orders: Api, clock
) -> None:
    """A wrong key, an unknown kid or a disallowed alg gets the same answer as an
    assertion naming a client of another method: the description tells an unproven
    caller nothing about the client's keys, algorithms or method."""
    from tests.factories import SERVICE, metadata
    from tests.keys import ec_key

    keyed = await register(orders, rsa_key(), token_endpoint_auth_signing_alg="PS256")
    secret = (await orders.post("/admin/v1/clients", metadata(SERVICE))).json()
    answers = []
    for client_id, assertion in (
        (secret["client_id"], None),
        (keyed["client_id"], None),
        (keyed["client_id"], "rs256"),
    ):
        claims = claims_for(client_id, clock)
        signed = sign(rsa_key(), claims, "RS256") if assertion else sign(ec_key("nobody"), claims)
        response = await token(orders, signed)
        refused(response)
        answers.append(response.json()["error_description"])
    assert len(set(answers)) == 1, answers
    assert "PS256" not in answers[0]
