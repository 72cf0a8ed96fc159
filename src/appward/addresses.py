"""Which IP addresses the server may send a request to on a client's behalf.

A client-supplied URL (a jwks_uri) that the server fetches must never reach the server's
own network: Keycloak's CVE-2026-1180 was a blind SSRF through a DCR-registered jwks_uri.
The same rules serve the registration check (a literal address in the URL) and the fetch
(every address the host name resolves to).
"""

from __future__ import annotations

import ipaddress

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Ranges that ``ipaddress``'s properties do not all classify as non-global in every
# Python version, named here so the rule does not depend on the interpreter's tables.
NON_PUBLIC_NETWORKS = tuple(
    ipaddress.ip_network(net)
    for net in (
        "0.0.0.0/8",  # "this network"
        "10.0.0.0/8",
        "100.64.0.0/10",  # CGNAT (RFC 6598): a provider's internal network
        "127.0.0.0/8",
        "169.254.0.0/16",  # link-local, where cloud metadata services live
        "172.16.0.0/12",
        "192.0.0.0/24",  # IETF protocol assignments
        "192.0.2.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",  # benchmarking
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, and the broadcast address
        "::/128",
        "::1/128",
        "::/96",  # IPv4-compatible (deprecated)
        "100::/64",  # discard-only
        "2001:db8::/32",  # documentation
        "64:ff9b:1::/48",  # local-use NAT64 (RFC 8215)
        "fc00::/7",  # unique local
        "fe80::/10",  # link-local
        "fec0::/10",  # site-local (deprecated)
        "ff00::/8",  # multicast
    )
)
NAT64_WELL_KNOWN = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052
LOOPBACK = ("loopback", "the loopback address")


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """Returns the IPv4 address an IPv6 address carries and leads to: IPv4-mapped
    (::ffff:a.b.c.d), 6to4 (2002::/16), NAT64 (64:ff9b::/96) or Teredo's client; None for
    a plain IPv6 address."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in NAT64_WELL_KNOWN:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.teredo is not None:
        return address.teredo[1]
    return None


def refusal(address: IPAddress, *, allow_loopback: bool = False) -> str | None:
    """Returns why the server must not connect to ``address`` (a short phrase naming the
    kind of address, never the address itself), or None for a public address.
    ``allow_loopback`` (development and tests only) lets plain 127.0.0.0/8 and ::1 pass.
    """
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id:
            return "a scoped (link-local) address"
        inner = embedded_ipv4(address)
        if inner is not None:
            # The translated form of a private address reaches the private address.
            why = refusal(inner, allow_loopback=False)
            return None if why is None else f"an IPv4-embedding form of {why}"
    if address.is_loopback:
        return None if allow_loopback else LOOPBACK[1]
    if address.is_unspecified:
        return "the unspecified address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    if any(address in net for net in NON_PUBLIC_NETWORKS if net.version == address.version):
        return "a private or reserved address"
    if address.is_private or address.is_reserved or not address.is_global:
        return "a private or reserved address"
    return None


def literal_address(host: str | None) -> IPAddress | None:
    """Returns ``host`` as an IP address when it is an IP literal (brackets stripped),
    None for a host name."""
    if not host:
        return None
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None
