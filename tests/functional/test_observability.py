"""Metrics scraped over HTTP from their own listener after real requests, and the
structured request log, on both databases."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from appward.clock import FrozenClock
from appward.config import Settings
from appward.logs import APP_LOGGER, configure_logging
from tests.factories import SERVICE
from tests.functional.conftest import Api, open_api
from tests.log_capture import CapturedLog

pytestmark = pytest.mark.anyio


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@asynccontextmanager
async def observed(settings: Settings, clock: FrozenClock, **overrides: Any) -> AsyncIterator[Api]:
    configured = Settings(**{**settings.model_dump(), **overrides})
    async with open_api(configured, clock) as api:
        yield api


async def scrape(port: int) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample the listener on ``port`` serves, by name and labels, once the counts
    of the requests made so far are folded in (at most a second: metrics.FOLD_INTERVAL)."""
    await asyncio.sleep(1.5)
    async with httpx.AsyncClient() as http:
        response = await http.get(f"http://127.0.0.1:{port}/metrics", timeout=5.0)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture
def captured_log() -> Iterator[io.StringIO]:
    """Appward's log lines as the configured format writes them, at DEBUG."""
    logger = logging.getLogger(APP_LOGGER)
    saved = (list(logger.handlers), logger.level, logger.propagate)
    stream = CapturedLog()
    configure_logging("json", "DEBUG", stream, replace=True)
    try:
        yield stream
    finally:
        logger.handlers[:] = saved[0]
        logger.setLevel(saved[1])
        logger.propagate = saved[2]


def json_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line]


async def new_service(api: Api) -> tuple[str, str]:
    created = await api.post("/admin/v1/clients", SERVICE)
    assert created.status_code == 201, created.text
    return created.json()["client_id"], created.json()["client_secret"]


async def test_metrics_are_off_by_default(settings: Settings, clock: FrozenClock) -> None:
    port = free_port()
    async with observed(settings, clock, metrics_port=port) as api:
        assert (await api.client_credentials(api.admin_id, api.admin_secret)).status_code == 200
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2.0)


async def test_metrics_count_requests_tokens_failures_and_cache_hits(
    settings: Settings, clock: FrozenClock
) -> None:
    port = free_port()
    async with observed(settings, clock, metrics_enabled=True, metrics_port=port) as api:
        client_id, secret = await new_service(api)
        for _ in range(2):  # an argon2 run, then the credential cache
            assert (await api.client_credentials(client_id, secret)).status_code == 200
        wrong = await api.client_credentials(client_id, secret[:-2] + "xx")
        assert wrong.status_code == 401
        unknown = await api.client_credentials("nobody-at-all", secret)
        assert unknown.status_code == 401
        malformed = await api.http.post(
            "/oauth2/token",
            data={"grant_type": "client_credentials"},
            headers={"Authorization": "Basic !!!"},
        )
        assert malformed.status_code == 401
        shown = await api.get(f"/admin/v1/clients/{client_id}")
        assert shown.status_code == 200
        assert (await api.http.get(f"/no/such/{client_id}")).status_code == 404

        samples = await scrape(port)

    token_route = {"route": "/oauth2/token", "method": "POST"}
    # The admin's token in open_api, and two of the service's.
    assert value(samples, "appward_http_requests_total", **token_route, status="200") == 3
    assert value(samples, "appward_http_requests_total", **token_route, status="401") == 3
    assert (
        value(
            samples,
            "appward_http_requests_total",
            route="/admin/v1/clients/{client_id}",
            method="GET",
            status="200",
        )
        == 1
    )
    assert value(
        samples, "appward_http_requests_total", route="unmatched", method="GET", status="404"
    )
    # The route is the template: no client id (nor any path a caller sent) is a label.
    labels = {v for (_, pairs) in samples for k, v in pairs if k == "route"}
    assert not any(client_id in route for route in labels)
    assert value(samples, "appward_http_request_duration_seconds_count", route="/oauth2/token") == 6
    issued = "appward_tokens_issued_total"
    assert value(samples, issued, grant_type="client_credentials", client_id=client_id) == 2
    assert value(samples, issued, grant_type="client_credentials", client_id=api.admin_id) == 1
    failures = "appward_client_authentication_failures_total"
    assert value(samples, failures, reason="invalid_secret") == 1
    assert value(samples, failures, reason="unknown_client") == 1
    assert value(samples, failures, reason="malformed") == 1
    lookups = "appward_cache_lookups_total"
    assert value(samples, lookups, cache="credentials", result="hit") == 1
    # The admin's first token, the service's first, the wrong secret, the unknown client.
    assert value(samples, lookups, cache="credentials", result="miss") == 4
    # The argon2 queue is back to empty once every verification is done.
    assert (
        "appward_argon2_verifications",
        frozenset({("pool", "clients"), ("state", "running")}),
    ) in samples
    assert value(samples, "appward_argon2_verifications", pool="clients", state="running") == 0
    assert value(samples, "appward_argon2_verifications", pool="clients", state="waiting") == 0


async def test_tokens_of_clients_beyond_the_cap_count_as_other(
    settings: Settings, clock: FrozenClock
) -> None:
    port = free_port()
    overrides = {"metrics_enabled": True, "metrics_port": port, "metrics_max_clients": 1}
    async with observed(settings, clock, **overrides) as api:
        client_id, secret = await new_service(api)
        assert (await api.client_credentials(client_id, secret)).status_code == 200
        samples = await scrape(port)
    issued = "appward_tokens_issued_total"
    assert value(samples, issued, grant_type="client_credentials", client_id=api.admin_id) == 1
    assert value(samples, issued, grant_type="client_credentials", client_id="other") == 1
    assert value(samples, issued, grant_type="client_credentials", client_id=client_id) == 0


async def test_request_log_is_one_json_line_per_request_without_path_values_or_query(
    settings: Settings, clock: FrozenClock, captured_log: io.StringIO
) -> None:
    async with observed(settings, clock, request_log=True) as api:
        client_id, secret = await new_service(api)
        issued = await api.client_credentials(client_id, secret)
        refused = await api.client_credentials(client_id, "apwcs_" + "x" * 43)
        shown = await api.get(f"/admin/v1/clients/{client_id}")
        page = await api.http.get(
            "/oauth2/authorize", params={"client_id": client_id, "state": "state-q7Xv2"}
        )
    assert page.status_code < 500
    lines = [line for line in json_lines(captured_log) if line["logger"] == "appward.request"]
    by_id = {line["request_id"]: line for line in lines}

    ok = by_id[issued.headers["x-request-id"]]
    assert ok["level"] == "INFO"
    assert {k: ok[k] for k in ("method", "route", "status", "client_id")} == {
        "method": "POST",
        "route": "/oauth2/token",
        "status": 200,
        "client_id": client_id,
    }
    assert isinstance(ok["duration_ms"], float)
    assert ok["duration_ms"] >= 0
    assert "error" not in ok

    failed = by_id[refused.headers["x-request-id"]]
    assert failed["status"] == 401
    assert failed["error"] == "invalid_client"
    assert "client_id" not in failed  # presented, never proven

    admin = by_id[shown.headers["x-request-id"]]
    assert admin["route"] == "/admin/v1/clients/{client_id}"
    assert admin["client_id"] == api.admin_id  # the admin that called, from its bearer

    authorize = by_id[page.headers["x-request-id"]]
    assert authorize["route"] == "/oauth2/authorize"
    text = captured_log.getvalue()
    assert "state-q7Xv2" not in text
    assert secret not in text


async def test_no_request_log_by_default(
    settings: Settings, clock: FrozenClock, captured_log: io.StringIO
) -> None:
    async with observed(settings, clock) as api:
        assert (await api.client_credentials(api.admin_id, api.admin_secret)).status_code == 200
        refused = await api.client_credentials(api.admin_id, "apwcs_" + "x" * 43)
    lines = json_lines(captured_log)
    assert not [line for line in lines if line["logger"] == "appward.request"]
    # A refusal's detail is still logged, now as JSON with its request id.
    [detail] = [line for line in lines if line.get("request_id") == refused.headers["x-request-id"]]
    assert detail["logger"] == "appward.web"
    assert detail["error"] == "invalid_client"
    assert detail["status"] == 401


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)  # the outage is Redis's
async def test_a_redis_fallback_is_counted_in_the_metrics(settings, clock):
    """A rate limit that cannot reach Redis counts in this process (fallback.py), and the
    metrics say so: appward_fallbacks_total{component="rate_limit"} grows."""
    port = free_port()
    async with observed(
        settings,
        clock,
        metrics_enabled=True,
        metrics_port=port,
        redis_url="redis://127.0.0.1:1/0",
    ) as api:
        before = value(await scrape(port), "appward_fallbacks_total", component="rate_limit")
        registered = await api.http.post("/oauth2/register", json={"client_name": "x"})
        assert registered.status_code < 500, registered.text
        after = value(await scrape(port), "appward_fallbacks_total", component="rate_limit")
    assert after > before
