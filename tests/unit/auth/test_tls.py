"""tls_client_auth and self_signed_tls_client_auth (RFC 8705 §2): chain validation, the
registered subject, the key match, and the x5t#S256 thumbprint (§3.1)."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.verification import Store
from sqlalchemy.ext.asyncio import AsyncSession

from appward.auth.credentials import AuthContext, AuthTools, PresentedCredentials
from appward.auth.tls import (
    authenticate_with_ca_certificate,
    certificate_thumbprint,
    key_matches,
    load_client_ca,
)
from appward.clients.models import Client
from appward.clock import FrozenClock
from appward.errors import InvalidClient
from appward.hashing import SecretVerifier
from appward.tokens.access import AccessTokenRequest, access_token_claims
from tests.certificates import Issued, make_ca, make_leaf

pytestmark = pytest.mark.anyio

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
CA = make_ca(now=NOW)
OTHER_CA = make_ca("Someone Else's CA", now=NOW)
LEAF = make_leaf(
    CA,
    now=NOW,
    common_name="billing",
    dns=("billing.example.com",),
    uris=("spiffe://example.com/billing",),
    ips=("192.0.2.7", "2001:db8::7"),
    emails=("Ops@Example.com",),
)
CA_STORE = Store([CA.certificate])


def context(store: Any = "default", *, now: datetime = NOW) -> AuthContext:
    """The context a method check gets; no database is reached by these checks."""
    tools = AuthTools(client_ca=CA_STORE if store == "default" else store)
    return AuthContext(
        cast(AsyncSession, None), cast(SecretVerifier, None), FrozenClock(now), tools
    )


def tls_client(**subject: str) -> Client:
    return Client(client_id="c1", token_endpoint_auth_method="tls_client_auth", **subject)


def presented(issued: Issued | None = LEAF) -> PresentedCredentials:
    return PresentedCredentials(
        "none", "c1", certificate=issued.certificate if issued is not None else None
    )


@pytest.fixture(scope="module")
def ca_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ca") / "bundle.pem"
    path.write_bytes(OTHER_CA.pem + CA.pem)
    return path


# --- the registered subject (RFC 8705 §2.1.2) ---


@pytest.mark.parametrize(
    "subject",
    [
        {"tls_client_auth_subject_dn": "CN=billing,O=Appward Tests,C=DE"},
        # Attribute types are case-insensitive; RFC 2253-era tools put spaces after ','.
        {"tls_client_auth_subject_dn": "cn=billing, o=Appward Tests, c=DE"},
        {"tls_client_auth_subject_dn": " Cn = billing ,O=Appward Tests ,C=DE "},
        # By OID, as RFC 4514 §3 allows for any type.
        {"tls_client_auth_subject_dn": "2.5.4.3=billing,2.5.4.10=Appward Tests,2.5.4.6=DE"},
        {"tls_client_auth_san_dns": "billing.example.com"},
        {"tls_client_auth_san_dns": "BILLING.example.com"},  # DNS names ignore case
        {"tls_client_auth_san_uri": "spiffe://example.com/billing"},
        {"tls_client_auth_san_ip": "192.0.2.7"},
        {"tls_client_auth_san_ip": "2001:db8::7"},
        {"tls_client_auth_san_ip": "2001:0db8:0000::0007"},  # the address, not the text
        {"tls_client_auth_san_email": "Ops@example.COM"},  # the domain ignores case
    ],
)
async def test_tls_client_auth_accepts_the_registered_subject(subject: dict[str, str]) -> None:
    assert (
        await authenticate_with_ca_certificate(tls_client(**subject), presented(), context())
        is None
    )


@pytest.mark.parametrize(
    "subject",
    [
        {"tls_client_auth_subject_dn": "CN=billing2,O=Appward Tests,C=DE"},
        {"tls_client_auth_subject_dn": "CN=Billing,O=Appward Tests,C=DE"},  # values exact
        {"tls_client_auth_subject_dn": "CN=billing,O=Appward Tests"},  # a prefix is not it
        {"tls_client_auth_subject_dn": "CN=billing,O=Appward Tests,C=DE,DC=extra"},
        {"tls_client_auth_subject_dn": "C=DE,O=Appward Tests,CN=billing"},  # other order
        {"tls_client_auth_subject_dn": "not a DN"},
        {"tls_client_auth_san_dns": "payroll.example.com"},
        {"tls_client_auth_san_dns": "example.com"},
        {"tls_client_auth_san_uri": "spiffe://example.com/payroll"},
        {"tls_client_auth_san_uri": "SPIFFE://example.com/billing"},
        {"tls_client_auth_san_ip": "192.0.2.8"},
        {"tls_client_auth_san_ip": "not an address"},
        {"tls_client_auth_san_email": "ops@example.com"},  # the local part keeps its case
        {"tls_client_auth_san_email": "Ops@example.org"},
        # The right name in the wrong field: a DNS SAN is not a URI, nor the CN a SAN.
        {"tls_client_auth_san_uri": "billing.example.com"},
        {"tls_client_auth_san_dns": "billing"},
        {},  # nothing registered (the validator prevents it): nothing matches
    ],
)
async def test_tls_client_auth_refuses_another_subject(subject: dict[str, str]) -> None:
    with pytest.raises(InvalidClient):
        await authenticate_with_ca_certificate(tls_client(**subject), presented(), context())


async def test_a_san_is_not_matched_in_a_certificate_without_sans() -> None:
    bare = make_leaf(CA, now=NOW, common_name="billing.example.com")
    client = tls_client(tls_client_auth_san_dns="billing.example.com")
    with pytest.raises(InvalidClient):
        await authenticate_with_ca_certificate(client, presented(bare), context())


# --- the chain (RFC 8705 §2.1: "validated against trust anchors") ---

GOOD_DN = {"tls_client_auth_subject_dn": "CN=billing,O=Appward Tests,C=DE"}


@pytest.mark.parametrize(
    ("case", "issued", "now"),
    [
        ("another CA", make_leaf(OTHER_CA, now=NOW), NOW),
        ("self-signed", make_leaf(None, now=NOW), NOW),
        (
            "expired",
            make_leaf(
                CA, now=NOW, not_before=NOW - timedelta(days=30), not_after=NOW - timedelta(days=1)
            ),
            NOW,
        ),
        (
            "not yet valid",
            make_leaf(CA, now=NOW, not_before=NOW + timedelta(days=1)),
            NOW,
        ),
        ("a server certificate", make_leaf(CA, now=NOW, server=True), NOW),
        ("the CA has expired", LEAF, NOW + timedelta(days=400)),
    ],
)
async def test_tls_client_auth_refuses_an_untrusted_chain(
    case: str, issued: Issued, now: datetime
) -> None:
    with pytest.raises(InvalidClient) as raised:
        await authenticate_with_ca_certificate(
            tls_client(**GOOD_DN), presented(issued), context(now=now)
        )
    detail = raised.value.detail or ""
    assert "not trusted" in detail, case
    assert "Certificate(" not in detail  # logged: the reason, never the certificate


async def test_tls_client_auth_accepts_a_chain_to_any_ca_of_the_bundle(ca_bundle: Path) -> None:
    store = load_client_ca(ca_bundle)
    for issuer in (CA, OTHER_CA):
        issued = make_leaf(issuer, now=NOW)
        await authenticate_with_ca_certificate(
            tls_client(**GOOD_DN), presented(issued), context(store)
        )


async def test_tls_client_auth_fails_closed_without_a_ca_bundle() -> None:
    with pytest.raises(InvalidClient) as raised:
        await authenticate_with_ca_certificate(tls_client(**GOOD_DN), presented(), context(None))
    assert "CA_BUNDLE" in (raised.value.detail or "")


async def test_tls_client_auth_needs_a_certificate() -> None:
    with pytest.raises(InvalidClient):
        await authenticate_with_ca_certificate(tls_client(**GOOD_DN), presented(None), context())


@pytest.mark.parametrize("content", [b"", b"not a pem", b"-----BEGIN CERTIFICATE-----\nAAAA\n"])
def test_an_unreadable_ca_bundle_is_refused_at_start(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bundle.pem"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="APPWARD_MTLS_CA_BUNDLE"):
        load_client_ca(path)


def test_a_missing_ca_bundle_is_refused_at_start(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="APPWARD_MTLS_CA_BUNDLE"):
        load_client_ca(tmp_path / "absent.pem")


# --- self_signed_tls_client_auth: the certificate's key is a registered one (§2.2) ---


def _public_jwk_json(key: Any) -> str:
    from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

    public = key.public_key()
    if isinstance(public, rsa.RSAPublicKey):
        return RSAAlgorithm.to_jwk(public)
    if isinstance(public, ec.EllipticCurvePublicKey):
        return ECAlgorithm.to_jwk(public)
    return OKPAlgorithm.to_jwk(public)


def _public_jwk(key: Any) -> dict[str, Any]:
    return cast(dict[str, Any], json.loads(_public_jwk_json(key)))


@pytest.mark.parametrize(
    "key",
    [
        ec.generate_private_key(ec.SECP256R1()),
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
        ed25519.Ed25519PrivateKey.generate(),
    ],
    ids=["EC", "RSA", "OKP"],
)
def test_key_matches_the_certificates_own_key(key: Any) -> None:
    issued = make_leaf(None, now=NOW, key=key)
    assert key_matches(issued.certificate, _public_jwk(key))


@pytest.mark.parametrize(
    "jwk",
    [
        _public_jwk(ec.generate_private_key(ec.SECP256R1())),  # another key
        _public_jwk(rsa.generate_private_key(public_exponent=65537, key_size=2048)),
        {"kty": "oct", "k": base64.urlsafe_b64encode(b"k" * 32).decode().rstrip("=")},
        {"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"},  # not a point
        {"kty": "nope"},
        {},
    ],
)
def test_key_matches_nothing_else(jwk: dict[str, Any]) -> None:
    assert not key_matches(LEAF.certificate, jwk)


# --- x5t#S256 and the access token's cnf (RFC 8705 §3.1) ---


def test_thumbprint_is_the_base64url_sha256_of_the_der() -> None:
    digest = hashlib.sha256(LEAF.der).digest()
    expected = base64.urlsafe_b64encode(digest).decode().rstrip("=")
    assert certificate_thumbprint(LEAF.certificate) == expected
    assert len(expected) == 43


def test_a_bound_access_token_carries_cnf() -> None:
    request = AccessTokenRequest(
        client_id="c1",
        subject="c1",
        scopes=[],
        lifetime=600,
        audience="https://issuer",
        certificate_thumbprint=LEAF.thumbprint,
    )
    claims = access_token_claims(request, issuer="https://issuer", now=NOW, jti="j")
    assert claims["cnf"] == {"x5t#S256": LEAF.thumbprint}


def test_an_unbound_access_token_has_no_cnf() -> None:
    request = AccessTokenRequest(
        client_id="c1", subject="c1", scopes=[], lifetime=600, audience="https://issuer"
    )
    assert "cnf" not in access_token_claims(request, issuer="https://issuer", now=NOW, jti="j")


def test_a_certificate_is_never_in_the_credentials_repr() -> None:
    text = repr(presented())
    assert "BEGIN" not in text
    assert "billing" not in text
    assert isinstance(presented().certificate, x509.Certificate)
