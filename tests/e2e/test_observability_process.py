"""`appward serve --workers 2` with metrics and the request log on: one listener adds up
both workers' metrics (prometheus multiprocess mode); the log is JSON; uvicorn's access
log is gone, and by default there is no request line at all."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from appward.config import Settings
from tests.e2e.conftest import free_port, serving

pytestmark = pytest.mark.e2e


def issued_to(port: int, client_id: str) -> float:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5.0).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "appward_tokens_issued_total"
        and sample.labels.get("client_id") == client_id
    )


def token(http: httpx.Client, admin: dict[str, Any]) -> httpx.Response:
    return http.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=(admin["client_id"], admin["client_secret"]),
    )


def test_one_listener_serves_both_workers_metrics_and_the_log_is_json(
    settings: Settings, workdir: Path
) -> None:
    port = free_port()
    env = {
        "APPWARD_METRICS_ENABLED": "true",
        "APPWARD_METRICS_PORT": str(port),
        "APPWARD_REQUEST_LOG": "true",
        "APPWARD_LOG_FORMAT": "json",
    }
    with serving(settings, workdir, env) as (base_url, admin):
        with httpx.Client(base_url=base_url, timeout=10.0) as http:
            # New connections: uvicorn's workers share the socket, so both answer some.
            ids = {token(http, admin).headers["x-request-id"] for _ in range(12)}
            assert len(ids) == 12
        deadline = time.monotonic() + 30  # a loaded machine folds late
        while issued_to(port, admin["client_id"]) < 12 and time.monotonic() < deadline:
            time.sleep(0.5)  # each worker folds its counts in once a second
        assert issued_to(port, admin["client_id"]) == 12
        time.sleep(0.5)  # the request lines are flushed within 0.2 s
        lines = (workdir / "server.log").read_text().splitlines()
    records = [json.loads(line) for line in lines if line.startswith("{")]
    requests = [r for r in records if r["logger"] == "appward.request"]
    assert {r["request_id"] for r in requests} >= ids
    assert all(r["route"] == "/oauth2/token" for r in requests if r["request_id"] in ids)
    assert not [line for line in lines if '"POST /oauth2/token' in line]  # uvicorn's access log


def test_default_serve_writes_no_line_per_request(
    server: tuple[str, dict[str, Any]], workdir: Path
) -> None:
    base_url, admin = server
    with httpx.Client(base_url=base_url, timeout=10.0) as http:
        for _ in range(3):
            assert token(http, admin).status_code == 200
    time.sleep(0.5)
    log = (workdir / "server.log").read_text()
    assert "/oauth2/token" not in log
