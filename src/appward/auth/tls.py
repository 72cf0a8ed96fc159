"""tls_client_auth and self_signed_tls_client_auth (RFC 8705 §2): the TLS client
certificate, passed on by the TLS-terminating proxy, is the client's proof; and the
x5t#S256 thumbprint that binds tokens to that certificate (RFC 8705 §3.1).

Chain validation is cryptography's (``x509.verification``: the WebPKI profile's rules
for a client certificate), never our own.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
from pathlib import Path
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    PolicyBuilder,
    Store,
    VerificationError,
)

from appward.auth.client_keys import client_keys, key_label, note_key_use
from appward.auth.credentials import AuthContext, PresentedCredentials
from appward.clients.distinguished_name import parse_subject_dn
from appward.clients.models import ClientSecret
from appward.clients.snapshot import ClientSnapshot
from appward.errors import InvalidClient


def certificate_thumbprint(certificate: x509.Certificate) -> str:
    """Returns the certificate's x5t#S256: the base64url SHA-256 of its DER encoding,
    unpadded (RFC 8705 §3.1)."""
    digest = hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def load_client_ca(path: Path) -> Store:
    """Returns the trust store of the PEM CA bundle at ``path``: the CAs (root or
    intermediate) a tls_client_auth certificate must chain to.

    Raises ValueError when the file cannot be read or holds no certificate.
    """
    try:
        certificates = x509.load_pem_x509_certificates(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise ValueError(f"APPWARD_MTLS_CA_BUNDLE {path}: {exc}") from None
    return Store(certificates)


# The WebPKI profile wants a subjectAltName in every end-entity certificate; a client
# certificate identified by its subject DN alone (RFC 8705 §2.1.2) often has none.
_EE_POLICY = ExtensionPolicy.webpki_defaults_ee().may_be_present(
    x509.SubjectAlternativeName, Criticality.AGNOSTIC, None
)


def verify_chain(certificate: x509.Certificate, store: Store, context: AuthContext) -> None:
    """Checks that ``certificate`` chains to a CA of ``store`` and is valid now, as a
    TLS client certificate (the WebPKI profile: key usage, extended key usage, basic
    constraints, validity of every certificate of the chain).

    Raises InvalidClient when it does not.
    """
    verifier = (
        PolicyBuilder()
        .store(store)
        .time(context.clock.now())
        .extension_policies(ca_policy=ExtensionPolicy.webpki_defaults_ca(), ee_policy=_EE_POLICY)
        .build_client_verifier()
    )
    try:
        verifier.verify(certificate, [])
    except VerificationError as exc:
        # The reason, without the certificate cryptography's message goes on to describe.
        reason = str(exc).split(" (encountered", 1)[0][:200]
        raise InvalidClient(detail=f"client certificate not trusted: {reason}") from None


def _alternative_names(certificate: x509.Certificate) -> x509.SubjectAlternativeName:
    try:
        return certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return x509.SubjectAlternativeName([])


def _subject_matches(client: ClientSnapshot, certificate: x509.Certificate) -> bool:
    # RFC 8705 §2.1.2: exactly one of these is registered (clients/metadata.py).
    if client.tls_client_auth_subject_dn is not None:
        try:
            registered = parse_subject_dn(client.tls_client_auth_subject_dn)
        except ValueError:
            return False
        # Attribute by attribute, in order: types by OID, values exactly.
        return registered == certificate.subject
    names = _alternative_names(certificate)
    if client.tls_client_auth_san_dns is not None:
        dns = client.tls_client_auth_san_dns.lower()  # DNS names are case-insensitive
        return any(name.lower() == dns for name in names.get_values_for_type(x509.DNSName))
    if client.tls_client_auth_san_uri is not None:
        uris = names.get_values_for_type(x509.UniformResourceIdentifier)
        return client.tls_client_auth_san_uri in uris
    if client.tls_client_auth_san_ip is not None:
        try:
            address = ipaddress.ip_address(client.tls_client_auth_san_ip)
        except ValueError:
            return False
        return address in names.get_values_for_type(x509.IPAddress)
    if client.tls_client_auth_san_email is not None:
        email = _email_key(client.tls_client_auth_san_email)
        return any(_email_key(e) == email for e in names.get_values_for_type(x509.RFC822Name))
    return False


def _email_key(address: str) -> tuple[str, str]:
    # The local part is the mailbox owner's (case-sensitive); the domain is not.
    local, _, domain = address.rpartition("@")
    return local, domain.lower()


async def authenticate_with_ca_certificate(
    client: ClientSnapshot, presented: PresentedCredentials, context: AuthContext
) -> ClientSecret | None:
    """tls_client_auth (RFC 8705 §2.1): the certificate chains to a configured CA and its
    subject is the one the client registered. Returns None (no secret is involved).

    Raises InvalidClient without a certificate, without a configured CA bundle (the
    method then fails closed), for an untrusted chain or another subject.
    """
    certificate = presented.certificate
    if certificate is None:
        raise InvalidClient(detail="tls_client_auth without a client certificate")
    store = context.tools.client_ca
    if store is None:
        raise InvalidClient(detail="no APPWARD_MTLS_CA_BUNDLE: tls_client_auth is refused")
    verify_chain(certificate, store, context)
    if not _subject_matches(client, certificate):
        raise InvalidClient(detail="the certificate's subject is not the registered one")
    return None


def key_matches(certificate: x509.Certificate, jwk: dict[str, Any]) -> bool:
    """Returns whether the certificate's public key is the JWK's (the same
    SubjectPublicKeyInfo); False for a JWK that is no usable public key."""
    try:
        registered = jwt.PyJWK(jwk).key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    except (jwt.PyJWTError, AttributeError, TypeError, ValueError):
        return False  # an HMAC key, an unknown key type, a malformed member
    presented = certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hmac.compare_digest(registered, presented)


async def authenticate_with_self_signed_certificate(
    client: ClientSnapshot, presented: PresentedCredentials, context: AuthContext
) -> ClientSecret | None:
    """self_signed_tls_client_auth (RFC 8705 §2.2): the certificate's public key is one
    of the client's registered keys (jwks or jwks_uri); no chain is checked, the key is
    the binding. Records the key's use. Returns None.

    Raises InvalidClient without a certificate, when the client's keys cannot be had or
    none of them is the certificate's.
    """
    certificate = presented.certificate
    if certificate is None:
        raise InvalidClient(detail="self_signed_tls_client_auth without a client certificate")
    for jwk in await client_keys(client, context):
        if key_matches(certificate, jwk):
            await note_key_use(context, client.pk, key_label(jwk))
            return None
    raise InvalidClient(detail="the certificate's key is none of the client's registered keys")
