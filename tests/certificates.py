"""Test certificates made with ``cryptography``: CAs, client certificates (chained or
self-signed) and a TLS server certificate, each with its private key, written as PEM
where a process (nginx, httpx) needs files."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import quote

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from appward.auth.tls import certificate_thumbprint

# The tests' frozen clock is 2026-06-01; the e2e servers run on the real clock. A
# certificate valid from a year before to a year after "now" serves either.
VALIDITY = timedelta(days=365)

PrivateKey = CertificateIssuerPrivateKeyTypes


@dataclass(frozen=True)
class Issued:
    """A certificate and its private key."""

    certificate: x509.Certificate
    key: PrivateKey

    @property
    def pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    @property
    def der(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.DER)

    @property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    @property
    def thumbprint(self) -> str:
        """x5t#S256 (RFC 8705 §3.1)."""
        return certificate_thumbprint(self.certificate)

    def nginx_header(self) -> str:
        """The certificate as nginx's $ssl_client_escaped_cert sends it (URL-encoded PEM)."""
        return quote(self.pem.decode(), safe="")

    def rfc9440_header(self) -> str:
        """The certificate as RFC 9440's Client-Cert field carries it (:base64 DER:)."""
        import base64

        return ":" + base64.b64encode(self.der).decode() + ":"

    def write(self, directory: Path, name: str) -> tuple[Path, Path]:
        """Writes ``name``.pem and ``name``.key; returns their paths."""
        cert_path, key_path = directory / f"{name}.pem", directory / f"{name}.key"
        cert_path.write_bytes(self.pem)
        key_path.write_bytes(self.key_pem)
        key_path.chmod(0o600)
        return cert_path, key_path


def _name(common_name: str, organization: str = "Appward Tests") -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "DE"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _key() -> PrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _serial() -> int:
    return x509.random_serial_number()


def make_ca(common_name: str = "Appward Test CA", *, now: datetime) -> Issued:
    """A self-signed CA certificate, with the extensions a WebPKI verifier requires."""
    key = _key()
    name = _name(common_name)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(_serial())
        .not_valid_before(now - VALIDITY)
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Issued(certificate, key)


def make_leaf(
    issuer: Issued | None,
    *,
    now: datetime,
    common_name: str = "billing",
    organization: str = "Appward Tests",
    dns: tuple[str, ...] = (),
    uris: tuple[str, ...] = (),
    ips: tuple[str, ...] = (),
    emails: tuple[str, ...] = (),
    server: bool = False,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
    key: PrivateKey | None = None,
) -> Issued:
    """A client (or, with ``server``, a TLS server) certificate signed by ``issuer``, or
    self-signed when ``issuer`` is None, with the given subject and SAN entries."""
    key = key or _key()
    subject = _name(common_name, organization)
    names: list[x509.GeneralName] = [
        *(x509.DNSName(d) for d in dns),
        *(x509.UniformResourceIdentifier(u) for u in uris),
        *(x509.IPAddress(ipaddress.ip_address(i)) for i in ips),
        *(x509.RFC822Name(e) for e in emails),
    ]
    usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
    signer = issuer.key if issuer is not None else key
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.certificate.subject if issuer is not None else subject)
        .public_key(key.public_key())
        .serial_number(_serial())
        .not_valid_before(not_before or now - VALIDITY)
        .not_valid_after(not_after or now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    )
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
            critical=False,
        )
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    # Ed25519 and Ed448 sign the certificate with no separate hash.
    edwards = isinstance(signer, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey)
    return Issued(builder.sign(signer, None if edwards else hashes.SHA256()), key)
