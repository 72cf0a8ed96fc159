"""tls_client_auth_subject_dn (RFC 8705 §2.1.2): the RFC 4514 string a client registers
as its certificate's subject, read once at registration (clients/metadata.py, which
stores its canonical form) and again when a certificate is compared with it (auth/tls.py).

Parsing is cryptography's (``x509.Name.from_rfc4514_string``); this module only accepts
what RFC 2253-era tools print as well (attribute types in any case, spaces around the
separators) and prints a Name back the one way it is stored.
"""

from __future__ import annotations

from collections.abc import Iterator

from cryptography import x509
from cryptography.x509.oid import NameOID

# RFC 4514 §3's short names, and a few more that client certificates carry, by the
# upper-case spelling the registered DN is normalised to (attribute types are
# case-insensitive, RFC 4512 §1.4).
ATTRIBUTE_TYPES = {
    "EMAILADDRESS": NameOID.EMAIL_ADDRESS,
    "SERIALNUMBER": NameOID.SERIAL_NUMBER,
    "GIVENNAME": NameOID.GIVEN_NAME,
    "SN": NameOID.SURNAME,
    "TITLE": NameOID.TITLE,
    "ORGANIZATIONIDENTIFIER": NameOID.ORGANIZATION_IDENTIFIER,
}
_NAME_OF_TYPE = {oid: name for name, oid in ATTRIBUTE_TYPES.items()}


def parse_subject_dn(value: str) -> x509.Name:
    """Returns the Name an RFC 4514 string stands for; attribute types in any case, and
    spaces around the separators (as RFC 2253-era tools print them) allowed.

    Raises ValueError when it is not a distinguished name.
    """
    normalised = ",".join(
        "+".join(_normalised_attribute(attribute) for attribute in _split_unescaped(rdn, "+"))
        for rdn in _split_unescaped(value, ",")
    )
    name = x509.Name.from_rfc4514_string(normalised, ATTRIBUTE_TYPES)
    if not list(name):
        raise ValueError("an empty distinguished name")
    return name


def canonical_subject_dn(value: str) -> str:
    """Returns ``value`` as it is stored: the RFC 4514 string of the Name it stands for,
    in its order, with upper-case short names (an OID only for a type without one), no
    spaces around separators and cryptography's escaping. The same Name always has the
    same string, so a page, the API and the audit trail show one spelling.

    Raises ValueError when it is not a distinguished name.
    """
    return parse_subject_dn(value).rfc4514_string(_NAME_OF_TYPE)


def _split_unescaped(value: str, separator: str) -> Iterator[str]:
    # A backslash escapes the next character (RFC 4514 §2.4): "\," is part of a value.
    start, index = 0, 0
    while index < len(value):
        char = value[index]
        if char == "\\":
            index += 2
            continue
        if char == separator:
            yield value[start:index]
            start = index + 1
        index += 1
    yield value[start:]


def _normalised_attribute(attribute: str) -> str:
    kind, equals, text = attribute.partition("=")
    if not equals:
        raise ValueError("an attribute without '='")
    kind = kind.strip()
    if kind[:1].isalpha():
        kind = kind.upper()
    # Unescaped leading and trailing spaces are not part of a value (RFC 4514 §2.4
    # escapes the ones that are); an escaped trailing space ("\ ") is kept.
    text = text.lstrip(" ")
    while text.endswith(" ") and not text.endswith("\\ "):
        text = text[:-1]
    if text.startswith("#"):
        # RFC 4514 §2.4's #hexstring is a BER encoding, which cryptography would read as
        # UTF-8 text instead: refused rather than matched against the wrong value.
        raise ValueError("a #-hex (BER) value: write the value as a string")
    return f"{kind}={text}"
