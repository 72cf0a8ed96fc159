"""auth/assertion.py on its own: which algorithms a client may use, which key fits an
algorithm, signature, audience and claim checks, and that the replay store is asked only
once everything else holds."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import jwt
import pytest

from appward.auth import assertion as checks
from appward.auth.credentials import AssertionRules, AuthContext, AuthTools
from appward.clock import FrozenClock
from appward.errors import InvalidClient
from tests.keys import ec_key, ed25519_key, rsa_key

pytestmark = pytest.mark.anyio

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
ISSUER = "https://as.example.com"
TOKEN = f"{ISSUER}/oauth2/token"
RULES = AssertionRules(issuer=ISSUER, token_endpoint=TOKEN)


def client(**changes: Any) -> Any:
    fields = {
        "client_id": "c1",
        "token_endpoint_auth_method": "private_key_jwt",
        "token_endpoint_auth_signing_alg": None,
        "assertion_audience": None,
        **changes,
    }
    return SimpleNamespace(**fields)


class Store:
    def __init__(self) -> None:
        self.seen: set[tuple[str, str]] = set()
        self.calls: list[tuple[str, str, datetime]] = []

    async def use_once(self, session: Any, client_id: str, jti: str, expires_at: datetime) -> bool:
        self.calls.append((client_id, jti, expires_at))
        if (client_id, jti) in self.seen:
            return False
        self.seen.add((client_id, jti))
        return True


def context(store: Store, rules: AssertionRules = RULES, endpoint: str = TOKEN) -> AuthContext:
    tools = AuthTools(assertion_rules=rules, replay=store)
    return AuthContext(None, None, FrozenClock(NOW), tools, endpoint)  # type: ignore[arg-type]


def claims(**changes: Any) -> dict[str, Any]:
    now = int(NOW.timestamp())
    base = {"iss": "c1", "sub": "c1", "aud": ISSUER, "iat": now, "exp": now + 60, "jti": "j"}
    return {k: v for k, v in {**base, **changes}.items() if v is not None}


@pytest.mark.parametrize(
    ("registered", "expected"),
    [
        (None, ("PS256", "ES256", "EdDSA", "RS256")),
        ("ES256", ("ES256",)),
        ("HS256", ()),  # an HMAC is never a private_key_jwt alg, whatever is stored
    ],
)
def test_allowed_algorithms(registered, expected):
    assert checks.allowed_algorithms(client(token_endpoint_auth_signing_alg=registered)) == expected


@pytest.mark.parametrize(
    ("jwk", "alg", "fits"),
    [
        (rsa_key().public_jwk(), "RS256", True),
        (rsa_key().public_jwk(), "PS256", True),
        (rsa_key().public_jwk(), "ES256", False),
        (rsa_key().public_jwk(alg="RS256"), "PS256", False),
        (rsa_key().public_jwk(key_ops=None, use="enc"), "RS256", False),
        (rsa_key().public_jwk(key_ops=["encrypt"]), "RS256", False),
        (ec_key().public_jwk(), "ES256", True),
        (ec_key().public_jwk(crv="P-384"), "ES256", False),
        (ed25519_key().public_jwk(), "EdDSA", True),
        (ed25519_key().public_jwk(), "RS256", False),
        (rsa_key().public_jwk(), "none", False),
        (rsa_key().public_jwk(), "HS256", False),
    ],
)
def test_key_fits(jwk, alg, fits):
    assert checks.key_fits(jwk, alg) is fits


@pytest.mark.parametrize(
    "header_alg", ["none", "HS256", "ES384", None, 5], ids=lambda v: f"alg={v}"
)
def test_header_alg_not_allowed(header_alg):
    token = jwt.encode(claims(), rsa_key().private, "RS256")
    _, _, rest = token.partition(".")
    forged = {"alg": header_alg, "typ": "JWT"} if header_alg is not None else {"typ": "JWT"}
    encoded = base64.urlsafe_b64encode(json.dumps(forged).encode()).rstrip(b"=").decode()
    with pytest.raises(InvalidClient):
        checks.assertion_header(f"{encoded}.{rest}", client())


def test_verify_signature_names_the_key_that_verified():
    token = jwt.encode(claims(), ec_key().private, "ES256")
    keys = [rsa_key().public_jwk(), ec_key().public_jwk()]
    found, jwk = checks.verify_signature_with_key(token, keys, "ES256")
    assert found["sub"] == "c1"
    assert jwk["kid"] == "ec-1"
    assert checks.verify_signature(token, keys, "ES256") == found
    with pytest.raises(InvalidClient):
        checks.verify_signature(token, [rsa_key().public_jwk()], "ES256")
    with pytest.raises(InvalidClient):
        checks.verify_signature(token, [ec_key("other").public_jwk()], "RS256")


COMPAT, STRICT = "compat", "strict"
AUDIENCES = [
    (ISSUER, TOKEN, True, True),
    ([ISSUER], TOKEN, True, False),
    (TOKEN, TOKEN, True, False),
    (f"{ISSUER}/oauth2/introspect", f"{ISSUER}/oauth2/introspect", True, False),
    (f"{ISSUER}/oauth2/introspect", TOKEN, False, False),
    ("https://evil.example.com", TOKEN, False, False),
    ([], TOKEN, False, False),
    (None, TOKEN, False, False),
    ([5, None], TOKEN, False, False),
    (ISSUER + "/", TOKEN, False, False),
]


@pytest.mark.parametrize(("aud", "endpoint", "compat", "strict"), AUDIENCES)
@pytest.mark.parametrize("where", ["server", "client"])
def test_audience(aud, endpoint, compat, strict, where):
    for mode, accepted in ((COMPAT, compat), (STRICT, strict)):
        other = STRICT if mode == COMPAT else COMPAT
        if where == "server":
            rules, who = AssertionRules(ISSUER, TOKEN, audience=mode), client()
        else:
            rules, who = (
                AssertionRules(ISSUER, TOKEN, audience=other),
                client(assertion_audience=mode),
            )
        if accepted:
            checks.check_audience(aud, rules, who, endpoint)
        else:
            with pytest.raises(InvalidClient):
                checks.check_audience(aud, rules, who, endpoint)


@pytest.mark.parametrize(
    "changes",
    [
        {"iss": "c2"},
        {"sub": "c2"},
        {"exp": None},
        {"exp": "soon"},
        {"exp": True},
        {"exp": int(NOW.timestamp()) - 31},
        {"nbf": int(NOW.timestamp()) + 31},
        {"iat": int(NOW.timestamp()) + 31, "exp": int(NOW.timestamp()) + 90},
        {"exp": int(NOW.timestamp()) + 301},
        {"jti": None},
        {"jti": ""},
        {"jti": 7},
        {"jti": "x" * 201},
        {"exp": 10**20},
    ],
    ids=lambda c: ",".join(f"{k}={str(v)[:12]}" for k, v in c.items()),
)
def test_claims_refused(changes):
    with pytest.raises(InvalidClient):
        checks.check_claims(claims(**changes), client(), context(Store()), RULES)


def test_claims_within_skew_accepted_and_remembered_until_exp():
    now = int(NOW.timestamp())
    until = checks.check_claims(
        claims(nbf=now + 20, iat=now + 20, exp=now + 100), client(), context(Store()), RULES
    )
    assert until == NOW + timedelta(seconds=130)
    # No iat: the lifetime counts from now, and the memory never outlives max lifetime.
    until = checks.check_claims(claims(iat=None, exp=now + 290), client(), context(Store()), RULES)
    assert until <= NOW + timedelta(seconds=330)


async def test_verify_assertion_records_the_jti_only_once_all_holds():
    store = Store()
    keys = [rsa_key().public_jwk()]
    good = jwt.encode(claims(jti="a"), rsa_key().private, "RS256")
    assert (await checks.verify_assertion(good, client(), keys, context(store)))["jti"] == "a"
    with pytest.raises(InvalidClient, match="used already"):
        await checks.verify_assertion(good, client(), keys, context(store))
    forged = jwt.encode(claims(jti="b"), ec_key().private, "ES256")
    wrong_aud = jwt.encode(claims(jti="c", aud="https://x"), rsa_key().private, "RS256")
    for bad in (forged, wrong_aud):
        with pytest.raises(InvalidClient):
            await checks.verify_assertion(bad, client(), keys, context(store))
    assert [jti for _, jti, _ in store.calls] == ["a", "a"]


async def test_verify_assertion_without_tools_refuses():
    token = jwt.encode(claims(), rsa_key().private, "RS256")
    bare = AuthContext(None, None, FrozenClock(NOW))  # type: ignore[arg-type]
    with pytest.raises(InvalidClient):
        await checks.verify_assertion(token, client(), [rsa_key().public_jwk()], bare)
