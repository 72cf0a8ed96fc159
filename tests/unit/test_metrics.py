"""The metrics' counts gathered between folds come out as prometheus_client's own would."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Histogram, generate_latest

from appward.metrics import LATENCY_BUCKETS, Metrics

# Both sides of every bound, a bound itself, zero, and past the last bound (+Inf).
SECONDS = [0.0, 0.0004, 0.001, 0.0011, 0.003, 0.01, 0.2, 2.5, 9.99, 10.0, 10.01, 120.0]


def samples(registry: CollectorRegistry, name: str) -> list[str]:
    text = generate_latest(registry).decode()
    # _created is when each child was made: it differs between any two registries.
    return [
        line
        for line in text.splitlines()
        if line.startswith(name) and not line.startswith(f"{name}_created")
    ]


def test_folded_latencies_match_observing_each_at_once():
    metrics = Metrics()
    for seconds in SECONDS:
        metrics.request("/oauth2/token", "POST", 200, seconds)
        metrics.request("/oauth2/token", "POST", 200, seconds)
    assert metrics.registry is not None
    assert samples(metrics.registry, "appward_http_request_duration_seconds_count") == []
    metrics.fold()

    reference = CollectorRegistry()
    histogram = Histogram(
        "appward_http_request_duration_seconds",
        "reference",
        ["route"],
        buckets=LATENCY_BUCKETS,
        registry=reference,
    )
    for seconds in SECONDS * 2:
        histogram.labels("/oauth2/token").observe(seconds)
    name = "appward_http_request_duration_seconds"
    assert samples(metrics.registry, name) == samples(reference, name)
    metrics.fold()  # nothing new: nothing added twice
    assert samples(metrics.registry, name) == samples(reference, name)


def test_requests_are_counted_per_route_template_method_and_status():
    metrics = Metrics()
    metrics.request("/oauth2/token", "POST", 200, 0.001)
    metrics.request("/oauth2/token", "BREW", 400, 0.001)
    metrics.fold()
    assert metrics.registry is not None
    lines = samples(metrics.registry, "appward_http_requests_total")
    assert (
        'appward_http_requests_total{method="POST",route="/oauth2/token",status="200"} 1.0' in lines
    )
    assert (
        'appward_http_requests_total{method="other",route="/oauth2/token",status="400"} 1.0'
        in lines
    )
