"""The client certificate header (web/client_certificate.py): read in nginx's or RFC
9440's format, only from a trusted proxy, and refused when malformed or oversized."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from appward.config import Settings
from appward.errors import InvalidClient
from appward.web.client_certificate import (
    MAX_HEADER_BYTES,
    CertificateHeader,
    presented_certificate,
)
from tests.certificates import make_ca, make_leaf

NOW = datetime(2026, 6, 1, tzinfo=UTC)
LEAF = make_leaf(make_ca(now=NOW), now=NOW)


def source(
    tmp_path: Path,
    header: str | None = "X-SSL-Client-Cert",
    fmt: str = "nginx",
    proxies: str = "127.0.0.1/32,::1/128,10.0.0.0/8",
) -> CertificateHeader | None:
    settings = Settings(
        data_dir=tmp_path,
        key_encryption_key=Fernet.generate_key().decode(),
        mtls_certificate_header=header,
        mtls_certificate_format=fmt,
        mtls_trusted_proxies=proxies,  # type: ignore[arg-type]
    )
    return CertificateHeader.from_settings(settings)


def test_mtls_is_off_without_a_header_name(tmp_path: Path) -> None:
    assert source(tmp_path, header=None) is None
    headers = {"x-ssl-client-cert": LEAF.nginx_header()}
    assert presented_certificate(None, headers, "127.0.0.1") is None


@pytest.mark.parametrize(
    ("fmt", "name", "value"),
    [
        ("nginx", "X-SSL-Client-Cert", LEAF.nginx_header()),
        # nginx escapes what a URL must; a proxy escaping less is read as well.
        ("nginx", "X-SSL-Client-Cert", LEAF.pem.decode().replace("\n", "%0A")),
        ("rfc9440", "Client-Cert", LEAF.rfc9440_header()),
        ("rfc9440", "Client-Cert", " " + LEAF.rfc9440_header() + " "),
    ],
)
def test_the_certificate_is_read_from_a_trusted_proxy(
    tmp_path: Path, fmt: str, name: str, value: str
) -> None:
    header = source(tmp_path, header=name, fmt=fmt)
    certificate = presented_certificate(header, {name.lower(): value}, "127.0.0.1")
    assert certificate == LEAF.certificate


@pytest.mark.parametrize(
    "peer",
    [
        "127.0.0.1",
        "::1",
        "10.1.2.3",
        "::ffff:10.1.2.3",  # an IPv4 proxy seen through a dual-stack socket
    ],
)
def test_each_trusted_proxy_address_is_believed(tmp_path: Path, peer: str) -> None:
    header = source(tmp_path)
    assert header is not None
    assert header.trusts(peer)


@pytest.mark.parametrize(
    "peer",
    [None, "127.0.0.2", "192.0.2.1", "2001:db8::1", "::ffff:192.0.2.1", "unix-socket", ""],
)
def test_any_other_peer_is_ignored_even_with_a_well_formed_header(
    tmp_path: Path, peer: str | None
) -> None:
    header = source(tmp_path)
    assert header is not None
    assert not header.trusts(peer)
    headers = {"x-ssl-client-cert": LEAF.nginx_header()}
    assert presented_certificate(header, headers, peer) is None


def test_a_malformed_header_from_an_untrusted_peer_is_ignored_too(tmp_path: Path) -> None:
    headers = {"x-ssl-client-cert": "garbage"}
    assert presented_certificate(source(tmp_path), headers, "192.0.2.1") is None


def test_an_absent_or_empty_header_is_no_certificate(tmp_path: Path) -> None:
    header = source(tmp_path)
    assert presented_certificate(header, {}, "127.0.0.1") is None
    assert presented_certificate(header, {"x-ssl-client-cert": ""}, "127.0.0.1") is None


@pytest.mark.parametrize(
    ("fmt", "value"),
    [
        ("nginx", "garbage"),
        ("nginx", LEAF.nginx_header()[:200]),  # cut short
        ("nginx", LEAF.rfc9440_header()),  # the other format
        ("nginx", "-----BEGIN CERTIFICATE-----%0AAAAA%0A-----END CERTIFICATE-----%0A"),
        ("rfc9440", LEAF.nginx_header()),
        ("rfc9440", LEAF.rfc9440_header()[1:]),  # no opening colon
        ("rfc9440", LEAF.rfc9440_header()[:-1]),  # no closing colon
        ("rfc9440", ":not base64!:"),
        ("rfc9440", "::"),
        ("rfc9440", ":" + "QUFB" + ":"),  # base64, but not DER
    ],
)
def test_a_malformed_header_from_a_trusted_proxy_is_invalid_client(
    tmp_path: Path, fmt: str, value: str
) -> None:
    name = "client-cert" if fmt == "rfc9440" else "x-ssl-client-cert"
    header = source(tmp_path, header=name, fmt=fmt)
    with pytest.raises(InvalidClient) as raised:
        presented_certificate(header, {name: value}, "127.0.0.1")
    assert raised.value.description == "the client certificate is malformed"
    assert value not in str(raised.value.detail)


def test_an_oversized_header_is_refused_unparsed(tmp_path: Path) -> None:
    value = LEAF.nginx_header() + "%0A" * MAX_HEADER_BYTES
    with pytest.raises(InvalidClient) as raised:
        presented_certificate(source(tmp_path), {"x-ssl-client-cert": value}, "127.0.0.1")
    assert raised.value.description == "the client certificate header is too large"
