"""The TLS client certificate, as the TLS-terminating proxy passes it on in a header.

The app never sees the TLS handshake: the proxy (nginx, docs/nginx-mtls.conf) asks for a
certificate, proves the client holds its key, and puts it in a header: nginx's
``$ssl_client_escaped_cert`` (URL-encoded PEM) or RFC 9440's ``Client-Cert`` (``:base64
DER:``). Anyone can send such a header, so it is believed only from the configured proxy
addresses; from any other peer it is ignored, as if absent. A malformed header from a
trusted proxy is ``invalid_client``: the certificate was offered as the client's proof
and cannot be read (the proxy's configuration is wrong, or the header is forged through
it), so client authentication has failed.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

from cryptography import x509

from appward.config import Settings
from appward.errors import AuthFailure, InvalidClient

# A client certificate is one to two kilobytes; URL-encoding triples at most. Larger is
# not a certificate (and is not parsed).
MAX_HEADER_BYTES = 16384

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class CertificateHeader:
    """Where and how the proxy passes the certificate on, and whom to believe."""

    name: str  # lower case, as FormRequest.headers holds names
    format: str  # 'nginx' or 'rfc9440'
    trusted_proxies: tuple[Network, ...]

    @classmethod
    def from_settings(cls, settings: Settings) -> CertificateHeader | None:
        """Returns the header of ``settings``; None when mutual TLS is off."""
        if settings.mtls_certificate_header is None:
            return None
        return cls(
            name=settings.mtls_certificate_header.lower(),
            format=settings.mtls_certificate_format,
            trusted_proxies=tuple(
                ipaddress.ip_network(cidr, strict=False) for cidr in settings.mtls_trusted_proxies
            ),
        )

    def trusts(self, peer: str | None) -> bool:
        """Returns whether the connection's peer address is one of the trusted proxies."""
        if peer is None:
            return False
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            return False  # a Unix socket's peer, or anything not an IP address
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self.trusted_proxies)


def presented_certificate(
    source: CertificateHeader | None, headers: Mapping[str, str], peer: str | None
) -> x509.Certificate | None:
    """Returns the client certificate the trusted proxy passed on, or None: mutual TLS
    off, a peer that is not a trusted proxy, or no (or an empty) header.

    Raises InvalidClient when a trusted proxy's header is too large or not a certificate.
    """
    if source is None:
        return None
    value = headers.get(source.name)
    if not value or not source.trusts(peer):
        return None
    if len(value) > MAX_HEADER_BYTES:
        raise InvalidClient(
            "the client certificate header is too large",
            detail=f"{len(value)} bytes in {source.name}",
            reason=AuthFailure.INVALID_CERTIFICATE,
        )
    try:
        if source.format == "rfc9440":
            return x509.load_der_x509_certificate(_rfc9440_der(value))
        return x509.load_pem_x509_certificate(unquote_to_bytes(value.strip()))
    except ValueError:
        raise InvalidClient(
            "the client certificate is malformed",
            detail=f"unreadable {source.name}",
            reason=AuthFailure.INVALID_CERTIFICATE,
        ) from None


def _rfc9440_der(value: str) -> bytes:
    # RFC 9440 §2.2: a Structured Field Byte Sequence (RFC 8941 §3.3.5), ":" base64 ":".
    text = value.strip()
    if len(text) < 2 or text[0] != ":" or text[-1] != ":":
        raise ValueError("not a byte sequence")
    try:
        return base64.b64decode(text[1:-1], validate=True)
    except binascii.Error:
        raise ValueError("not base64") from None
