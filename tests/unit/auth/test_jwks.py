"""Fetching clients' jwks_uri: against a real server on 127.0.0.1 (with the development
flag), and the SSRF refusals, proved to happen before any connection is made."""

from __future__ import annotations

import asyncio
import ipaddress
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from appward import addresses
from appward.auth.jwks import FETCH_FAILED, JwksFetcher
from appward.errors import InvalidClient
from tests.jwks_server import (
    JwksServer,
    client_context,
    jwks_server,
    make_pki,
    private_jwk,
    public_jwk,
)

pytestmark = pytest.mark.anyio
MAX_BYTES = 4096


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class CountingTransport(httpx.AsyncBaseTransport):
    """The connect seam: every request the fetcher sends passes here first."""

    def __init__(self, inner: httpx.AsyncBaseTransport | None = None) -> None:
        self.inner = inner or httpx.AsyncHTTPTransport(retries=0)
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def fetcher(**kw: Any) -> JwksFetcher:
    options: dict[str, Any] = {
        "cache_ttl": 600,
        "refetch_interval": 10,
        "timeout": 0.5,
        "max_bytes": MAX_BYTES,
        "allow_loopback": True,
    }
    options.update(kw)
    return JwksFetcher(**options)


@pytest.fixture
def server() -> Iterator[JwksServer]:
    with jwks_server(max_bytes=MAX_BYTES) as running:
        running.sets["/ok"] = {"keys": [public_jwk("k1")]}
        yield running


async def refused(remote: JwksFetcher, uri: str, client_id: str = "c1") -> InvalidClient:
    with pytest.raises(InvalidClient) as caught:
        await remote.key_set(client_id, uri)
    return caught.value


async def test_fetches_the_public_keys(server: JwksServer) -> None:
    remote = fetcher()
    try:
        keys = await remote.key_set("c1", server.url("/ok"))
    finally:
        await remote.aclose()
    assert [k["kid"] for k in keys] == ["k1"]
    assert set(keys[0]) >= {"kty", "crv", "x", "y"}
    # The Host header names what was registered, not only the address connected to.
    assert server.hosts == [f"127.0.0.1:{server.port}"]


@pytest.mark.parametrize(
    ("path", "detail"),
    [
        ("/big", "over 4096 bytes"),
        ("/big-declared", "over 4096 bytes"),
        ("/slow", "timed out"),
        ("/redirect", "a redirect"),
        ("/missing", "status 404"),
        ("/notjson", "not JSON"),
        ("/private", "public keys only"),
        ("/not-a-set", "non-empty 'keys'"),
        ("/array", None),
    ],
)
async def test_refuses_a_bad_answer(server: JwksServer, path: str, detail: str | None) -> None:
    server.sets["/private"] = {"keys": [private_jwk("p1")]}
    server.sets["/not-a-set"] = {"kty": "EC"}
    server.sets["/array"] = [public_jwk("a")]
    transport = CountingTransport()
    remote = fetcher(timeout=0.3, transport=transport)
    try:
        error = await refused(remote, server.url(path))
    finally:
        await remote.aclose()
    assert error.error == "invalid_client"
    if detail is not None:
        assert detail in str(error.detail)
    assert "127.0.0.1" not in error.description
    assert server.hits[path] == 1  # and never followed anywhere: one request in all
    assert len(transport.requests) == 1


async def test_a_redirect_is_not_followed(server: JwksServer) -> None:
    remote = fetcher()
    try:
        await refused(remote, server.url("/redirect"))
    finally:
        await remote.aclose()
    assert server.hits["/ok"] == 0


async def test_an_oversized_body_is_not_read_to_its_end(server: JwksServer) -> None:
    remote = fetcher(transport=(transport := CountingTransport()))
    try:
        await refused(remote, server.url("/big"))
    finally:
        await remote.aclose()
    assert len(transport.requests) == 1


async def test_an_unknown_kid_refetches_once_per_interval(server: JwksServer) -> None:
    clock = Clock()
    remote = fetcher(monotonic=clock)
    uri = server.url("/ok")
    try:
        assert [k["kid"] for k in await remote.key_set("c1", uri)] == ["k1"]
        assert server.hits["/ok"] == 1
        # Known kid: from the cache.
        await remote.key_set("c1", uri, unknown_kid="k1")
        assert server.hits["/ok"] == 1
        # The client rotated: an unknown kid fetches again, once...
        clock.now += 10
        server.sets["/ok"] = {"keys": [public_jwk("k2")]}
        keys = await remote.key_set("c1", uri, unknown_kid="k2")
        assert [k["kid"] for k in keys] == ["k2"]
        assert server.hits["/ok"] == 2
        # ...and random kids within the interval do not make it hammer the URL.
        for n in range(20):
            clock.now += 0.4
            keys = await remote.key_set("c1", uri, unknown_kid=f"random-{n}")
            assert [k["kid"] for k in keys] == ["k2"]
        assert server.hits["/ok"] == 2
        clock.now += 10
        await remote.key_set("c1", uri, unknown_kid="random-again")
        assert server.hits["/ok"] == 3
        # Another client on the same URL has its own entry and its own budget.
        await remote.key_set("c2", uri, unknown_kid="whatever")
        assert server.hits["/ok"] == 4
    finally:
        await remote.aclose()


async def test_the_cache_has_a_maximum_age(server: JwksServer) -> None:
    clock = Clock()
    remote = fetcher(monotonic=clock, cache_ttl=600)
    uri = server.url("/ok")
    try:
        await remote.key_set("c1", uri)
        clock.now += 599
        await remote.key_set("c1", uri)
        assert server.hits["/ok"] == 1
        server.sets["/ok"] = {"keys": [public_jwk("k9")]}
        clock.now += 1
        keys = await remote.key_set("c1", uri)
        assert [k["kid"] for k in keys] == ["k9"]
        assert server.hits["/ok"] == 2
    finally:
        await remote.aclose()


async def test_a_new_uri_takes_effect_at_once(server: JwksServer) -> None:
    server.sets["/other"] = {"keys": [public_jwk("other")]}
    remote = fetcher()
    try:
        await remote.key_set("c1", server.url("/ok"))
        keys = await remote.key_set("c1", server.url("/other"))
        assert [k["kid"] for k in keys] == ["other"]
        remote.forget(["c1"])
        await remote.key_set("c1", server.url("/other"))
        assert server.hits["/other"] == 2
    finally:
        await remote.aclose()


async def test_a_failure_is_rate_limited_too(server: JwksServer) -> None:
    clock = Clock()
    remote = fetcher(monotonic=clock)
    uri = server.url("/missing")
    try:
        for _ in range(5):
            await refused(remote, uri)
            clock.now += 1
        assert server.hits["/missing"] == 1
        clock.now += 10
        await refused(remote, uri)
        assert server.hits["/missing"] == 2
    finally:
        await remote.aclose()


async def test_concurrent_requests_share_one_fetch(server: JwksServer) -> None:
    remote = fetcher()
    try:
        results = await asyncio.gather(
            *(remote.key_set("c1", server.url("/ok")) for _ in range(20))
        )
    finally:
        await remote.aclose()
    assert all(r == results[0] for r in results)
    assert server.hits["/ok"] == 1


async def test_the_cache_is_bounded(server: JwksServer) -> None:
    remote = fetcher(max_entries=3)
    try:
        for n in range(10):
            await remote.key_set(f"c{n}", server.url("/ok"))
        assert len(remote._entries) == 3
    finally:
        await remote.aclose()


# --- SSRF: refused before any connection -------------------------------------------


class Resolver:
    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)
        self.asked: list[str] = []

    async def __call__(self, host: str, port: int) -> Sequence[str]:
        self.asked.append(host)
        return self.answers


@pytest.mark.parametrize(
    "host",
    [
        "10.0.0.1",
        "192.168.1.1",
        "172.16.0.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "127.0.0.1",
        "[::1]",
        "[::ffff:10.0.0.1]",
        "[::ffff:127.0.0.1]",
        "[fd00::1]",
        "[fe80::1]",
        "[::]",
        "224.0.0.1",
        "255.255.255.255",
        "[2002:a00:1::]",  # 6to4 of 10.0.0.1
        "[64:ff9b::a00:1]",  # NAT64 of 10.0.0.1
        "[ff02::1]",
    ],
)
async def test_a_literal_private_address_is_refused_without_connecting(host: str) -> None:
    transport = CountingTransport()
    remote = fetcher(allow_loopback=False, transport=transport)
    try:
        error = await refused(remote, f"https://{host}/jwks")
    finally:
        await remote.aclose()
    # Told apart from an unresolvable name only in the logged detail (no DNS oracle).
    assert error.description == FETCH_FAILED
    assert "resolves to" in str(error.detail)
    assert host.strip("[]") not in error.description + str(error.detail)
    assert transport.requests == []


async def test_a_name_resolving_to_a_private_address_is_refused_without_connecting() -> None:
    transport = CountingTransport()
    resolve = Resolver("10.0.0.7")
    remote = fetcher(allow_loopback=False, resolver=resolve, transport=transport)
    try:
        error = await refused(remote, "https://keys.example.com/jwks")
    finally:
        await remote.aclose()
    assert resolve.asked == ["keys.example.com"]
    assert "10.0.0.7" not in error.description + str(error.detail)
    assert transport.requests == []


async def test_one_private_address_among_public_ones_is_enough_to_refuse() -> None:
    transport = CountingTransport()
    remote = fetcher(resolver=Resolver("93.184.215.14", "192.168.0.3"), transport=transport)
    try:
        await refused(remote, "https://keys.example.com/jwks")
    finally:
        await remote.aclose()
    assert transport.requests == []


@pytest.mark.parametrize(
    ("resolved", "connected"),
    [("93.184.215.14", "93.184.215.14"), ("2606:4700::1111", "[2606:4700::1111]")],
)
async def test_the_checked_address_is_the_one_connected_to(resolved: str, connected: str) -> None:
    """No second resolution: the request goes to the address checked, named by Host and
    SNI as registered."""

    class Capture(httpx.AsyncBaseTransport):
        request: httpx.Request | None = None

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            self.request = request
            body = json.dumps({"keys": [public_jwk("k")]}).encode()
            return httpx.Response(200, stream=httpx.ByteStream(body))

    capture = Capture()
    remote = fetcher(allow_loopback=False, resolver=Resolver(resolved), transport=capture)
    try:
        await remote.key_set("c1", "https://keys.example.com:8443/jwks?x=1")
    finally:
        await remote.aclose()
    assert capture.request is not None
    assert str(capture.request.url) == f"https://{connected}:8443/jwks?x=1"
    assert capture.request.headers["host"] == "keys.example.com:8443"
    assert capture.request.extensions["sni_hostname"] == "keys.example.com"
    assert capture.request.extensions["timeout"]["connect"] == 0.5


async def test_loopback_is_refused_without_the_development_flag(server: JwksServer) -> None:
    remote = fetcher(allow_loopback=False, transport=(transport := CountingTransport()))
    try:
        await refused(remote, server.url("/ok").replace("http:", "https:"))
    finally:
        await remote.aclose()
    assert transport.requests == []
    assert server.hits["/ok"] == 0


@pytest.mark.parametrize(
    "uri",
    [
        "http://keys.example.com/jwks",
        "ftp://keys.example.com/jwks",
        "file:///etc/passwd",
        "https://user:pw@keys.example.com/jwks",
    ],
)
async def test_only_https_without_userinfo_in_production(uri: str) -> None:
    """Refused before the name is even resolved."""
    resolve = Resolver("93.184.215.14")
    remote = fetcher(allow_loopback=False, resolver=resolve, transport=CountingTransport())
    try:
        await refused(remote, uri)
    finally:
        await remote.aclose()
    assert resolve.asked == []


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("8.8.8.8", None),
        ("2606:4700:4700::1111", None),
        ("64:ff9b::808:808", None),  # NAT64 of a public address
        ("10.1.2.3", "a private or reserved address"),
        ("100.127.255.255", "a private or reserved address"),
        ("198.18.0.1", "a private or reserved address"),
        ("127.0.0.2", "the loopback address"),
        ("169.254.169.254", "a link-local address"),
        ("::ffff:169.254.169.254", "an IPv4-embedding form of a link-local address"),
        ("fe80::1%2", "a scoped (link-local) address"),
        ("2001:db8::1", "a private or reserved address"),
    ],
)
def test_address_rules(address: str, why: str | None) -> None:
    assert addresses.refusal(ipaddress.ip_address(address)) == why


# --- HTTPS: the name is verified though the connection goes to the checked address ----


async def test_https_verifies_the_registered_name(tmp_path: Path) -> None:
    pki = make_pki(tmp_path, "localhost")
    with jwks_server(tls=pki.server_context()) as running:
        running.sets["/ok"] = {"keys": [public_jwk("tls")]}
        remote = fetcher(ssl_context=client_context(pki), resolver=Resolver("127.0.0.1"))
        try:
            keys = await remote.key_set("c1", running.url("/ok", host="localhost"))
        finally:
            await remote.aclose()
    assert [k["kid"] for k in keys] == ["tls"]
    assert running.hosts == [f"localhost:{running.port}"]


@pytest.mark.parametrize("registered", ["localhost", "127.0.0.1"])
async def test_https_refuses_a_certificate_for_another_name(
    tmp_path: Path, registered: str
) -> None:
    pki = make_pki(tmp_path, "other.example")
    with jwks_server(tls=pki.server_context()) as running:
        running.sets["/ok"] = {"keys": [public_jwk("tls")]}
        remote = fetcher(ssl_context=client_context(pki), resolver=Resolver("127.0.0.1"))
        try:
            error = await refused(remote, running.url("/ok", host=registered))
        finally:
            await remote.aclose()
    assert error.description == "the client's jwks_uri could not be fetched"
    assert error.detail == "jwks_uri: its TLS certificate does not verify"
    assert running.hits["/ok"] == 0


async def test_https_refuses_an_untrusted_ca(tmp_path: Path) -> None:
    (tmp_path / "served").mkdir()
    served = make_pki(tmp_path / "served", "localhost")
    trusted = make_pki(tmp_path, "localhost")  # another CA, same name
    with jwks_server(tls=served.server_context()) as running:
        running.sets["/ok"] = {"keys": [public_jwk("tls")]}
        remote = fetcher(ssl_context=client_context(trusted), resolver=Resolver("127.0.0.1"))
        try:
            error = await refused(remote, running.url("/ok", host="localhost"))
        finally:
            await remote.aclose()
    assert error.detail == "jwks_uri: its TLS certificate does not verify"
    assert running.hits["/ok"] == 0
