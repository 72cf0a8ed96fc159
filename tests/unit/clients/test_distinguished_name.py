"""tls_client_auth_subject_dn (clients/distinguished_name.py): the RFC 4514 string read
the same way at registration and at authentication, and the one spelling it is stored in."""

from __future__ import annotations

import pytest

from appward.clients.distinguished_name import canonical_subject_dn, parse_subject_dn


@pytest.mark.parametrize(
    ("registered", "expected"),
    [
        ("CN=a\\, b,O=x", [("O", "x"), ("CN", "a, b")]),  # an escaped comma is a value's
        ("CN=a+UID=u,O=x", [("O", "x"), ("CN", "a"), ("UID", "u")]),  # a multi-valued RDN
        ("CN=trailing\\ ,O=x", [("O", "x"), ("CN", "trailing ")]),  # an escaped space stays
        ("emailAddress=ops@example.com", [("1.2.840.113549.1.9.1", "ops@example.com")]),
    ],
)
def test_parse_subject_dn_reads_rfc4514(registered: str, expected: list[tuple[str, str]]) -> None:
    name = parse_subject_dn(registered)
    short = {"2.5.4.3": "CN", "2.5.4.10": "O", "0.9.2342.19200300.100.1.1": "UID"}
    got = [(short.get(a.oid.dotted_string, a.oid.dotted_string), a.value) for a in name]
    assert got == expected


@pytest.mark.parametrize(
    "registered",
    [
        "",
        "   ",
        "CN",
        "XX=1",
        "CN=a,,O=b",
        "=x",
        # RFC 4514 §2.4's BER hexstring: cryptography would read the bytes as text.
        "CN=#4269,O=x",
    ],
)
def test_parse_subject_dn_refuses_what_is_no_dn(registered: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 (the parser's own messages vary)
        parse_subject_dn(registered)


@pytest.mark.parametrize(
    ("registered", "canonical"),
    [
        ("CN=billing,O=Appward Tests,C=DE", "CN=billing,O=Appward Tests,C=DE"),
        ("cn=billing, o=Appward Tests, c=DE", "CN=billing,O=Appward Tests,C=DE"),
        (" Cn = billing ,O=Appward Tests ,C=DE ", "CN=billing,O=Appward Tests,C=DE"),
        ("2.5.4.3=billing,2.5.4.10=Appward Tests", "CN=billing,O=Appward Tests"),
        ("emailaddress=ops@example.com,cn=ops", "EMAILADDRESS=ops@example.com,CN=ops"),
        ("CN=a\\, b+uid=u,O=x", "CN=a\\, b+UID=u,O=x"),
        ("CN=trailing\\ ", "CN=trailing\\ "),
        ("CN=\\C3\\A9t\\C3\\A9", "CN=été"),  # hex pairs are the UTF-8 they encode
        ("1.2.3.4=x", "1.2.3.4=x"),  # a type without a short name keeps its OID
    ],
)
def test_one_name_has_one_canonical_spelling(registered: str, canonical: str) -> None:
    assert canonical_subject_dn(registered) == canonical
    # Stable, and the same Name as what was registered: authentication compares Names.
    assert canonical_subject_dn(canonical) == canonical
    assert parse_subject_dn(canonical) == parse_subject_dn(registered)
