"""Prometheus metrics: what the app counts, and the listener that serves them.

Off by default (``APPWARD_METRICS_ENABLED``). Every recorder takes a ``Metrics`` and calls
it where something happens; ``NO_METRICS``, the one that is off, does nothing and never
imports ``prometheus_client``. On, the families are:

- ``appward_http_requests_total{route, method, status}`` and
  ``appward_http_request_duration_seconds{route}``: the route is the template
  (``/admin/v1/clients/{client_id}``), never the path a caller sent;
- ``appward_tokens_issued_total{grant_type, client_id}`` (client ids beyond
  ``max_clients`` per process count as ``other``: a million clients must not make a
  million series);
- ``appward_client_authentication_failures_total{reason}``, ``reason`` one of
  ``errors.AuthFailure``, never the detail;
- ``appward_cache_lookups_total{cache, result}`` (``hit`` / ``miss``): the hit ratio is
  ``rate(...{result="hit"}) / rate(...)``;
- ``appward_argon2_verifications{pool, state}`` (``clients`` / ``users``, ``waiting`` /
  ``running``): the queue in front of argon2 (hashing.SecretVerifier);
- ``appward_fallbacks_total{component}``: a degraded mode taken (Redis down, say).

The counters and the latency histogram are counted in plain dicts on the request's path
and added to prometheus_client's (locked, and with several workers memory-mapped) values
once a second (``fold``): a scrape may be up to a second behind. An observation at once
cost the token endpoint about 5% of its throughput, most of it in the histogram's sum.

Several worker processes (``appward serve --workers N``) share one listener through
prometheus_client's multiprocess mode: ``appward serve`` points
``PROMETHEUS_MULTIPROC_DIR`` at a fresh directory before any worker starts, each worker
writes its values to files there, and the listener (in the supervising process) adds them
up at every scrape.
"""

from __future__ import annotations

import asyncio
import os
from bisect import bisect_left
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from appward.fallback import fallback_counts

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"
OTHER_CLIENTS = "other"
# Seconds between two folds of the counts into the counters: how late a scrape may be.
FOLD_INTERVAL = 1.0
# Seconds; the token endpoint answers in about a millisecond, a login in ~100 ms (argon2).
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class Metrics:
    """The app's metric families, or nothing at all (``NO_METRICS``).

    The label children are kept in dicts: ``labels()`` takes a lock and builds a tuple of
    strings, which on the token endpoint's path costs more than the increment itself.
    """

    def __init__(self, *, enabled: bool = True, max_clients: int = 1000) -> None:
        self.enabled = enabled
        self.max_clients = max_clients
        self._children: dict[tuple[Any, ...], Any] = {}
        self._pending: dict[tuple[Any, ...], int] = {}
        # Requests answered, by (route, method, status, grant_type, client_id) as they came:
        # one dict update a request; the labels are made (and bounded) at the fold.
        self._answers: dict[tuple[Any, ...], int] = {}
        # Per route: the observations per bucket (LATENCY_BUCKETS, then +Inf), then their sum.
        self._pending_latency: dict[str, list[float]] = {}
        self._fallbacks_seen: dict[str, int] = {}
        self._clients: set[str] = set()
        if not enabled:
            self.registry: CollectorRegistry | None = None
            return
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = registry = CollectorRegistry()
        self._requests = Counter(
            "appward_http_requests",
            "Requests answered, by route template, method and status.",
            ["route", "method", "status"],
            registry=registry,
        )
        self._latency = Histogram(
            "appward_http_request_duration_seconds",
            "Time from the request's arrival to its answer being sent, by route template.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self._tokens = Counter(
            "appward_tokens_issued",
            "Token responses issued, by grant type and client.",
            ["grant_type", "client_id"],
            registry=registry,
        )
        self._auth_failures = Counter(
            "appward_client_authentication_failures",
            "Client authentications refused, by reason.",
            ["reason"],
            registry=registry,
        )
        self._cache = Counter(
            "appward_cache_lookups",
            "Lookups in the in-process caches, by cache and result (hit, miss).",
            ["cache", "result"],
            registry=registry,
        )
        self._argon2 = Gauge(
            "appward_argon2_verifications",
            "argon2 verifications waiting for a slot, and running, by pool (clients, users).",
            ["pool", "state"],
            registry=registry,
            multiprocess_mode="livesum",
        )
        self._fallbacks = Counter(
            "appward_fallbacks",
            "Times a degraded mode was taken, by component.",
            ["component"],
            registry=registry,
        )

    def _child(self, family: Any, *labels: str) -> Any:
        key = (id(family), *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = family.labels(*labels)
        return child

    def _count(self, key: tuple[Any, ...], count: int = 1) -> None:
        # A dict update now; the counter's own (locked) increment once a second, by fold.
        self._pending[key] = self._pending.get(key, 0) + count

    def _client_label(self, client_id: str) -> str:
        if client_id not in self._clients:
            if len(self._clients) >= self.max_clients:
                return OTHER_CLIENTS
            self._clients.add(client_id)
        return client_id

    def fold(self) -> None:
        """Adds the counts gathered since the last fold to the counters (which the
        listener serves). Called on the event loop's thread, as the counting is."""
        if not self.enabled:
            return  # off: no counters exist (the lifespan folds at shutdown all the same)
        answers, self._answers = self._answers, {}
        for (route, method, status, grant_type, client_id), count in answers.items():
            # Only the methods routes answer: any other token a caller sends (behind an
            # h11 server any token parses) would be a new series each.
            method = method if method in KNOWN_METHODS else "other"
            self._child(self._requests, route, method, str(status)).inc(count)
            if grant_type is not None and client_id is not None:
                self._count((self._tokens, grant_type, self._client_label(client_id)), count)
        pending, self._pending = self._pending, {}
        for (family, *labels), count in pending.items():
            self._child(family, *labels).inc(count)
        latency, self._pending_latency = self._pending_latency, {}
        for route, observed in latency.items():
            _add_observations(self._child(self._latency, route), observed)
        self._fold_fallbacks()

    def _fold_fallbacks(self) -> None:
        # fallback.fallback_used counts where no metrics object reaches (a rate limiter,
        # the jti store): its counts are added here, by how much each grew.
        for kind, total in fallback_counts().items():
            grown = total - self._fallbacks_seen.get(kind, 0)
            if grown > 0:
                self._fallbacks_seen[kind] = total
                self._child(self._fallbacks, str(kind)).inc(grown)

    async def fold_every(self, interval: float = FOLD_INTERVAL) -> None:
        while True:
            await asyncio.sleep(interval)
            self.fold()

    def request(
        self,
        route: str,
        method: str,
        status: int,
        seconds: float,
        grant_type: str | None = None,
        client_id: str | None = None,
    ) -> None:
        """Counts one answered request and its latency, and the token it issued (for
        ``grant_type`` to ``client_id``) when it issued one."""
        if not self.enabled:
            return
        key = (route, method, status, grant_type, client_id)
        self._answers[key] = self._answers.get(key, 0) + 1
        observed = self._pending_latency.get(route)
        if observed is None:
            observed = self._pending_latency[route] = [0] * (len(LATENCY_BUCKETS) + 2)
        # The first bucket whose bound holds it (value <= bound, as observe counts), or +Inf.
        observed[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        observed[-1] += seconds

    def token_issued(self, grant_type: str, client_id: str) -> None:
        if self.enabled:
            self._count((self._tokens, grant_type, self._client_label(client_id)))

    def authentication_failed(self, reason: str) -> None:
        if self.enabled:
            self._count((self._auth_failures, reason))

    def cache_lookup(self, cache: str, hit: bool) -> None:
        if self.enabled:
            self._count((self._cache, cache, "hit" if hit else "miss"))

    def argon2_queue(self, pool: str, waiting: int, running: int) -> None:
        if self.enabled:
            self._child(self._argon2, pool, "waiting").set(waiting)
            self._child(self._argon2, pool, "running").set(running)

    def fallback(self, component: str) -> None:
        """Counts a degraded mode taken: ``component`` is a fixed name chosen by the
        caller ("replay", "invalidation", "rate_limit"), never an error's text."""
        if self.enabled:
            self._child(self._fallbacks, component).inc()

    def close(self) -> None:
        """Drops this process's live gauges from the shared directory (a stopping worker's
        queue must not count on)."""
        directory = os.environ.get(MULTIPROCESS_DIR)
        if self.enabled and directory:
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(os.getpid(), directory)  # type: ignore[no-untyped-call]


NO_METRICS = Metrics(enabled=False)


def _add_observations(histogram: Any, observed: list[float]) -> None:
    """Adds ``observed`` (counts per bucket, +Inf last, then their sum) to a histogram's
    child as that many ``observe`` calls would. prometheus_client has no call for many
    observations at once; its child keeps one value per bucket (not cumulative: the
    exposition adds them up) and one for the sum, which are increased directly."""
    *counts, total = observed
    histogram._sum.inc(total)
    for bucket, count in zip(histogram._buckets, counts, strict=True):
        if count:
            bucket.inc(count)


def scrape_registry(own: CollectorRegistry | None) -> CollectorRegistry:
    """Returns what the listener exposes: every worker's values when the multiprocess
    directory is set, else ``own`` (one process's registry)."""
    from prometheus_client import CollectorRegistry, multiprocess

    directory = os.environ.get(MULTIPROCESS_DIR)
    if directory:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
        return registry
    if own is None:
        raise ValueError("metrics are off: there is nothing to serve")
    return own


def serve_metrics(host: str, port: int, registry: CollectorRegistry) -> Callable[[], None]:
    """Serves ``registry`` in the Prometheus text format on ``host:port`` (any path), in a
    daemon thread; returns the function that stops it."""
    from prometheus_client import start_http_server

    server, thread = start_http_server(port, addr=host, registry=registry)

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return stop
