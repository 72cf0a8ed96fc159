"""Fetching and caching the JWK Sets at clients' jwks_uri, without becoming an SSRF proxy.

The URL is the client's, so the fetch is hostile input end to end: the fetcher resolves
the host itself, refuses unless every address is public (auth/addresses.py's rules), and
connects to the address it checked (no second resolution a rebinding DNS server could
answer differently), while the Host header and TLS (SNI and certificate verification)
stay on the registered name. No redirects, no proxies from the environment, timeouts,
a streamed size limit, and a per-client cache whose refetches are rate-limited, so
random kids cannot make the server hammer a URL (docs/security.md).
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import ssl
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from appward import addresses
from appward.clients.metadata import check_jwks
from appward.errors import InvalidClient
from appward.metrics import NO_METRICS, Metrics

log = logging.getLogger("appward.auth")

Resolver = Callable[[str, int], Awaitable[Sequence[str]]]
MAX_CACHED_SETS = 1000
FETCH_FAILED = "the client's jwks_uri could not be fetched"


async def system_resolver(host: str, port: int) -> list[str]:
    """Returns the addresses ``host`` resolves to, through the event loop's resolver."""
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    return [str(info[4][0]) for info in infos]


@dataclass(slots=True)
class _Entry:
    keys: list[dict[str, Any]] | None = None  # the last good set
    fetched_at: float = float("-inf")  # when ``keys`` was fetched
    attempted_at: float = float("-inf")  # the last fetch, good or failed
    failure: InvalidClient | None = None  # the last fetch's, until the next good one
    running: asyncio.Future[list[dict[str, Any]]] | None = field(default=None, repr=False)


class JwksFetcher:
    """RemoteKeySets (auth/credentials.py) over httpx: one instance, and one HTTP client,
    per app; ``aclose`` at shutdown."""

    def __init__(
        self,
        *,
        cache_ttl: float,
        refetch_interval: float,
        timeout: float,
        max_bytes: int,
        allow_loopback: bool = False,
        resolver: Resolver = system_resolver,
        ssl_context: ssl.SSLContext | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        max_entries: int = MAX_CACHED_SETS,
        metrics: Metrics = NO_METRICS,
    ) -> None:
        self.metrics = metrics
        self.cache_ttl = cache_ttl
        self.refetch_interval = refetch_interval
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.allow_loopback = allow_loopback
        self._resolve = resolver
        self._monotonic = monotonic
        self._max_entries = max_entries
        self._entries: OrderedDict[tuple[str, str], _Entry] = OrderedDict()
        self._ssl_context = ssl_context
        self._transport = transport
        self._client: httpx.AsyncClient | None = None  # made on the first fetch

    @property
    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            verify: ssl.SSLContext | bool = (
                self._ssl_context if self._ssl_context is not None else True
            )
            self._client = httpx.AsyncClient(
                transport=self._transport
                or httpx.AsyncHTTPTransport(
                    verify=verify,
                    # No pooling: a connection made for one name must never carry a
                    # request for another name on the same address; fetches are rare.
                    limits=httpx.Limits(max_connections=100, max_keepalive_connections=0),
                    retries=0,
                ),
                timeout=httpx.Timeout(self.timeout),
                follow_redirects=False,
                trust_env=False,  # an environment proxy would resolve the name itself
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def forget(self, client_ids: Collection[str]) -> None:
        """Drops the cached sets of ``client_ids``, whose registrations changed (the
        credential cache calls it: CredentialCache.on_change); a fetch under way finishes.

        A change that names no client (another process's, seen through the epoch file)
        drops nothing: dropping every set would let any client that can update its own
        registration make the server refetch every other client's jwks_uri at once. A
        changed jwks_uri is a new cache entry anyway, and the keys at an unchanged one
        are those the URI serves.
        """
        wanted = {client_ids} if isinstance(client_ids, str) else set(client_ids)
        for key in [key for key in self._entries if key[0] in wanted]:
            entry = self._entries[key]
            if entry.running is None:
                del self._entries[key]

    async def key_set(
        self, client_id: str, uri: str, *, unknown_kid: str | None = None
    ) -> list[dict[str, Any]]:
        """Returns the keys at ``uri`` for ``client_id``: cached for ``cache_ttl``; with
        ``unknown_kid`` not among them, fetched again, at most once per
        ``refetch_interval``. Concurrent callers share one fetch.

        Raises InvalidClient when the set cannot be fetched safely or is not a JWK Set
        (a failure is remembered for ``refetch_interval``: no hammering either).
        """
        key = (client_id, uri)
        entry = self._entries.get(key)
        if entry is None:
            entry = self._entries[key] = _Entry()
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)
        self._entries.move_to_end(key)
        if entry.running is not None:
            return await asyncio.shield(entry.running)
        now = self._monotonic()
        fresh = entry.keys is not None and now - entry.fetched_at < self.cache_ttl
        may_refetch = now - entry.attempted_at >= self.refetch_interval
        if fresh and entry.keys is not None:
            known = unknown_kid is None or any(k.get("kid") == unknown_kid for k in entry.keys)
            if known or not may_refetch:
                self.metrics.cache_lookup("jwks_uri", hit=True)
                return entry.keys
        elif not may_refetch and entry.failure is not None:
            # A new exception each time: re-raising one instance would grow its traceback.
            raise InvalidClient(entry.failure.description, detail=entry.failure.detail)
        elif not may_refetch and entry.keys is None:
            raise InvalidClient(FETCH_FAILED, detail="jwks_uri fetched too recently")
        self.metrics.cache_lookup("jwks_uri", hit=False)
        if not fresh:
            return await self._refresh(entry, client_id, uri)
        try:
            return await self._refresh(entry, client_id, uri)
        except InvalidClient:
            # The kid is still unknown; the set in hand stays good until its max age.
            assert entry.keys is not None
            return entry.keys

    async def _refresh(self, entry: _Entry, client_id: str, uri: str) -> list[dict[str, Any]]:
        future: asyncio.Future[list[dict[str, Any]]] = asyncio.get_running_loop().create_future()
        entry.running = future
        entry.attempted_at = self._monotonic()
        try:
            keys = await self.fetch(uri)
        except InvalidClient as exc:
            entry.failure = exc
            log.info("jwks_uri of client %s refused: %s", client_id, exc.detail)
            future.set_exception(exc)
            future.exception()  # retrieved here: no "never retrieved" warning
            raise
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()
            raise
        finally:
            entry.running = None
        entry.keys, entry.fetched_at, entry.failure = keys, entry.attempted_at, None
        future.set_result(keys)
        return keys

    async def fetch(self, uri: str) -> list[dict[str, Any]]:
        """Returns the public keys of the JWK Set at ``uri``, fetched once, uncached.

        Raises InvalidClient when the URL or an address it resolves to may not be fetched,
        or the response is not a small JWK Set of public keys served with 200.
        """
        try:
            async with asyncio.timeout(3 * self.timeout):  # resolve, connect, read, all told
                body = await self._get(uri)
        except TimeoutError:
            raise InvalidClient(FETCH_FAILED, detail="jwks_uri timed out") from None
        try:
            value = json.loads(body)
        except ValueError:
            raise InvalidClient(
                "the client's jwks_uri does not hold JSON", detail="jwks_uri: not JSON"
            ) from None
        if not isinstance(value, dict):
            raise InvalidClient("the client's jwks_uri does not hold a JWK Set")
        try:
            checked = check_jwks(value)
        except ValueError as exc:
            raise InvalidClient(
                "the client's jwks_uri does not hold a JWK Set of public keys",
                detail=f"jwks_uri: {exc}",
            ) from None
        keys: list[dict[str, Any]] = checked["keys"]
        return keys

    async def _get(self, uri: str) -> bytes:
        url, host, port = self._checked_url(uri)
        literal = addresses.literal_address(host)
        try:
            resolved = [str(literal)] if literal else await self._resolve(host, port)
        except (OSError, ValueError):  # gaierror; UnicodeError for a name IDNA refuses
            raise InvalidClient(FETCH_FAILED, detail="jwks_uri host does not resolve") from None
        ips = [addresses.literal_address(a) for a in resolved]
        if not ips or any(ip is None for ip in ips):
            raise InvalidClient(FETCH_FAILED, detail="jwks_uri host does not resolve")
        for ip in ips:
            assert ip is not None
            why = addresses.refusal(ip, allow_loopback=self.allow_loopback)
            if why is not None:
                # The same description as a name that does not resolve: the registrant of
                # a jwks_uri must not learn which internal names exist (a DNS oracle).
                raise InvalidClient(FETCH_FAILED, detail=f"jwks_uri resolves to {why}")
        target = ips[0]
        assert target is not None
        request = self._http.build_request(
            "GET",
            url.copy_with(host=str(target)),
            headers={
                "Host": url.netloc.decode("ascii"),
                "Accept": "application/jwk-set+json, application/json",
                # Raw bytes are what the size limit counts: no decompression bomb.
                "Accept-Encoding": "identity",
            },
            extensions={"sni_hostname": host},
        )
        try:
            response = await self._http.send(request, stream=True)
            try:
                return await self._body(response)
            finally:
                await response.aclose()
        except httpx.TimeoutException:
            raise InvalidClient(FETCH_FAILED, detail="jwks_uri timed out") from None
        except httpx.ConnectError as exc:
            verify_failed = isinstance(exc.__context__, ssl.SSLCertVerificationError) or (
                "CERTIFICATE_VERIFY_FAILED" in str(exc)
            )
            what = "its TLS certificate does not verify" if verify_failed else "no connection"
            raise InvalidClient(FETCH_FAILED, detail=f"jwks_uri: {what}") from None
        except httpx.HTTPError as exc:
            # The class only (a TLS failure, a refused connection): never the address.
            raise InvalidClient(FETCH_FAILED, detail=f"jwks_uri: {type(exc).__name__}") from None

    def _checked_url(self, uri: str) -> tuple[httpx.URL, str, int]:
        try:
            url = httpx.URL(uri)
        except httpx.InvalidURL:
            raise InvalidClient(FETCH_FAILED, detail="jwks_uri is not a URL") from None
        schemes = ("https", "http") if self.allow_loopback else ("https",)
        if url.scheme not in schemes:
            raise InvalidClient(
                "the client's jwks_uri must be an https URL", detail="jwks_uri not https"
            )
        if url.userinfo or not url.host:
            raise InvalidClient(FETCH_FAILED, detail="jwks_uri has userinfo or no host")
        port = url.port or (443 if url.scheme == "https" else 80)
        return url, url.host, port

    async def _body(self, response: httpx.Response) -> bytes:
        if response.status_code != 200:
            kind = "a redirect" if response.is_redirect else f"status {response.status_code}"
            raise InvalidClient(FETCH_FAILED, detail=f"jwks_uri answered {kind}")
        if response.headers.get("content-encoding", "identity").lower() != "identity":
            raise InvalidClient(FETCH_FAILED, detail="jwks_uri answered compressed")
        too_large = InvalidClient(
            "the client's jwks_uri answered more than this server reads",
            detail=f"jwks_uri body over {self.max_bytes} bytes",
        )
        declared = response.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            raise too_large
        body = bytearray()
        async for chunk in response.aiter_raw():
            body += chunk
            if len(body) > self.max_bytes:
                raise too_large  # stop reading: the rest is never received
        return bytes(body)
